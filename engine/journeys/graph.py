"""The step graph of a journey: steps no path reaches, and loops of steps through
which no time passes (a run would go round them forever in one instant)."""
from __future__ import annotations

from typing import Iterator

from engine.journeys.plan import TIMEOUT, StepPlan
from engine.language.loader import Path


def graph_problems(path: Path, steps: tuple[StepPlan, ...]) -> Iterator[tuple[Path, str]]:
    """(key path, message) for each unreachable step and for an instantaneous loop."""
    by_id = {s.id: s for s in steps}
    reached, todo = set(), [steps[0].id]
    while todo:
        step = by_id[todo.pop()]
        if step.id not in reached:
            reached.add(step.id)
            todo += [target for target, _ in successors(step)]
    for step in steps:
        if step.id not in reached:
            yield path + (step.index,), f"step {step.id} is never reached"
    cycle = _instant_cycle(steps, by_id)
    if cycle:
        yield path, "steps loop without a wait: " + " -> ".join(cycle) + "; put a wait on one of them"


def successors(step: StepPlan) -> list[tuple[str, bool]]:
    """(step id, whether time passes on the way) for every way out of ``step``."""
    found = [(t.goto, t.within is not None or t.on == TIMEOUT) for t in step.then]
    found += [(b.goto, False) for b in step.split]
    if step.next is not None:
        found.append((step.next, False))
    return found


def _instant_cycle(steps: tuple[StepPlan, ...], by_id: dict[str, StepPlan]) -> list[str]:
    """A loop of steps through which no time passes, if there is one."""
    def visit(step_id: str, trail: list[str]) -> list[str]:
        if step_id in trail:
            return trail[trail.index(step_id):] + [step_id]
        step = by_id[step_id]
        if step.waits:  # time passes here: no loop through this step is instantaneous
            return []
        for target, passes_time in successors(step):
            if not passes_time:
                found = visit(target, trail + [step_id])
                if found:
                    return found
        return []
    for step in steps:
        cycle = visit(step.id, [])
        if cycle:
            return cycle
    return []
