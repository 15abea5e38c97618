"""Off-policy evaluation of a candidate pack: an edge, like cli/worker.py (it opens
the store or reads a log, then calls engine.learning.evaluation).

    python -m engine evaluate --pack CANDIDATE --log FILE.jsonl [--json]
    python -m engine evaluate --pack CANDIDATE --from-store [--store-url URL] [--reward clicked]

A log has one JSON object per line: contact_id, channel, at (ISO 8601),
action, probability (of the logged choice; 1 if omitted), reward (a number),
and optionally placement, profile, consents, context. ``--from-store`` reads
every recorded decision of the store (NBA_STORE_URL by default): the logged
probability is the one recorded with the entry (1 for a deterministic choice),
the reward is 1 when the entry has the ``--reward`` outcome (default: the
candidate's learning success, else converted), and the contact is its stored
profile now (not as it was when the decision was made).

Exit codes: 0 estimates printed, 1 too little support or an unusable log, 2 usage.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from api.config import ConfigurationError, load_config
from engine.errors import EngineError, InvalidPack
from engine.language.compiler import load_pack
from engine.learning.evaluation import Evaluation, LoggedDecision, evaluate
from store import store_from_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine evaluate",
                                     description="estimate what a candidate pack would have "
                                                 "earned on logged decisions")
    parser.add_argument("--pack", required=True, help="the candidate pack (YAML)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", type=Path, help="logged decisions, one JSON object per line")
    source.add_argument("--from-store", action="store_true",
                        help="every decision recorded in the store")
    parser.add_argument("--store-url", help="the store to read (default NBA_STORE_URL)")
    parser.add_argument("--reward", help="the outcome that counts as a reward (--from-store)")
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    args = parser.parse_args(argv)
    try:
        plan = load_pack(args.pack)
    except InvalidPack as exc:
        print(f"error: the candidate pack is invalid:\n{exc}", file=sys.stderr)
        return 1
    try:
        logged = list(_from_log(args.log) if args.log else _from_store(args, plan))
        result = evaluate(plan, logged)
    except (OSError, ValueError, EngineError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(_as_json(result), indent=2) if args.json else _as_text(result))
    return 1 if result.support.warnings else 0


def _from_log(path: Path) -> Iterator[LoggedDecision]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield _logged(line, f"{path}:{number}")


def _logged(line: str, where: str) -> LoggedDecision:
    try:
        raw = json.loads(line)
        at = datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError("'at' needs a timezone")
        return LoggedDecision(str(raw["contact_id"]), str(raw["channel"]), at,
                              str(raw["action"]), float(raw.get("probability", 1.0)),
                              float(raw["reward"]), raw.get("placement"),
                              _mapping(raw, "profile"), _mapping(raw, "consents"),
                              _mapping(raw, "context"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a logged decision ({exc!s}); expected contact_id, "
                         "channel, at, action, probability, reward") from exc


def _mapping(raw: dict, key: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object")
    return value


def _from_store(args, plan) -> Iterator[LoggedDecision]:
    url = args.store_url or load_config()["NBA_STORE_URL"]
    store = store_from_url(url)
    reward = args.reward or (plan.learning.success if plan.learning else "converted")
    try:
        for contact_id in store.contact_ids():
            snapshot = store.load(contact_id)
            for entry in snapshot.history:
                earned = next((o for o in entry.outcomes if o.outcome == reward), None)
                value = 0.0 if earned is None else (
                    1.0 if earned.value is None else float(earned.value))
                yield LoggedDecision(contact_id, entry.channel, entry.at, entry.action_id,
                                     entry.probability or 1.0, value, entry.placement,
                                     snapshot.profile, snapshot.consents)
    finally:
        store.close()


def _as_json(result: Evaluation) -> dict[str, Any]:
    return {"rounds": result.rounds, "logged_value": result.logged_value,
            "agreement": result.agreement,
            "estimates": [{"estimator": e.estimator, "value": e.value, "low": e.low,
                           "high": e.high} for e in result.estimates],
            "effective_rounds": result.support.effective_rounds,
            "max_weight": result.support.max_weight,
            "warnings": list(result.support.warnings)}


def _as_text(result: Evaluation) -> str:
    lines = [f"{result.rounds} logged decisions; the serving policy earned "
             f"{result.logged_value:.5g} per decision; the candidate agrees on "
             f"{result.agreement:.1%} of them",
             f"{'estimator':<10} {'value':>10} {'95 % interval':>26}"]
    for estimate in result.estimates:
        lines.append(f"{estimate.estimator:<10} {estimate.value:>10.5g} "
                     f"[{estimate.low:>10.5g}, {estimate.high:>10.5g}]")
    lines.append(f"effective sample {result.support.effective_rounds:.0f} of "
                 f"{result.rounds}, largest weight {result.support.max_weight:.3g}")
    lines += [f"warning: {w}" for w in result.support.warnings]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
