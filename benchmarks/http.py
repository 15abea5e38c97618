"""The real service over HTTP, against a minimal reference, in one run.

    .venv/bin/python benchmarks/http.py            # full run (about 4 minutes)
    .venv/bin/python benchmarks/http.py --quick    # a smoke run (about 1 minute)
    .venv/bin/python benchmarks/http.py --baseline DIR   # also the service of another tree

With ``--baseline DIR`` (a checkout or ``git archive`` export of an earlier
commit), the service of that tree on the same Redis (its own database, seeded
alike) is measured in the same interleaved rounds, as "baseline redis": a
before/after pair from one run.

It writes the 100-action benchmark pack (benchmarks/engine.py), seeds
CONTACTS contacts (profile, consents, HISTORY entries each) into SQLite and
into a redis-server it starts on a free port, and starts gunicorn with the
shipped gunicorn.conf.py and 2 workers for:

- the real service on SQLite,
- the real service on Redis,
- benchmarks/reference_app.py on the same Redis server (its own database,
  seeded alike): marshmallow parse, one
  Redis read of the contact, one Lua reserve, a JSON answer.

Load: CLIENTS concurrent keep-alive connections (threads spread over several
processes), each posting decisions for random contacts on random outbound
channels for DURATION seconds; at 1 and at 16 clients. The three servers are
measured in interleaved rounds; figures are medians of the rounds. Besides
throughput and latency, it reports the CPU time (from /proc) that each
server's gunicorn workers, and redis-server, used per request: on a shared
machine that moves less than throughput does. The load
generator shares the machine's cores with the servers, alike for all three.
"""
from __future__ import annotations

import sys
from pathlib import Path

# This file is called http.py: its folder must not shadow the standard http package.
ROOT = Path(__file__).resolve().parent.parent
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

from benchmarks.engine import NOW, generated_pack, profile  # noqa: E402
from benchmarks.summary import emit  # noqa: E402
from engine.language.compiler import compile_pack  # noqa: E402
from engine.model import ContactRecord, HistoryEntry, Reservation  # noqa: E402
from store import store_from_url  # noqa: E402
from tests.servers import Gunicorn, RedisServer  # noqa: E402

CHANNELS = ("email", "sms", "mail", "call")


def seed(url: str, pack_path: Path, contacts: int, history: int) -> None:
    plan = compile_pack(pack_path.read_bytes(), str(pack_path))
    store = store_from_url(url, {"timeout_ms": 2000, "connect_timeout_ms": 2000})
    rng = random.Random(11)
    for number in range(contacts):
        contact_id = f"c{number}"
        store.put_contact(ContactRecord(contact_id, profile(rng), {c: True for c in CHANNELS}))
        entries = []
        for n in range(history):
            action = rng.choice(plan.actions)
            at = NOW - timedelta(minutes=rng.randint(60, 300 * 24 * 60))
            entries.append(HistoryEntry(f"seed-{number}-{n}", action.id, action.program,
                                        action.kind, rng.choice(action.channels), at))
        store.reserve(Reservation(contact_id, tuple(entries)))
    store.close()


def _client_thread(port: int, contacts: int, deadline: float, seed_value: int, out: list) -> None:
    rng = random.Random(seed_value)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline:
        body = json.dumps({"contact_id": f"c{rng.randrange(contacts)}",
                           "channel": rng.choice(CHANNELS)})
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/decisions", body, headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            status = 0
        out.append((time.perf_counter() - started, status))
    connection.close()


