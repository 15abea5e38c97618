"""Does the service learn? And what does learning cost a decision?

    .venv/bin/python benchmarks/learning.py [--quick] [--contacts N] [--days D] [--seeds S]

1. A simulated population: each contact has a segment (young, family, senior)
   and a life-cycle stage (new, regular, lapsed) that it can observe, and a true
   appetence for each of four email offers that depends on both; appetence falls
   with the week's pressure (fatigue), and the risk of unsubscribing rises with
   it. Every day, every contact who still has email consent is asked for an email
   through the real decision path (engine.service.DecisionService with its
   learner and in-memory stores; time is simulated, no HTTP, no journey worker);
   a conversion is drawn from the true appetence and reported as an outcome, an
   unsubscription revokes consent. Decision ids are fixed per seed, day and
   contact (they seed the Thompson draws), so a seed's run repeats exactly.
   Three packs, with the same pressure rules:
   (a) static priorities, (b) the same offers with ``learned(0.05)`` propensities
   and segment learning, (c) an oracle reading each contact's true base
   appetence. Net value = revenue - channel cost - 40 per unsubscription.
2. The cost of learning per decision: the same decisions with (b) and with (b)
   made static, side by side, in rounds; medians and their ratio.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(ROOT)

from benchmarks.summary import emit  # noqa: E402
from engine.language.compiler import compile_pack  # noqa: E402
from engine.learning.learner import Learner  # noqa: E402
from engine.learning.memory import MemoryLearningStore  # noqa: E402
from engine.memory import MemoryStore  # noqa: E402
from engine.model import ContactRecord, DecisionRequest, OutcomeReport  # noqa: E402
from engine.service import ActivePack, DecisionService  # noqa: E402

START = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.utc)
SEGMENTS = ("young", "family", "senior")
STAGES = ("new", "regular", "lapsed")
OFFERS = {"shoes": 60.0, "bags": 90.0, "beauty": 40.0, "home": 120.0}  # revenue per conversion
EMAIL_COST = 0.05
UNSUBSCRIBE_COST = 40.0
# True base appetence per offer, by segment and stage (the static pack ranks by value).
BASE = {
    "shoes": {"young": 0.060, "family": 0.015, "senior": 0.008},
    "bags": {"young": 0.020, "family": 0.012, "senior": 0.030},
    "beauty": {"young": 0.050, "family": 0.040, "senior": 0.010},
    "home": {"young": 0.004, "family": 0.030, "senior": 0.006},
}
STAGE_FACTOR = {"new": 1.3, "regular": 1.0, "lapsed": 0.5}

PACK = """
pack: learning_bench
version: "1"
timezone: UTC
channels:
  email: {cost: %(cost)s}
facts:
  - {id: stage_new, when: contact.stage == "new", set: {lifecycle: new}}
  - {id: stage_regular, when: contact.stage == "regular", set: {lifecycle: regular}}
  - {id: stage_lapsed, when: contact.stage == "lapsed", set: {lifecycle: lapsed}}
learning:
  success: converted
  prior_weight: 20
  half_life: 30d
  segment_by: [contact.segment, facts.lifecycle]
  exploration: thompson
actions:
%(actions)s
policies:
  pressure:
    - {id: weekly, channels: [email], max: 3, per: 7d}
    - {id: gap, channels: [email], min_gap: 1d}
  arbitration: "%(arbitration)s"
  min_score: %(min_score)s
