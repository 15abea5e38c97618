"""ROI reports from the command line: an edge, like cli/worker.py (it opens the store).

    python -m engine report programs [--from YYYY-MM-DD] [--to YYYY-MM-DD]
        [--store-url URL] [--pack FILE] [--plot FILE.png] [--json]

It reads the daily counters the API and the journey worker keep (NBA_STORE_URL
unless --store-url) and values outcomes at the ``costs:`` of --pack (NBA_PACK by
default). A running process adds its counters every NBA_REPORTS_FLUSH_S seconds
(and at exit): the last second or so of a busy worker may be missing.
``--plot`` draws net value per program per week (needs matplotlib). Each
program's incremental revenue against its holdout comes from the experiments'
daily counters in the same store (engine.learning.incremental), through the same
``read_report`` as GET /v1/reports/programs.

    python -m engine report experiments [ID ...] [--store-url URL] [--pack FILE] [--json]

Per experiment of --pack and arm: units, conversions, the rate with its 95 %
interval, revenue, unsubscriptions, complaints, and the lift against the
baseline with its interval (engine.learning.experiment_report).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from api.config import ConfigurationError, load_config
from engine.errors import EngineError, InvalidPack
from engine.language.compiler import load_pack
from engine.learning.experiment_report import report_of
from engine.reports.report import InvalidRange, default_range, read_report
from engine.reports.text import report_table
from engine.timeutil import UTC
from store import experiments_from_url, journeys_from_url, reports_from_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine report",
                                     description="ROI reports from the daily counters")
    kinds = parser.add_subparsers(dest="kind", required=True)
    programs = kinds.add_parser("programs", help="per program, action and channel: cost, "
                                                 "revenue, churn, net value, ROI")
    programs.add_argument("--from", dest="start", type=_day, help="first day (default: 28 "
                                                                  "days before --to)")
    programs.add_argument("--to", dest="end", type=_day, help="the day after the last "
                                                              "(default: tomorrow)")
    programs.add_argument("--store-url", help="the store (default: NBA_STORE_URL)")
    programs.add_argument("--pack", help="the pack whose costs: value outcomes (default: "
                                         "NBA_PACK)")
    programs.add_argument("--plot", type=Path, help="draw net value per program per week "
                                                    "to a PNG")
    programs.add_argument("--json", action="store_true", help="print the report as JSON")
    experiments = kinds.add_parser("experiments", help="per experiment and arm: conversions "
                                                       "with intervals, lift")
    experiments.add_argument("ids", nargs="*", help="experiment ids (default: all)")
    experiments.add_argument("--store-url", help="the store (default: NBA_STORE_URL)")
    experiments.add_argument("--pack", help="the pack declaring them (default: NBA_PACK)")
    experiments.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args(argv)
    if args.kind == "experiments":
        try:
            reports = _experiments(args)
        except (ConfigurationError, InvalidPack, EngineError, ValueError) as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(reports, indent=2) if args.json else experiments_table(reports))
        return 0
    try:
        report = _report(args)
    except (ConfigurationError, InvalidPack, EngineError, InvalidRange, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else report_table(report))
    return plot(report, args.plot) if args.plot else 0


def _experiments(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = load_config()
    plan = load_pack(args.pack or settings["NBA_PACK"])
    chosen = [e for e in plan.experiments if not args.ids or e.id in args.ids]
    unknown = set(args.ids) - {e.id for e in plan.experiments}
    if unknown:
        raise ValueError(f"no experiment {', '.join(sorted(unknown))} in {plan.name}; "
                         f"experiments: {', '.join(e.id for e in plan.experiments) or 'none'}")
    url = args.store_url or settings["NBA_STORE_URL"]
    members, journeys = experiments_from_url(url), journeys_from_url(url)
    try:
        return [report_of(plan, e, members.arms(e.id),
                          journeys.journey_counts(e.journey) if e.kind == "split" else None)
                for e in chosen]
    finally:
        members.close()
        journeys.close()


def experiments_table(reports: list[dict[str, Any]]) -> str:
    lines = []
    for report in reports:
        winner = f", winner {report['winner']}" if report["winner"] else ""
        lines.append(f"{report['id']} ({report['kind']}, per {report['unit']}, baseline "
                     f"{report['baseline']}{winner})")
        lines.append(f"  {'arm':<14} {'units':>7} {'conv.':>6} {'rate':>8} {'95 %':>17} "
                     f"{'revenue':>9} {'unsub.':>6} {'lift':>8} {'95 %':>19}")
        for arm in report["arms"]:
            lift = "" if arm["lift"] is None else f"{arm['lift']:+.4f}"
            mark = "*" if arm["significant"] else ""
            band = "" if arm["lift"] is None else \
                f"[{arm['lift_low']:+.4f}, {arm['lift_high']:+.4f}]{mark}"
            lines.append(f"  {arm['arm']:<14} {arm['units']:>7} {arm['conversions']:>6} "
                         f"{arm['rate']:>8.4f} [{arm['rate_low']:.4f}, {arm['rate_high']:.4f}] "
                         f"{arm['revenue']:>9.2f} {arm['unsubscribed']:>6} {lift:>8} {band:>19}")
    lines.append("* the 95 % interval of the lift excludes 0")
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_config()
    plan = load_pack(args.pack or settings["NBA_PACK"])
    period = default_range(datetime.now(UTC).astimezone(plan.tz).date(), args.start, args.end)
    url = args.store_url or settings["NBA_STORE_URL"]
    options = {"timeout_ms": settings["NBA_REPORTS_READ_TIMEOUT_MS"]}
    store, members = reports_from_url(url, options), experiments_from_url(url, options)
    try:
        return read_report(plan, store, period, members)
    finally:
        store.close()
        members.close()


def plot(report: dict[str, Any], path: Path) -> int:
    """Net value per program per week, one line per program, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        print("report: --plot needs matplotlib (.venv/bin/pip install matplotlib)",
              file=sys.stderr)
        return 2
    weeks = sorted({w["week"] for w in report["weeks"]})
    figure, axes = pyplot.subplots(figsize=(10, 5))
    for program in sorted({w["program"] for w in report["weeks"]}):
        values = {w["week"]: w["net_value"] for w in report["weeks"] if w["program"] == program}
        axes.plot([date.fromisoformat(w) for w in weeks], [values[w] for w in weeks],
                  marker="o", label=program)
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_title(f"net value per program per week, {report['pack']} "
                   f"({report['from']} to {report['to']})")
    axes.set_xlabel("week starting on Monday (the first and last may be partial)")
    axes.set_ylabel("revenue - cost - valued churn")
    if weeks:
        axes.legend(fontsize="small")
    figure.autofmt_xdate()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    print(f"plot written to {path}", file=sys.stderr)
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from exc


if __name__ == "__main__":
    sys.exit(main())
