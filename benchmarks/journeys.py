"""What journeys cost on Redis: memory per waiting run, worker steps per second
with 1 and 2 worker processes, the due-queue lag, and whether the cost of a
due step grows with the number of waiting runs.

    .venv/bin/python benchmarks/journeys.py                     # 10,000 and 100,000 waiting runs
    .venv/bin/python benchmarks/journeys.py --sizes 10000 100000 1000000
    .venv/bin/python benchmarks/journeys.py --quick             # a smoke run

It starts its own redis-server on a free loopback port. For each size N:

1. N waiting runs (each a run in a wait step, due 30 days later, with its
   timer), written through RedisJourneyStore.commit; ``used_memory`` growth
   divided by N is the memory per waiting run.
2. D contacts abandon a cart (tests/packs/journeys.yaml) an hour before T; then
   ``python -m engine worker --once --now T`` (real processes: 1, then 2 at
   once sharing the due steps) executes the D reminder steps: each a real
   decision (load, decide, reserve) and a queued message. Steps per second
   (all processes together) = D / (wall time - the start-up time of an idle
   worker, measured the same way). The lag: every step is due at T when the workers start, so
   the last one waits the whole drain time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(ROOT)

from benchmarks.summary import emit  # noqa: E402
from engine.journeys.model import ContactEvent, DueTimer, Run, RunChange, RunUpdate  # noqa: E402
from engine.journeys.runner import JourneyService  # noqa: E402
from engine.language.compiler import load_pack  # noqa: E402
from engine.model import ContactRecord  # noqa: E402
from engine.service import ActivePack, DecisionService  # noqa: E402
from store.redis.contacts import RedisStore  # noqa: E402
from store.redis.journeys import RedisJourneyStore  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

PACK = ROOT / "tests" / "packs" / "journeys.yaml"
T = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def used_memory(server: RedisServer) -> int:
    for line in server.cli("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO")


def waiting_run(number: int) -> Run:
    contact = f"w{number:07d}"
    due = T + timedelta(days=30, seconds=number % 86_400)
    # As the machine leaves a welcome run waiting 3 days for its second email.
    return Run(f"welcome.{number:012x}", "welcome", contact, "tips_after_3d", "active", 3,
               T, T + timedelta(minutes=1), due, pack_hash="sha256:0123456789abcdef",
               decision_id=f"welcome.{number:012x}.1", message_id=f"welcome.{number:012x}.1",
               channel="email", branches={"split": "b"})


def seed_waiting(journeys: RedisJourneyStore, count: int) -> None:
    for number in range(count):
        run = waiting_run(number)
        journeys.commit(RunChange(run.contact_id, runs=(RunUpdate(run, None),),
                                  timers=(DueTimer(run.contact_id, run.timer_key, run.due_at),)))


def seed_due(url: str, prefix: str, count: int) -> None:
    contacts, journeys = RedisStore(url, timeout_ms=2000), RedisJourneyStore(url, timeout_ms=2000)
    service = JourneyService(DecisionService(contacts, ActivePack(load_pack(PACK)),
                                             events=journeys), journeys)
    for number in range(count):
        contact = f"{prefix}{number:06d}"
        contacts.put_contact(ContactRecord(contact, {}, {"email": True, "sms": True}))
        service.ingest(ContactEvent(f"cart-{contact}", contact, "cart_abandoned",
                                    T - timedelta(hours=1), {"cart_value": 80}))
    contacts.close()
    journeys.close()


def workers(url: str, processes: int, now: datetime = T) -> float:
    """Wall time for ``processes`` concurrent ``worker --once --now`` runs."""
    env = {**os.environ, "NBA_STORE_URL": url, "NBA_PACK": str(PACK),
           "NBA_LOG_LEVEL": "WARNING", "NBA_REDIS_TIMEOUT_MS": "2000"}
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-m", "engine", "worker", "--once", "--now",
                                 now.isoformat(), "--limit", "200"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(processes)]
    for process in running:
        _, err = process.communicate(timeout=3600)
        if process.returncode != 0:
            raise RuntimeError(f"worker failed: {err}")
    return time.perf_counter() - started


def memory_per_run(server: RedisServer, size: int) -> float:
    server.cli("FLUSHALL")
    journeys = RedisJourneyStore(server.url, timeout_ms=2000)
    before = used_memory(server)
    seed_waiting(journeys, size)
    journeys.close()
    return (used_memory(server) - before) / size


def measure(server: RedisServer, size: int, due: int, rounds: int) -> dict[str, float]:
    per_run = memory_per_run(server, size)
    journeys = RedisJourneyStore(server.url, timeout_ms=2000)
    idle = statistics.median(workers(server.url, 1, T - timedelta(days=1)) for _ in range(3))
    one, two = [], []
    for round_ in range(rounds):
        seed_due(server.url, f"a{round_}-", due)
        one.append(due / max(workers(server.url, 1) - idle, 1e-9))
        seed_due(server.url, f"b{round_}-", due)
        elapsed = workers(server.url, 2)
        two.append(due / max(elapsed - idle, 1e-9))
    journeys.close()
    return {"size": size, "bytes_per_run": per_run, "idle_s": idle,
            "one": statistics.median(one), "two": statistics.median(two),
            "lag_one": due / statistics.median(one) + idle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, default=1000, help="due steps per measure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.due, args.rounds = [2000], 200, 1
    server = RedisServer("--save", "", "--appendonly", "no").start()
    # The same data with larger listpack hashes, for comparison: a run whose compact
    # form (engine/journeys/codec.py) is over the default 64-byte
    # hash-max-listpack-value turns its contact's hash into a table.
    packed = RedisServer("--save", "", "--appendonly", "no",
                         "--hash-max-listpack-value", "1024").start()
    try:
        print(f"{'waiting runs':>12} | {'bytes/run':>9} | {'bytes/run, listpack 1024':>24} | "
              f"{'steps/s 1 worker':>16} | {'steps/s 2 workers':>17} | "
              f"{'drain of ' + str(args.due) + ' due (1 worker)':>24}")
        for size in args.sizes:
            found = measure(server, size, args.due, args.rounds)
            compact = memory_per_run(packed, size)
            packed.cli("FLUSHALL")
            print(f"{found['size']:>12,} | {found['bytes_per_run']:>9.0f} | {compact:>24.0f} | "
                  f"{found['one']:>16.0f} | {found['two']:>17.0f} | "
                  f"{found['lag_one']:>22.2f} s", flush=True)
            emit("journeys", f"bytes per waiting run, {size:,} runs", found["bytes_per_run"],
                 "B", "<= 400", found["bytes_per_run"] <= 400)
            emit("journeys", f"steps/s, 1 worker, {size:,} runs", found["one"], "steps/s")
        print(f"(idle worker start-up, subtracted: {found['idle_s']:.2f} s; medians of "
              f"{args.rounds} round(s); Python {sys.version.split()[0]})")
    finally:
        server.stop()
        packed.stop()


if __name__ == "__main__":
    main()
