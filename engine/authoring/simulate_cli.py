"""``python -m engine simulate``: a population through a pack, day by day.

    python -m engine simulate PACK --contacts FILE.jsonl|FILE.csv --days 30
        [--start 2026-11-01] [--against OTHER_PACK] [--plot volumes.png] [--json]
    python -m engine simulate PACK --from-store [STORE_URL] [--limit N] ...

``--from-store`` takes the population from the contacts stored in the service's
store (``STORE_URL``, default ``NBA_STORE_URL`` or ``sqlite:///var/nba.db``):
their profiles and consents (not their history), at most ``--limit`` of them,
in id order; the store is only read.

Prints, per action and channel, the messages sent, the pressure and
suppression hits per rule, and the contacts who got nothing; with
``--against``, the same population through the other pack and the
differences. ``--plot`` draws messages per day per channel (needs matplotlib).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from engine.authoring.population import InvalidPopulation, read_population
from engine.authoring.simulate import SimulationReport, compare, simulate
from engine.backends import BACKENDS, backend_from_name
from engine.errors import InvalidPack
from engine.language.compiler import load_pack
from engine.timeutil import UTC

BAR = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pack")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--contacts", type=Path,
                        help="the population: JSON Lines (.jsonl) or CSV (.csv)")
    source.add_argument("--from-store", nargs="?", const="", metavar="STORE_URL",
                        help="the population: the contacts of the store (default "
                             "NBA_STORE_URL, else sqlite:///var/nba.db)")
    parser.add_argument("--limit", type=int, default=100_000,
                        help="with --from-store: at most this many contacts (in id order)")
    parser.add_argument("--days", type=int, default=30, help="days to simulate (1 to 366)")
    parser.add_argument("--start", help="first day (ISO date or date-time; default today)")
    parser.add_argument("--against", help="another pack to run the same population through")
    parser.add_argument("--plot", type=Path, help="draw messages per day per channel to a PNG")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--engine", choices=BACKENDS, default="compiled")


def run(args: argparse.Namespace,
        stored: Callable[[str, int], list] | None = None) -> int:
    """Exit 0 with the report, 1 for an invalid pack, 2 for bad arguments or contacts,
    3 when the store cannot be read. ``stored(url, limit)``: the stored contacts."""
    try:
        contacts = _population(args.contacts) if args.contacts else None
        start = _start(args.start)
        if not 1 <= args.days <= 366:
            raise ValueError("--days is 1 to 366")
        plan = load_pack(args.pack)
        other = load_pack(args.against) if args.against else None
    except InvalidPack as exc:
        print(f"INVALID pack\n{exc}", file=sys.stderr)
        return 1
    except (InvalidPopulation, ValueError, OSError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if contacts is None:
        contacts = _from_store(args, stored)
        if isinstance(contacts, int):
            return contacts
    report = simulate(plan, contacts, args.days, start, backend_from_name(args.engine),
                      _progress(args.pack))
    answer: dict[str, Any] = report.as_dict()
    if other is not None:
        against = simulate(other, contacts, args.days, start, backend_from_name(args.engine),
                           _progress(args.against))
        answer["comparison"] = compare(report, against)
    print(json.dumps(answer, indent=2) if args.json else _text(report, answer))
    if args.plot:
        return plot(report, args.plot)
    return 0


def _from_store(args: argparse.Namespace, stored: Callable[[str, int], list] | None):
    """The stored contacts, or an exit status."""
    url = args.from_store or os.environ.get("NBA_STORE_URL") or "sqlite:///var/nba.db"
    if stored is None or not 1 <= args.limit <= 1_000_000:
        print("simulate: --limit is 1 to 1000000", file=sys.stderr)
        return 2
    try:
        contacts = stored(url, args.limit)
    except ValueError as exc:  # an unknown store URL
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the store could not be read: say so, no traceback
        print(f"simulate: cannot read the contacts of {url}: {exc}", file=sys.stderr)
        return 3
    if not contacts:
        print(f"simulate: the store {url} holds no contact", file=sys.stderr)
        return 2
    print(f"{len(contacts)} contacts read from {url}", file=sys.stderr)
    return contacts


def _population(path: Path):
    kind = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    return read_population(path.read_text(encoding="utf-8"), kind)


def _start(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _progress(name: str):
    def show(done: int, total: int) -> None:
        filled = BAR * done // total
        print(f"\r{name}: [{'#' * filled}{' ' * (BAR - filled)}] day {done}/{total}",
              end="\n" if done == total else "", file=sys.stderr, flush=True)
    return show


def _text(report: SimulationReport, answer: dict[str, Any]) -> str:
    lines = [f"pack {report.name} ({report.pack}): {report.contacts} contacts, {report.days} days from "
             f"{report.start.date()}, {report.decisions} decisions"]
    lines.append("messages per action and channel:")
    lines += [f"  {row['action']:<32} {row['channel']:<8} {row['messages']:>7}"
              for row in answer["sent"]] or ["  none"]
    lines.append("per channel: " + (", ".join(f"{c} {n}" for c, n in
                                             answer["per_channel"].items()) or "none"))
    for title, key in (("pressure hits", "pressure_hits"), ("suppression hits",
                                                            "suppression_hits")):
        hits = answer[key]
        lines.append(f"{title}: " + (", ".join(f"{r} {n}" for r, n in hits.items()) or "none"))
    lines.append(f"contacts who got nothing: {report.nothing} of {report.contacts}")
    if "comparison" in answer:
        lines.append(f"against {answer['comparison']['against']} (this pack - the other):")
        lines += [f"  {row['action']:<32} {row['channel']:<8} {row['messages']:>7} "
                  f"{row['against']:>7} {row['difference']:>+7}"
                  for row in answer["comparison"]["sent"]]
    return "\n".join(lines)


def plot(report: SimulationReport, path: Path) -> int:
    """Messages per day per channel, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        print("simulate: --plot needs matplotlib (.venv/bin/pip install matplotlib)",
              file=sys.stderr)
        return 2
    days = sorted(report.per_day)
    channels = sorted({c for counts in report.per_day.values() for c in counts})
    figure, axes = pyplot.subplots(figsize=(10, 4))
    for channel in channels:
        axes.plot(days, [report.per_day[d][channel] for d in days], label=channel)
    axes.set_title(f"messages per day per channel, {report.name} ({report.pack})")
    axes.set_ylabel("messages")
    axes.legend()
    figure.autofmt_xdate()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    print(f"plot written to {path}", file=sys.stderr)
    return 0
