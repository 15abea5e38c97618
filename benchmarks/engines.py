"""The same generated workload on the compiled and durable backends, and on zen-engine.

    .venv/bin/python benchmarks/engines.py [--actions 100] [--rounds 3] [--calls 2000]

zen-engine (GoRules, Rust core) is an outside reference: it evaluates only the
equivalent eligibility decision table (one row per action offered on the
channel, with the facts derived beforehand in Python), so its figure is for
that part of the work, not a full decision. Rounds are interleaved in one run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(ROOT)

from benchmarks.summary import emit  # noqa: E402
from engine.backends import backend_from_name  # noqa: E402
from engine.decision.decide import open_decision  # noqa: E402
from engine.decision.facts import derive_facts  # noqa: E402
from engine.language.compiler import compile_pack  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "benchmarks" / "engine.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)  # type: ignore[union-attr]


def time_backend(backend, plan, cases, count: int) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for index in range(count):
        snapshot, request = cases[index % len(cases)]
        start = clock()
        backend.decide(plan, snapshot, request, "bench")
        samples.append((clock() - start) / 1000)
    return samples


def zen_table(plan) -> dict:
    """A JDM graph: one decision table per channel, collecting eligible action ids."""
    nodes = [{"id": "in", "type": "inputNode", "name": "request"}]
    edges = []
    for channel, candidates in plan.candidates.items():
        rules = [{"_id": f"r{a.index}", "c": f"channel == '{channel}' and "
                  f"({_zen(a.when.source) if a.when else 'true'})", "o": f"'{a.id}'"}
                 for a, _ in candidates]
        nodes.append({"id": channel, "type": "decisionTableNode", "name": channel, "content": {
            "hitPolicy": "collect", "inputs": [{"id": "c", "name": "eligible", "field": ""}],
            "outputs": [{"id": "o", "name": "id", "field": "eligible"}], "rules": rules}})
        edges.append({"id": f"e{channel}", "sourceId": "in", "targetId": channel,
                      "type": "edge"})
    return {"nodes": nodes, "edges": edges}


def _zen(source: str) -> str:
    """The generated pack's conditions read the same in zen's expression language,
    with single quotes (not checked against the pack's answers)."""
    return source.strip().replace('"', "'")


def time_zen(decision, plan, cases, count: int) -> list[float]:
    inputs = []
    for snapshot, request in cases[:count]:
        ctx = open_decision(plan, snapshot, request)
        derive_facts(plan.facts, ctx.scope)
        inputs.append({"channel": request.channel, "contact": ctx.scope.contact,
                       "context": request.context, "facts": ctx.scope.facts})
    samples = []
    clock = time.perf_counter_ns
    for index in range(count):
        start = clock()
        decision.evaluate(inputs[index % len(inputs)])
        samples.append((clock() - start) / 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    plan = compile_pack(bench.generated_pack(args.actions).encode(), "generated.yaml")
    cases = bench.workload(plan)
    runners = {name: backend_from_name(name) for name in ("compiled", "durable")}
    for backend in runners.values():
        backend.prepare(plan)
    timers = {name: (lambda n, b=b: time_backend(b, plan, cases, n)) for name, b in runners.items()}
    try:
        import zen

        decision = zen.ZenEngine().create_decision(json.dumps(zen_table(plan)))
        decision.evaluate({"channel": "email", "contact": {}, "context": {}, "facts": {}})
        timers["zen-engine (eligibility table only)"] = \
            lambda n: time_zen(decision, plan, cases, n)
    except Exception as exc:  # noqa: BLE001 - the reference is optional
        print(f"zen-engine not measured: {exc}")
    for timer in timers.values():
        timer(200)  # warm-up
    rounds: dict[str, list] = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, timer in timers.items():
            rounds[name].append(bench.summary(timer(args.calls)))
    report(args, rounds)


def report(args, rounds) -> None:
    print(f"{args.actions} actions, {args.rounds} interleaved rounds of {args.calls} decisions, "
          f"Python {sys.version.split()[0]}; medians of the rounds")
    medians = {n: [statistics.median(r[i] for r in rs) for i in range(3)] for n, rs in rounds.items()}
    base = medians["compiled"][1]
    print("| engine | decisions/s | p50 µs | p99 µs | p50 ratio to compiled |")
    print("|---|---|---|---|---|")
    for name, (rate, p50, p99) in medians.items():
        print(f"| {name} | {rate:,.0f} | {p50:.0f} | {p99:.0f} | {p50 / base:.2f} |")
        emit("engines", f"{name}, p50 ratio to compiled", p50 / base, "")


if __name__ == "__main__":
    main()
