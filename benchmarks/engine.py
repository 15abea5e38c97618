"""In-process decision cost of the compiled engine.

    .venv/bin/python benchmarks/engine.py            # full run (about 2 minutes)
    .venv/bin/python benchmarks/engine.py --quick    # a smoke run (about 20 seconds)

A generated pack (N actions over 5 channels, 20 chained facts rules, pressure,
repeat, suppression, groups, validity, templates) and contacts with 200
history entries each. It prints, for 100 actions, decisions per second and
p50/p99 latency of ``decide()`` on one core and of the whole
``DecisionService`` path over an in-memory store (load, decide, reserve as a
dry run so that history stays at 200 entries); then how the cost grows at
25, 100, 400 and 1,000 actions. Sizes are interleaved in rounds so that
machine noise touches them alike; figures are medians of the rounds.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# This file is called engine.py: its own folder must not shadow the engine package.
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.summary import emit  # noqa: E402
from engine.decision.decide import decide  # noqa: E402
from engine.language.compiler import compile_pack  # noqa: E402
from engine.memory import MemoryStore  # noqa: E402
from engine.model import (  # noqa: E402
    ContactRecord,
    ContactSnapshot,
    DecisionRequest,
    HistoryEntry,
    Outcome,
    Reservation,
)
from engine.plan import Plan  # noqa: E402
from engine.service import ActivePack, DecisionService  # noqa: E402

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
CHANNELS = ("email", "sms", "call", "mail", "web")
SIZES = (25, 100, 400, 1000)
HISTORY = 200
CONTACTS = 200


def generated_pack(actions: int, seed: int = 2026) -> str:
    """YAML of a realistic pack with ``actions`` actions."""
    rng = random.Random(seed)
    lines = ["pack: generated", 'version: "1"', "timezone: Europe/Paris", "channels:",
             "  email: {cost: 0.002}", '  sms: {cost: 0.05, quiet_hours: "21:00-08:00"}',
             "  call: {cost: 3.5, capacity_per_day: 100000, consent: opt_out}",
             "  mail: {cost: 0.9}", "  web: {cost: 0, inbound: true, consent: opt_out}"]
    lines += _facts(rng)
    lines.append("actions:")
    for index in range(actions):
        lines += _action(rng, index)
    lines += [
        "policies:", "  pressure:",
        "    - {id: weekly, kinds: [commercial], channels: [email, sms, call, mail], max: 3, per: 7d}",
        "    - {id: sms_monthly, channels: [sms], max: 2, per: 30d}",
        "    - {id: gap, channels: [email, sms, call], min_gap: 24h}",
        "    - {id: daily, channels: [email, sms, call, mail], max: 2, per: 1d, calendar: true}",
        "  suppress:",
        "    - {id: refused, after: rejected, same_action_for: 30d}",
        "    - {id: complaint, after: complained, kinds: [commercial], for: 90d}",
        '  arbitration: "propensity * value * priority / 100 - cost"',
    ]
    return "\n".join(lines) + "\n"


def _facts(rng: random.Random) -> list[str]:
    lines = ["facts:"]
    for index in range(20):
        condition = rng.choice([
            f"contact.attr{index % 10} > {rng.randint(10, 90)}",
            f'contact.segment == "s{index % 4}"',
            f"days_since(contact.last_order_at) > {rng.randint(20, 200)}",
            f'history.count(channel="email", within="30d") >= {rng.randint(1, 4)}',
            'contact.city in ["paris", "lyon", "lille", "nantes"]',
        ])
        if index >= 5:
            condition += f" and facts.f{index - 5}" if rng.random() < 0.5 \
                else f" or facts.f{index - 5}"
        lines += [f"  - id: rule{index}", f"    when: {condition}", f"    set: {{f{index}: true}}"]
    return lines


def _action(rng: random.Random, index: int) -> list[str]:
    channels = rng.sample(CHANNELS, rng.randint(1, 3))
    kind = rng.choice(["commercial"] * 6 + ["relational"] * 2 + ["service", "transactional"])
    condition = rng.choice([
        f"contact.attr{index % 10} >= {rng.randint(0, 100)}",
        f'contact.segment in ["s{index % 4}", "s{(index + 1) % 4}"]',
        f"facts.f{index % 20}",
        f"contact.total_spend > {rng.randint(0, 3000)} and not facts.f{index % 20}",
        f'context.page == "home" or contact.cart_value > {rng.randint(10, 200)}',
    ])
    propensity = rng.choice(["0.1", "0.05", "coalesce(contact.scores.appetence, 0.05)"])
    lines = [f"  - id: action{index}", f"    program: program{index % 23}", f"    kind: {kind}",
             f"    channels: [{', '.join(channels)}]", f"    when: {condition}",
             f"    priority: {rng.randint(1, 100)}", f"    value: {rng.randint(1, 100)}",
             f"    propensity: {propensity}"]
    if "web" in channels:
        lines.append("    placements: [home_banner, product_page]")
    if rng.random() < 0.5:
        lines.append(f"    repeat: {{max: 1, within: {rng.randint(1, 30)}d}}")
    if rng.random() < 0.3:
        lines.append(f"    group: group{index % 7}")
    if rng.random() < 0.2:
        lines.append(f'    valid: {{from: "2026-{rng.randint(1, 11):02d}-01", until: "2026-12-31"}}')
    if rng.random() < 0.3:
        lines.append("    content: {default: {text: \"Bonjour {{ contact.first_name }}\"}}")
    return lines


def history(plan: Plan, rng: random.Random, contact: int) -> tuple[HistoryEntry, ...]:
    """HISTORY entries over the last 400 days, some with outcomes."""
    entries = []
    for number in range(HISTORY):
        action = rng.choice(plan.actions)
        at = NOW - timedelta(minutes=rng.randint(30 * 60, 400 * 24 * 60))
        outcomes = ()
        if rng.random() < 0.4:
            name = rng.choice(["delivered", "opened", "clicked", "rejected", "failed"])
            outcomes = (Outcome(name, at + timedelta(hours=2)),)
        entries.append(HistoryEntry(f"past-{contact}-{number}", action.id, action.program,
                                    action.kind, rng.choice(action.channels), at,
                                    outcomes=outcomes))
    return tuple(sorted(entries, key=lambda e: e.at))


def profile(rng: random.Random) -> dict:
    attributes = {f"attr{i}": rng.randint(0, 100) for i in range(10)}
    attributes.update(
        first_name=rng.choice(["Ana", "Léo", "Inès", "Noé"]), segment=f"s{rng.randint(0, 3)}",
        city=rng.choice(["paris", "lyon", "brest", "nice"]), total_spend=rng.randint(0, 5000),
        cart_value=rng.randint(0, 300), scores={"appetence": round(rng.random(), 3)},
        last_order_at=(NOW - timedelta(days=rng.randint(1, 400))).date().isoformat())
    return attributes


CONSENTS = {channel: True for channel in CHANNELS}


def workload(plan: Plan) -> list[tuple[ContactSnapshot, DecisionRequest]]:
    """One request per contact and channel, limit 1 and some limit 3."""
    rng = random.Random(7)
    cases = []
    for number in range(CONTACTS):
        snapshot = ContactSnapshot(f"c{number}", profile(rng), CONSENTS,
                                   history(plan, rng, number), known=True)
        for channel in CHANNELS:
            cases.append((snapshot, DecisionRequest(
                snapshot.contact_id, channel, NOW, placement="home_banner" if channel == "web"
                else None, context={"page": "home"}, limit=3 if rng.random() < 0.2 else 1)))
    rng.shuffle(cases)
    return cases


def time_decide(plan: Plan, cases, count: int) -> list[float]:
    """Latency in µs of ``count`` calls of decide(), cycling through ``cases``."""
    samples = []
    clock = time.perf_counter_ns
    for index in range(count):
        snapshot, request = cases[index % len(cases)]
        start = clock()
        decide(plan, snapshot, request, "bench")
        samples.append((clock() - start) / 1000)
    return samples


def service_for(plan: Plan, cases) -> DecisionService:
    store = MemoryStore()
    for snapshot in {s.contact_id: s for s, _ in cases}.values():
        store.put_contact(ContactRecord(snapshot.contact_id, snapshot.profile, snapshot.consents))
        store.reserve(Reservation(snapshot.contact_id, snapshot.history))
    return DecisionService(store, ActivePack(plan))


def time_service(service: DecisionService, cases, count: int) -> list[float]:
    samples = []
    clock = time.perf_counter_ns
    for index in range(count):
        _, request = cases[index % len(cases)]
        dry = DecisionRequest(request.contact_id, request.channel, request.at,
                              request.placement, request.context, limit=request.limit,
                              dry_run=True)
        start = clock()
        service.decide(dry, "bench")
        samples.append((clock() - start) / 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float, float]:
    """(decisions/s, p50 µs, p99 µs) of one round."""
    ordered = sorted(samples)
    return (len(samples) / (sum(samples) / 1e6), ordered[len(ordered) // 2],
            ordered[int(len(ordered) * 0.99)])


def median_of(rounds: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return tuple(statistics.median(r[i] for r in rounds) for i in range(3))  # type: ignore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    args = parser.parse_args()
    rounds, calls = (3, 2000) if args.quick else (5, 10000)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        pinned = "pinned to one core"
    except (AttributeError, OSError):
        pinned = "not pinned"
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {pinned}; "
          f"{rounds} rounds, {calls} decisions per size and round, {HISTORY} history entries")
    plans = {n: compile_pack(generated_pack(n).encode(), f"generated-{n}") for n in SIZES}
    cases = {n: workload(plans[n]) for n in SIZES}
    for n in SIZES:
        time_decide(plans[n], cases[n], 1000)  # warm-up
    per_size: dict[int, list] = {n: [] for n in SIZES}
    for _ in range(rounds):
        for n in SIZES:
            per_size[n].append(summary(time_decide(plans[n], cases[n], calls)))
    service = service_for(plans[100], cases[100])
    time_service(service, cases[100], 1000)
    service_rounds = [summary(time_service(service, cases[100], calls)) for _ in range(rounds)]
    report(plans, per_size, service_rounds)


def report(plans, per_size, service_rounds) -> None:
    rate, p50, p99 = median_of(per_size[100])
    candidates = statistics.mean(len(plans[100].candidates[c]) for c in CHANNELS)
    print(f"\n100 actions ({candidates:.0f} candidates per channel on average), one core:")
    print(f"  decide()                      {rate:9,.0f} decisions/s   p50 {p50:7.1f} µs   "
          f"p99 {p99:7.1f} µs")
    rate_s, p50_s, p99_s = median_of(service_rounds)
    print(f"  service (memory store, dry)   {rate_s:9,.0f} decisions/s   p50 {p50_s:7.1f} µs   "
          f"p99 {p99_s:7.1f} µs")
    print("\nscaling (decide(), medians):")
    print("  actions   µs/decision   cost ratio   action ratio   cost/action ratio")
    base = 1e6 / median_of(per_size[SIZES[0]])[0]
    for n in SIZES:
        cost = 1e6 / median_of(per_size[n])[0]
        print(f"  {n:7d}   {cost:11.1f}   {cost / base:10.2f}   {n / SIZES[0]:12.0f}   "
              f"{(cost / base) / (n / SIZES[0]):17.2f}")
    growth = (1e6 / median_of(per_size[SIZES[-1]])[0] / base) / (SIZES[-1] / SIZES[0])
    print(f"\ntarget >= 20,000 decisions/s at 100 actions: {'met' if rate >= 20000 else 'NOT met'} "
          f"({rate:,.0f}/s)")
    print(f"target >= 12,000 decisions/s on the service path: "
          f"{'met' if rate_s >= 12000 else 'NOT met'} ({rate_s:,.0f}/s)")
    print(f"target cost growing at most linearly: {'met' if growth <= 1.0 else 'NOT met'} "
          f"(cost/action ratio at {SIZES[-1]} actions: {growth:.2f})")
    emit("engine", "decide(), 100 actions", rate, "decisions/s", ">= 20,000", rate >= 20000)
    emit("engine", "decide(), 100 actions, p50", p50, "µs")
    emit("engine", "service, memory store", rate_s, "decisions/s", ">= 12,000", rate_s >= 12000)
    emit("engine", f"cost/action ratio, {SIZES[-1]} vs {SIZES[0]} actions", growth, "",
         "<= 1 (linear)", growth <= 1.0)


if __name__ == "__main__":
    main()
