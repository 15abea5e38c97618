"""The candidate checks as durable-rules conditions.

For each (action, channel) pair, each check the compiled backend would run
becomes a condition that excludes, and its negation, over attributes of the
candidate's fact. The attributes that need the clock, the time zone or
windows of history (local time of day, counts of recent contacts, refusals
within a suppression period) are measured in Python by the same code the
compiled backend uses; the comparisons with the pack's limits are rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from engine.decision.policies import (
    DecisionContext,
    check_capacity,
    check_consent,
    check_eligibility,
    check_holdout,
    check_placement,
    check_pressure,
    check_quiet_hours,
    check_repeat,
    check_suppression,
    check_validity,
)
from engine.durable.conditions import (
    FALSE,
    TRUE,
    Lowering,
    all_of,
    any_of,
    missing,
    test,
)
from engine.plan import ActionPlan, ChannelPlan

Measure = Callable[[ActionPlan, DecisionContext], Any]


@dataclass(frozen=True)
class PolicyRule:
    """One check of one candidate: when it excludes, when it lets through, and the
    attributes it reads (name, how to measure it)."""

    check: Callable[..., Any]
    excludes: Any
    passes: Any
    measures: tuple[tuple[str, Measure], ...] = ()


def microseconds(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _now(action: ActionPlan, ctx: DecisionContext) -> int:
    return microseconds(ctx.now)


def _placement(action: ActionPlan, ctx: DecisionContext) -> Any:
    return ctx.placement if isinstance(ctx.placement, str) else None


def _consent(action: ActionPlan, ctx: DecisionContext) -> str:
    consents = ctx.scope.contact.get("consents")
    given = consents.get(ctx.channel.name) if isinstance(consents, dict) else None
    return "yes" if given is True else "no" if given is False else "unset"


def _local_time(action: ActionPlan, ctx: DecisionContext) -> int:
    local = ctx.now.astimezone(ctx.tz).time()
    return ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond


def _shown(action: ActionPlan, ctx: DecisionContext) -> int:
    since = ctx.now - action.repeat.within  # type: ignore[union-attr]
    return sum(1 for e in ctx.recent_by_action().get(action.id, ()) if e.at >= since)


def _full(action: ActionPlan, ctx: DecisionContext) -> int:
    return int(ctx.channel.name in ctx.capacity_full)


def _held(action: ActionPlan, ctx: DecisionContext) -> int:
    return int(not ctx.held_out().isdisjoint(action.holdouts))


def holdout(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    return PolicyRule(check_holdout, test("$eq", "ho", 1), test("$eq", "ho", 0),
                      (("ho", _held),))


def eligibility(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    passes, excludes = lowering.condition(action.when)  # type: ignore[arg-type]
    return PolicyRule(check_eligibility, excludes, passes)


def validity(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    early = test("$lt", "now", microseconds(action.valid_from)) if action.valid_from else FALSE
    late = test("$gte", "now", microseconds(action.valid_until)) if action.valid_until else FALSE
    ok_early = test("$gte", "now", microseconds(action.valid_from)) if action.valid_from else TRUE
    ok_late = test("$lt", "now", microseconds(action.valid_until)) if action.valid_until else TRUE
    return PolicyRule(check_validity, any_of(early, late, exclusive=True),
                      all_of(ok_early, ok_late), (("now", _now),))


def placement(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    names = sorted(action.placements)
    inside = any_of(*[test("$eq", "pl", p) for p in names], exclusive=True)
    outside = any_of(missing("pl"), all_of(*[test("$neq", "pl", p) for p in names]),
                     exclusive=True)
    return PolicyRule(check_placement, outside, inside, (("pl", _placement),))


def consent(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    if action.marketing and channel.consent == "opt_in":
        excludes, passes = test("$neq", "cs", "yes"), test("$eq", "cs", "yes")
    else:  # opt-out marketing, or a service message that respects opt-outs
        excludes, passes = test("$eq", "cs", "no"), test("$neq", "cs", "no")
    return PolicyRule(check_consent, excludes, passes, (("cs", _consent),))


def quiet_hours(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    start, end = (((t.hour * 60 + t.minute) * 60) * 1_000_000 for t in channel.quiet_hours)  # type: ignore[union-attr]
    after_start, before_end = test("$gte", "lt", start), test("$lt", "lt", end)
    before_start, after_end = test("$lt", "lt", start), test("$gte", "lt", end)
    if start < end:
        inside, outside = all_of(after_start, before_end), any_of(before_start, after_end,
                                                                   exclusive=True)
    else:
        inside, outside = any_of(after_start, before_end, exclusive=True), \
            all_of(before_start, after_end)
    return PolicyRule(check_quiet_hours, inside, outside, (("lt", _local_time),))


def repeat(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    most = action.repeat.max  # type: ignore[union-attr]
    return PolicyRule(check_repeat, test("$gte", "rp", most), test("$lt", "rp", most),
                      (("rp", _shown),))


def suppression(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    rules = action.suppress_rules[channel.name]
    measures = tuple((f"sp{i}", _suppressed_by(rule)) for i, rule in enumerate(rules))
    return PolicyRule(check_suppression,
                      any_of(*[test("$gt", name, 0) for name, _ in measures]),
                      all_of(*[test("$eq", name, 0) for name, _ in measures]), measures)


def _suppressed_by(rule) -> Measure:
    def hits(action: ActionPlan, ctx: DecisionContext) -> int:
        key = action.id if rule.scope == "action" else (
            action.program if rule.scope == "program" else None)
        return int(ctx.suppressions(rule).get(key) is not None)
    return hits


def pressure(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    rules = action.pressure_rules[channel.name]
    measures = tuple((f"pr{i}", _entries_for(rule)) for i, rule in enumerate(rules))
    return PolicyRule(check_pressure,
                      any_of(*[test("$gt", f"pr{i}", r.limit) for i, r in enumerate(rules)]),
                      all_of(*[test("$lte", f"pr{i}", r.limit) for i, r in enumerate(rules)]),
                      measures)


def _entries_for(rule) -> Measure:
    """What the contact's history counts toward ``rule``, plus one more contact on the
    decision's channel (excluded when that exceeds the limit)."""
    return lambda action, ctx: (rule.used(ctx.pressure_entries(rule))
                                + rule.weight(ctx.channel.name))


def capacity(action: ActionPlan, channel: ChannelPlan, lowering: Lowering) -> PolicyRule:
    return PolicyRule(check_capacity, test("$eq", "cf", 1), test("$eq", "cf", 0),
                      (("cf", _full),))


POLICY_RULES = {
    check_holdout: holdout, check_eligibility: eligibility, check_validity: validity,
    check_placement: placement,
    check_consent: consent, check_quiet_hours: quiet_hours, check_repeat: repeat,
    check_suppression: suppression, check_pressure: pressure, check_capacity: capacity,
}