def _client_process(port: int, threads: int, contacts: int, seconds: float, seed_value: int,
                    start, queue) -> None:
    start.wait()
    deadline = time.monotonic() + seconds
    results: list = []
    workers = [threading.Thread(target=_client_thread,
                                args=(port, contacts, deadline, seed_value * 100 + n, results))
               for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def drive(port: int, clients: int, contacts: int, seconds: float, seed_value: int) -> dict:
    """Run ``clients`` keep-alive connections for ``seconds``; throughput and latencies."""
    processes = min(clients, 4)
    per_process = [clients // processes + (1 if n < clients % processes else 0)
                   for n in range(processes)]
    context = multiprocessing.get_context("fork")
    start, queue = context.Event(), context.Queue()
    children = [context.Process(target=_client_process, args=(
        port, threads, contacts, seconds, seed_value + n, start, queue))
        for n, threads in enumerate(per_process)]
    for child in children:
        child.start()
    time.sleep(0.3)
    start.set()
    results = [item for _ in children for item in queue.get(timeout=seconds + 60)]
    for child in children:
        child.join()
    latencies = sorted(took for took, status in results if status == 200)
    errors = sum(1 for _, status in results if status != 200)
    return {"rps": len(latencies) / seconds, "errors": errors, "requests": len(results),
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, fewer rounds")
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--history", type=int, default=50)
    parser.add_argument("--baseline", type=Path,
                        help="a tree of an earlier commit: its service is measured too")
    args = parser.parse_args()
    seconds = args.duration or (3.0 if args.quick else 8.0)
    rounds = args.rounds or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="nba-http-bench-"))
    pack = work / "bench.yaml"
    pack.write_text(generated_pack(100))
    redis_server = RedisServer(directory=work / "redis").start()
    servers: dict[str, Gunicorn] = {}
    try:
        sqlite_url = f"sqlite:///{work / 'nba.db'}"
        print(f"seeding {args.contacts} contacts with {args.history} history entries each ...")
        seed(sqlite_url, pack, args.contacts, args.history)
        seed(redis_server.url, pack, args.contacts, args.history)
        # The reference writes entries of its own shape: it gets its own copy (database 1).
        reference_url = redis_server.url.rsplit("/", 1)[0] + "/1"
        seed(reference_url, pack, args.contacts, args.history)
        common = {"NBA_PACK": str(pack), "NBA_LOG_LEVEL": "INFO"}
        candidates = [
            ("service sqlite", "wsgi:app", {**common, "NBA_STORE_URL": sqlite_url}, ROOT),
            ("service redis", "wsgi:app", {**common, "NBA_STORE_URL": redis_server.url}, ROOT),
            ("reference redis", "benchmarks.reference_app:create_app()",
             {"REFERENCE_REDIS_URL": reference_url}, ROOT),
        ]
        if args.baseline:
            baseline_url = redis_server.url.rsplit("/", 1)[0] + "/2"
            seed(baseline_url, pack, args.contacts, args.history)
            candidates.append(("baseline redis", "wsgi:app",
                               {**common, "NBA_STORE_URL": baseline_url},
                               args.baseline.resolve()))
        for name, app, env, root in candidates:
            # The shipped gunicorn.conf.py, with 2 sync workers.
            servers[name] = Gunicorn(app, env, work / f"{name.replace(' ', '-')}.log",
                                     config=True, root=root)
            servers[name].wait_ready(60)
        figures = measure(servers, args.contacts, seconds, rounds, redis_server.process.pid)
    finally:
        for server in servers.values():
            server.stop()
        redis_server.stop()
    report(figures, args, seconds, rounds)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux /proc), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(master: int) -> list[int]:
    """The processes whose parent is ``master`` (gunicorn's workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == master:
                        children.append(int(entry))
            except OSError:
                continue
    return children


def measure(servers: dict[str, Gunicorn], contacts: int, seconds: float, rounds: int,
            redis_pid: int) -> dict:
    """Throughput and latencies, and the CPU the server's workers and redis-server
    used per request (less sensitive than throughput to what else runs)."""
    figures: dict = {(name, c): [] for name in servers for c in (1, 16)}
    for round_number in range(rounds):
        for clients in (1, 16):
            for name, server in servers.items():
                workers = worker_pids(server.process.pid)
                before = sum(map(cpu_seconds, workers)), cpu_seconds(redis_pid)
                result = drive(server.port, clients, contacts, seconds, round_number * 1000)
                requests = max(1, result["requests"])
                result["worker_us"] = (sum(map(cpu_seconds, workers)) - before[0]) / requests * 1e6
                result["redis_us"] = (cpu_seconds(redis_pid) - before[1]) / requests * 1e6
                figures[(name, clients)].append(result)
                print(f"  round {round_number + 1} {name:>16} {clients:>2} clients: "
                      f"{result['rps']:,.0f}/s p50 {result['p50'] * 1000:.2f} ms "
                      f"workers {result['worker_us']:,.0f} µs/request "
                      f"errors {result['errors']}", flush=True)
    return figures


def report(figures: dict, args, seconds: float, rounds: int) -> None:
    print(f"\ncores: {os.cpu_count()}; 100-action pack; {args.contacts} contacts with "
          f"{args.history} history entries; gunicorn.conf.py, 2 sync workers; "
          f"{rounds} interleaved round(s) of {seconds:g} s per figure; medians")
    print(f"{'server':>16} {'clients':>7} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'workers µs/req':>15} {'redis µs/req':>13}")
    medians = {}
    for (name, clients), runs in figures.items():
        row = {key: statistics.median(r[key] for r in runs)
               for key in ("rps", "p50", "p99", "worker_us", "redis_us")}
        row["errors"] = sum(r["errors"] for r in runs)
        medians[(name, clients)] = row
        print(f"{name:>16} {clients:>7} {row['rps']:>12,.0f} {row['p50'] * 1000:>8.2f} "
              f"{row['p99'] * 1000:>8.2f} {row['errors']:>7} {row['worker_us']:>15,.0f} "
              f"{row['redis_us']:>13,.0f}")
    reference16 = medians[("reference redis", 16)]["rps"]
    reference1 = medians[("reference redis", 1)]["p50"]
    for name in [n for n in ("service redis", "service sqlite", "baseline redis")
                 if (n, 16) in medians]:
        throughput = medians[(name, 16)]["rps"] / reference16
        latency = medians[(name, 1)]["p50"] / reference1
        print(f"{name} / reference redis: throughput at 16 clients {throughput:.2f} "
              f"(target >= 0.9), p50 at 1 client {latency:.2f} (target <= 1.2)")
        if name == "baseline redis":
            continue
        on_redis = name == "service redis"
        emit("http", f"{name} / reference, throughput at 16 clients", throughput, "",
             ">= 0.9" if on_redis else "", throughput >= 0.9 if on_redis else None)
        emit("http", f"{name} / reference, p50 at 1 client", latency, "",
             "<= 1.2" if on_redis else "", latency <= 1.2 if on_redis else None)
    emit("http", "service redis, 16 clients", medians[("service redis", 16)]["rps"],
         "decisions/s")
    if ("baseline redis", 16) in medians:
        for clients in (1, 16):
            ratio = (medians[("service redis", clients)]["rps"]
                     / medians[("baseline redis", clients)]["rps"])
            print(f"service redis / baseline redis: throughput at {clients} client(s) "
                  f"{ratio:.2f}")


if __name__ == "__main__":
    main()
