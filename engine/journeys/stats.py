"""Journey statistics from the store's flat counters, and a journey's summary."""
from __future__ import annotations

from typing import Any, Mapping

from engine.journeys.plan import JourneyPlan

# Counters with a sub-key: "<step>.<group>.<key>".
GROUPED = {"deferred": "deferred", "skipped": "skipped", "outcome": "outcomes",
           "event": "events", "branch": "branches"}


def journey_stats(journey: JourneyPlan, counts: Mapping[str, int]) -> dict[str, Any]:
    """Per step: entered, sent, deferred/skipped by reason, outcomes, events,
    branches; ends by label and goal events."""
    steps: dict[str, dict[str, Any]] = {s.id: _empty_step() for s in journey.steps}
    ends: dict[str, int] = {}
    goals: dict[str, int] = {}
    for counter, n in counts.items():
        head, _, rest = counter.partition(".")
        if head == "end":
            ends[rest] = ends.get(rest, 0) + n
        elif head == "goal":
            goals[rest] = goals.get(rest, 0) + n
        elif head in steps and rest:
            _add_step_counter(steps[head], rest, n)
    return {"journey_id": journey.id, "entered": counts.get("entered", 0),
            "entry_refused": counts.get("entry_refused", 0), "steps": steps,
            "ends": ends, "goals": goals}


def _empty_step() -> dict[str, Any]:
    return {"entered": 0, "sent": 0, **{name: {} for name in GROUPED.values()}}


def _add_step_counter(step: dict[str, Any], rest: str, n: int) -> None:
    group, _, key = rest.partition(".")
    if group in GROUPED and key:
        bucket = step[GROUPED[group]]
        bucket[key] = bucket.get(key, 0) + n
    elif group in ("entered", "sent"):
        step[group] += n


def journey_summary(journey: JourneyPlan) -> dict[str, Any]:
    trigger = journey.trigger
    described: dict[str, Any] = {"kind": trigger.kind}
    if trigger.event:
        described["event"] = trigger.event
    if trigger.silence:
        described["for_days"] = trigger.silence.total_seconds() / 86_400
    if trigger.attribute:
        described.update(attribute=trigger.attribute, at=trigger.at.strftime("%H:%M"))
    return {"id": journey.id, "program": journey.program, "trigger": described,
            "steps": [s.id for s in journey.steps], "exit_on": sorted(journey.exit_on),
            "description": journey.description}
