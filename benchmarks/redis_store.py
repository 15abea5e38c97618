"""What the Redis store costs: memory per contact, and the price of persistence.

    .venv/bin/python benchmarks/redis_store.py            # full run (about 1 minute)
    .venv/bin/python benchmarks/redis_store.py --quick    # a smoke run

It starts its own redis-server processes on free loopback ports:

1. Memory: seeds contacts (the benchmark profile of benchmarks/engine.py,
   consents on 5 channels, and H history entries each, 40 % with an outcome)
   and reports ``used_memory`` growth per contact, for several H.
2. Persistence: the same reserve workload (one entry, three window checks)
   against three servers, ``appendonly no``, ``appendfsync everysec`` and
   ``appendfsync always``, in interleaved rounds, from 1 client and from 8
   threads. Medians of the rounds; ratios to ``appendonly no``.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.engine import NOW, profile  # noqa: E402
from benchmarks.summary import emit  # noqa: E402
from engine.model import (  # noqa: E402
    ContactRecord,
    HistoryEntry,
    OutcomeReport,
    Reservation,
    WindowCheck,
)
from store.redis.contacts import RedisStore  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

CHANNELS = ("email", "sms", "call", "mail", "web")
PERSISTENCE = {
    "appendonly no": ("--appendonly", "no"),
    "aof everysec": ("--appendonly", "yes", "--appendfsync", "everysec"),
    "aof always": ("--appendonly", "yes", "--appendfsync", "always"),
}


def used_memory(server: RedisServer) -> int:
    for line in server.cli("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO")


def seed(store: RedisStore, contacts: int, entries: int, rng: random.Random) -> None:
    for number in range(contacts):
        contact_id = f"contact-{number:07d}"
        store.put_contact(ContactRecord(contact_id, profile(rng),
                                        {c: True for c in CHANNELS}))
        for _ in range(entries):
            at = NOW - timedelta(minutes=rng.randint(60, 360 * 24 * 60))
            # As the API makes them: a random 128-bit id, with the contact in it.
            decision_id = store.decision_id_for(contact_id, f"{rng.getrandbits(128):032x}")
            action_id = f"action_{rng.randint(0, 99)}"
            store.reserve(Reservation(contact_id, (HistoryEntry(
                decision_id, action_id, f"program_{rng.randint(0, 22)}",
                "commercial", rng.choice(CHANNELS), at),)))
            if rng.random() < 0.4:
                store.record_outcome(OutcomeReport(decision_id, action_id, "opened", at))


COMPACT = ("--hash-max-listpack-value", "256", "--hash-max-listpack-entries", "512",
           "--zset-max-listpack-entries", "512")


def memory_per_contact(contacts: int, sizes: tuple[int, ...], *server_args: str) -> None:
    setting = " ".join(server_args) or "default encodings"
    print(f"\nMemory per contact ({contacts} contacts per row, profile of 17 attributes, "
          f"5 consents; redis {setting})")
    print(f"{'history entries':>16} {'bytes/contact':>14} {'bytes/entry':>12}")
    base_per_contact = None
    for size in sizes:
        server = RedisServer(*server_args).start()
        store = RedisStore(server.url, timeout_ms=1000, connect_timeout_ms=1000)
        try:
            before = used_memory(server)
            seed(store, contacts, size, random.Random(size))
            per_contact = (used_memory(server) - before) / contacts
        finally:
            store.close()
            server.stop()
        if base_per_contact is None:
            base_per_contact = per_contact
            per_entry = "-"
        else:
            per_entry = f"{(per_contact - base_per_contact) / size:,.0f}"
            value = (per_contact - base_per_contact) / size
            emit("redis_store", f"bytes per history entry, {size} entries, {setting}", value,
                 "B", "<= 150", value <= 150)
        print(f"{size:>16} {per_contact:>14,.0f} {per_entry:>12}")


def reserve_workload(store: RedisStore, count: int, offset: int) -> list[float]:
    checks = (WindowCheck("weekly", "pressure", NOW - timedelta(days=7), 1000),
              WindowCheck("monthly", "pressure", NOW - timedelta(days=30), 1000),
              WindowCheck("gap", "pressure", NOW - timedelta(hours=1), 1000))
    timings = []
    for n in range(count):
        entry = HistoryEntry(f"d{offset}-{n}", "promo", "winter_sale", "commercial", "email", NOW)
        started = time.perf_counter()
        store.reserve(Reservation(f"p{(offset + n) % 500}", (entry,), checks))
        timings.append(time.perf_counter() - started)
    return timings


def persistence(rounds: int, count: int) -> None:
    servers = {name: RedisServer(*args, directory=Path(tempfile.mkdtemp(prefix="nba-aof-")))
               for name, args in PERSISTENCE.items()}
    stores = {}
    try:
        for name, server in servers.items():
            server.start()
            stores[name] = RedisStore(server.url, timeout_ms=2000, connect_timeout_ms=1000)
        single: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        threaded: dict[str, list[float]] = {name: [] for name in servers}
        for round_number in range(rounds):
            for name, store in stores.items():
                timings = reserve_workload(store, count, round_number * 100_000)
                single[name].append((statistics.median(timings),
                                     sorted(timings)[int(0.99 * len(timings))]))
                threaded[name].append(_threaded(store, count, round_number))
        _report_persistence(single, threaded, rounds, count)
    finally:
        for store in stores.values():
            store.close()
        for server in servers.values():
            server.stop()


def _threaded(store: RedisStore, count: int, round_number: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: reserve_workload(store, count // 8, 10_000_000 * (t + 1)
                                                 + round_number * 100_000), range(8)))
    return (count // 8) * 8 / (time.perf_counter() - started)


def _report_persistence(single, threaded, rounds: int, count: int) -> None:
    print(f"\nReserve (1 entry, 3 window checks), {rounds} interleaved rounds of {count} calls")
    print(f"{'redis setting':>16} {'1 client p50':>13} {'p99':>9} {'8 threads/s':>12} "
          f"{'p50 ratio':>10} {'thr. ratio':>11}")
    base_p50 = statistics.median(p50 for p50, _ in single["appendonly no"])
    base_thr = statistics.median(threaded["appendonly no"])
    for name in single:
        p50 = statistics.median(p50 for p50, _ in single[name])
        p99 = statistics.median(p99 for _, p99 in single[name])
        thr = statistics.median(threaded[name])
        print(f"{name:>16} {p50 * 1e6:>10,.0f} µs {p99 * 1e6:>6,.0f} µs {thr:>12,.0f} "
              f"{p50 / base_p50:>10.2f} {thr / base_thr:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer contacts, rounds and calls")
    args = parser.parse_args()
    contacts, rounds, count = (100, 2, 400) if args.quick else (1000, 5, 2000)
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    print(f"cores: {os.cpu_count()}; {version.stdout.strip()}")
    memory_per_contact(contacts, (0, 50, 200))
    memory_per_contact(contacts, (0, 50, 200), *COMPACT)
    persistence(rounds, count)


if __name__ == "__main__":
    main()