"""


def pack(kind: str):
    actions = []
    for offer, value in OFFERS.items():
        propensity = {"static": "0.03", "learned": "learned(0.03)",
                      "learned_risk": "learned(0.03)",
                      "expression": f"coalesce(contact.scores.{offer}, 0.03)",
                      "oracle": f"coalesce(contact.appetence.{offer}, 0)"}[kind]
        actions.append(f"  - {{id: {offer}, program: {offer}, kind: commercial, "
                       f"channels: [email], value: {value}, propensity: '{propensity}'}}")
    risk = kind == "learned_risk"
    source = PACK % {"cost": EMAIL_COST, "actions": "\n".join(actions),
                     "arbitration": "propensity * value - cost"
                     + (f" - risk.unsubscribe * {UNSUBSCRIBE_COST}" if risk else ""),
                     "min_score": "0" if risk else "null"}
    return compile_pack(source.encode(), f"{kind}.yaml")


def population(size: int, rng: random.Random) -> list[dict]:
    people = []
    for number in range(size):
        segment, stage = rng.choice(SEGMENTS), rng.choice(STAGES)
        appetence = {o: BASE[o][segment] * STAGE_FACTOR[stage] * rng.uniform(0.7, 1.3)
                     for o in OFFERS}
        people.append({"id": f"p{number}", "segment": segment, "stage": stage,
                       "appetence": appetence})
    return people


def simulate(kind: str, people: list[dict], days: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed * 7919 + 1)
    plan = pack(kind)
    store = MemoryStore()
    clock = [START]
    learner = Learner(MemoryLearningStore(), lambda: clock[0], refresh_s=5, flush_s=1,
                      monotonic=lambda: clock[0].timestamp())
    service = DecisionService(store, ActivePack(plan), learner=learner)
    for person in people:
        profile = {"segment": person["segment"], "stage": person["stage"]}
        if kind == "oracle":
            profile["appetence"] = person["appetence"]
        store.put_contact(ContactRecord(person["id"], profile, {"email": True}))
    revenue = cost = 0.0
    unsubscribed = conversions = sent = 0
    subscribed = {p["id"] for p in people}
    for day in range(days):
        for number, person in enumerate(people):
            if person["id"] not in subscribed:
                continue
            clock[0] = START + timedelta(days=day, seconds=number)
            # Fixed decision ids: they seed the posterior draws, so a seed's run repeats.
            result = service.decide(DecisionRequest(contact_id=person["id"], channel="email",
                                                    at=clock[0]), f"s{seed}-d{day}-{number}")
            if not result.decision.actions:
                continue
            offer = result.decision.actions[0].action_id
            sent += 1
            cost += EMAIL_COST
            weekly = sum(1 for e in store.history(person["id"])
                         if e.at > clock[0] - timedelta(days=7))
            fatigue = math.exp(-0.25 * (weekly - 1))
            outcome = None
            if rng.random() < person["appetence"][offer] * fatigue:
                outcome, conversions, revenue = "converted", conversions + 1, \
                    revenue + OFFERS[offer]
            elif rng.random() < 0.0005 * weekly * weekly:
                outcome, unsubscribed = "unsubscribed", unsubscribed + 1
                subscribed.discard(person["id"])
            if outcome:
                service.record_outcome(OutcomeReport(result.decision_id, offer, outcome,
                                                     clock[0]))
    net = revenue - cost - UNSUBSCRIBE_COST * unsubscribed
    return {"net": net, "revenue": revenue, "sent": sent, "conversions": conversions,
            "unsubscribed": unsubscribed}


def overhead(people: list[dict], rounds: int, calls: int) -> dict[str, float]:
    """Median decisions per second with learned propensities, constant ones (whose
    scores the compiler computes ahead), and expressions read from the profile."""
    timings: dict[str, list[float]] = {"learned": [], "static": [], "expression": []}
    for _ in range(rounds):
        for kind in timings:
            plan = pack(kind)
            store = MemoryStore()
            learner = Learner(MemoryLearningStore(), lambda: START)
            service = DecisionService(store, ActivePack(plan), learner=learner)
            for person in people[:calls]:
                store.put_contact(ContactRecord(person["id"], {"segment": person["segment"],
                                                               "stage": person["stage"]},
                                                {"email": True}))
            requests = [DecisionRequest(contact_id=p["id"], channel="email", at=START,
                                        dry_run=True) for p in people[:calls]]
            started = time.perf_counter()
            for request in requests:
                service.decide(request)
            timings[kind].append(len(requests) / (time.perf_counter() - started))
    return {kind: statistics.median(rates) for kind, rates in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.days, args.seeds = 300, 30, 2
    results: dict[str, list[dict]] = {"static": [], "learned": [], "learned_risk": [],
                                      "oracle": []}
    for seed in range(args.seeds):
        people = population(args.contacts, random.Random(seed))
        for kind in results:
            results[kind].append(simulate(kind, people, args.days, seed))
            r = results[kind][-1]
            print(f"seed {seed} {kind:<8} net {r['net']:>10.0f}  revenue {r['revenue']:>9.0f}  "
                  f"sent {r['sent']:>6}  conversions {r['conversions']:>5}  "
                  f"unsubscribed {r['unsubscribed']:>4}", flush=True)
    of_oracle = [lr["net"] / o["net"] for lr, o in zip(results["learned"], results["oracle"],
                                                       strict=True)]
    of_static = [lr["net"] / s["net"] for lr, s in zip(results["learned"], results["static"],
                                                       strict=True)]
    for kind, runs in results.items():
        print(f"{kind:<13} median net {statistics.median(r['net'] for r in runs):>9.0f}, "
              f"unsubscribed {statistics.median(r['unsubscribed'] for r in runs):>5.0f}, "
              f"sent {statistics.median(r['sent'] for r in runs):>7.0f}")
    with_risk = [r["net"] / lr["net"] for r, lr in zip(results["learned_risk"],
                                                       results["learned"], strict=True)]
    churn = [r["unsubscribed"] / max(lr["unsubscribed"], 1) for r, lr in
             zip(results["learned_risk"], results["learned"], strict=True)]
    print(f"with risk.unsubscribe in the formula: net value x{statistics.median(with_risk):.3f}"
          f", unsubscriptions x{statistics.median(churn):.3f} (medians over seeds)")
    emit("learning", "unsubscriptions, with risk / without (median)", statistics.median(churn),
         "x", "< 1", statistics.median(churn) < 1)
    emit("learning", "net value, with risk / without (median)", statistics.median(with_risk),
         "x", ">= 1", statistics.median(with_risk) >= 1)
    print(f"\n{args.contacts} contacts, {args.days} days, {args.seeds} seeds: learned / oracle "
          f"median {statistics.median(of_oracle):.3f} (min {min(of_oracle):.3f}); "
          f"learned / static median {statistics.median(of_static):.3f} "
          f"(min {min(of_static):.3f})")
    emit("learning", "net value, learned / oracle (median)", statistics.median(of_oracle), "x",
         ">= 0.9", statistics.median(of_oracle) >= 0.9)
    emit("learning", "net value, learned / static (median)", statistics.median(of_static), "x",
         "> 1", statistics.median(of_static) > 1)
    people = population(2000, random.Random(99))
    rates = overhead(people, 3 if args.quick else 7, 500 if args.quick else 2000)
    print("decisions per second (dry runs, in process, median of rounds): " + ", ".join(
        f"{kind} {rate:,.0f}" for kind, rate in rates.items()))
    for baseline in ("static", "expression"):
        ratio = rates[baseline] / rates["learned"]
        print(f"cost of a learned decision / one with {baseline} propensities: {ratio:.2f}")
        emit("learning", f"decision cost, learned / {baseline} propensities", ratio, "x",
             "<= 1.2", ratio <= 1.2)


if __name__ == "__main__":
    main()
