"""What ROI report counters cost: the recorder in the deciding process, and a
report over many contacts read from the daily counters (never histories).

    .venv/bin/python benchmarks/reports.py                 # 1,000,000 contacts
    .venv/bin/python benchmarks/reports.py --contacts 100000

C contacts each get one message (one of the retail pack's actions, on a day of
a 30-day month; 5 % convert with a value, 0.5 % unsubscribe), fed to a
``ReportRecorder`` (flushing every second) on SQLite and on a throwaway Redis.
It prints the recorder's cost per recorded message and outcome (in-process
buffering plus the batches it sent), the store's size, and the time of the
report over the month (median of 3 reads; distinct contacts exact on SQLite,
HyperLogLog on Redis).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from engine.language.compiler import load_pack  # noqa: E402
from engine.model import DecisionRequest, HistoryEntry, OutcomeRecorded, OutcomeReport  # noqa: E402
from engine.reports.recorder import ReportRecorder  # noqa: E402
from engine.reports.report import read_report, report_range  # noqa: E402
from store import reports_from_url  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def feed(recorder: ReportRecorder, plan, contacts: int, seed: int = 7) -> tuple[float, int]:
    """Every contact's message and outcomes through the recorder; seconds, events."""
    rng = random.Random(seed)
    rows = [(a, c) for a in plan.actions for c in a.channels if not plan.channels[c].inbound]
    events = 0
    started = time.perf_counter()
    for number in range(contacts):
        action, channel = rows[rng.randrange(len(rows))]
        at = START + timedelta(days=rng.randrange(30), minutes=rng.randrange(600))
        entry = HistoryEntry(f"d{number}", action.id, action.program, action.kind, channel, at)
        recorder.decision_recorded(plan, DecisionRequest(f"c{number}", channel, at), (entry,))
        events += 1
        draw = rng.random()
        outcome = "converted" if draw < 0.05 else "unsubscribed" if draw < 0.055 else None
        if outcome:
            report = OutcomeReport(entry.decision_id, action.id, outcome, at,
                                   round(rng.uniform(20, 200), 2) if outcome == "converted"
                                   else None)
            recorder.outcome_recorded(plan, OutcomeRecorded(f"c{number}", entry, False), report)
            events += 1
    recorder.flush()
    return time.perf_counter() - started, events


def measure(name: str, url: str, plan, contacts: int, size) -> None:
    store = reports_from_url(url, {"timeout_ms": 5000} if url.startswith("redis") else None)
    seconds, events = feed(ReportRecorder(store, flush_s=1.0), plan, contacts)
    period = report_range(date(2026, 11, 1), date(2026, 12, 1))
    reads = []
    for _ in range(3):
        started = time.perf_counter()
        report = read_report(plan, store, period)
        reads.append(time.perf_counter() - started)
    store.close()
    totals = report["totals"]
    print(f"{name}: {contacts:,} contacts, {events:,} recorded events in {seconds:.1f} s "
          f"({seconds / events * 1e6:.1f} us per event, batches included); store "
          f"{size() / 1e6:.1f} MB; report over 30 days: {statistics.median(reads):.3f} s "
          f"(median of 3), {len(report['programs'])} programs, {totals['messages']:,} "
          f"messages, contacts {report['contacts_method']}: "
          f"{sum(p['contacts'] or 0 for p in report['programs']):,}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    plan = load_pack(ROOT / "rules" / "retail.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nba.db"
        measure("sqlite", f"sqlite:///{path}", plan, args.contacts,
                lambda: sum(os.path.getsize(p) for p in Path(tmp).glob("nba.db*")))
    server = RedisServer().start()
    try:
        def used() -> float:
            info = server.cli("INFO", "memory")
            return float(next(line.split(":")[1] for line in info.splitlines()
                              if line.startswith("used_memory:")))
        baseline = used()
        measure("redis", server.url, plan, args.contacts, lambda: used() - baseline)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
