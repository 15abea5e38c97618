"""The checks every candidate (action, channel) goes through, one per policy.

Each check returns None when the candidate passes, or an ``Exclusion`` naming
the policy category, the pack rule responsible, a sentence an agent can read
and, where it can be computed, when the candidate becomes eligible again.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Callable

from engine.decision.history import HistoryView
from engine.language.vocabulary import Scope
from engine.learning.experiments import CONTROL, arm_of
from engine.model import POLICIES, Exclusion, HistoryEntry
from engine.plan import ActionPlan, ChannelPlan, Plan, PressureRule, SuppressRule
from engine.timeutil import isoformat


class DecisionContext:
    """What the checks of one decision share, with per-decision caches."""

    def __init__(self, plan: Plan, scope: Scope, channel: ChannelPlan, placement: str | None,
                 capacity_full: frozenset[str], explain: bool = True):
        self.plan = plan
        self.explain = explain
        self.scope = scope
        self.channel = channel
        self.placement = placement
        self.capacity_full = capacity_full
        # The candidate action ids a journey step restricts the decision to.
        self.only: frozenset[str] | None = None
        self.now: datetime = scope.now
        self.tz: tzinfo = scope.tz
        self.history: HistoryView = scope.history
        self._pressure: dict[str, list[HistoryEntry]] = {}
        self._window_starts: dict[str, datetime] = {}
        self._suppressions: dict[str, dict[str | None, tuple[HistoryEntry, Any]]] = {}
        self._recent: dict[str, list[HistoryEntry]] | None = None
        self._may_suppress: bool | None = None
        self.decision_id = ""
        self.learning: Any = None  # engine.learning.view.LearningView, on first use
        self._held_out: frozenset[str] | None = None
        self.pressure_points: float | None = None

    def variant(self, action: Any) -> tuple[Any, str] | None:
        """(experiment, arm) when a variants experiment varies ``action``'s content."""
        for experiment in self.plan.experiments:
            if experiment.kind == "variants" and experiment.action == action.id:
                winner = self.plan.winners.get(experiment.id)
                return experiment, arm_of(experiment, self.scope.contact.get("id", ""), winner)
        return None

    def assignments(self, chosen: list) -> dict[str, str]:
        """The arms this decision's contact is in: every holdout, and the variants
        experiments of the chosen actions."""
        if not self.plan.experiments:
            return {}
        contact_id = self.scope.contact.get("id", "")
        arms = {e.id: arm_of(e, contact_id) for e in self.plan.experiments
                if e.kind == "holdout"}
        for action in chosen:
            found = self.variant(self.plan.action(action.action_id))
            if found is not None:
                arms[found[0].id] = found[1]
        return arms

    def held_out(self) -> frozenset[str]:
        """The holdout experiments whose control group the contact is in."""
        if self._held_out is None:
            contact_id = self.scope.contact.get("id", "")
            self._held_out = frozenset(
                e.id for e in self.plan.experiments
                if e.kind == "holdout" and arm_of(e, contact_id) == CONTROL)
        return self._held_out

    def learned(self, action: Any) -> float:
        """The propensity of an action whose propensity is ``learned(p)``."""
        if self.learning is None:
            from engine.learning.view import LearningView

            self.learning = LearningView(self.plan, self.scope, self.decision_id)
        return self.learning.propensity(action)

    def pressure_entries(self, rule: PressureRule) -> list[HistoryEntry]:
        """Existing entries that count toward ``rule`` now, oldest first."""
        found = self._pressure.get(rule.id)
        if found is None:
            start = self.window_start(rule)
            found = [e for e in self.history.since(start)
                     if not e.failed and rule.applies_to(e.kind, e.channel, e.program)]
            self._pressure[rule.id] = found
        return found

    def window_start(self, rule: PressureRule) -> datetime:
        """Where ``rule``'s window starts now (computed once per decision)."""
        start = self._window_starts.get(rule.id)
        if start is None:
            start = self._window_starts[rule.id] = rule.window_start(self.now, self.tz)
        return start

    def may_suppress(self) -> bool:
        """Whether any outcome could trigger a suppression rule of the pack now."""
        if self._may_suppress is None:
            self._may_suppress = any(self.suppressions(rule) for rule in self.plan.suppress)
        return self._may_suppress

    def recent_by_action(self) -> dict[str, list[HistoryEntry]]:
        """Live entries within the pack's longest repeat window, by action, oldest first."""
        if self._recent is None:
            self._recent = {}
            if self.plan.longest_repeat is not None:
                for entry in self.history.since(self.now - self.plan.longest_repeat):
                    if not entry.failed:
                        self._recent.setdefault(entry.action_id, []).append(entry)
        return self._recent

    def suppressions(self, rule: SuppressRule) -> dict[str | None, tuple[HistoryEntry, Any]]:
        """The latest triggering (entry, outcome) of ``rule`` in its period, keyed by
        what it suppresses: the action id, the program, or None for everything."""
        found = self._suppressions.get(rule.id)
        if found is None:
            found = {}
            for _, outcome, entry in self.history.outcomes_since(self.now - rule.period):
                if outcome.outcome in rule.after:
                    found[_suppression_key(rule.scope, entry)] = (entry, outcome)
            self._suppressions[rule.id] = found
        return found


def _suppression_key(scope: str, entry: HistoryEntry) -> str | None:
    if scope == "action":
        return entry.action_id
    return entry.program if scope == "program" else None


# What a check returns when the caller did not ask why (no reason is built).
# Without explain, one shared exclusion per policy category: it says which
# category left the candidate out (for metrics) without building any sentence.
EXCLUDED = {policy: Exclusion("", "", policy, "", "") for policy in POLICIES}


def _exclude(action: ActionPlan, ctx: DecisionContext, policy: str, rule: str,
             reason: Callable[[], str], again: Callable[[], datetime | None] | None = None
             ) -> Exclusion:
    """The exclusion, with its sentence and date built only when explaining."""
    if not ctx.explain:
        return EXCLUDED[policy]
    return Exclusion(action.id, ctx.channel.name, policy, rule, reason(),
                     again() if again else None)


def check_holdout(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    held = ctx.held_out()
    experiment = next((e for e in action.holdouts if e in held), None)
    if experiment is None:
        return None
    return _exclude(action, ctx, "holdout", experiment,
                    lambda: f"The contact is in the control group of experiment {experiment}: "
                            f"it gets no {action.kind} action from this program, so that the "
                            f"program's effect can be measured against it.")


def check_eligibility(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    if action.when is None or action.when.evaluate(ctx.scope):
        return None
    if not ctx.explain:
        return EXCLUDED["eligibility"]  # the most common exclusion: skip building its reason
    return _exclude(action, ctx, "eligibility", action.id,
                    lambda: f"The contact does not meet the condition of {action.id}: "
                            f"{action.when.source.strip()}.")


def check_validity(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    if action.valid_from is not None and ctx.now < action.valid_from:
        return _exclude(action, ctx, "validity", action.id,
                        lambda: f"{action.id} is not valid before "
                                f"{isoformat(action.valid_from)}.",
                        lambda: action.valid_from)
    if action.valid_until is not None and ctx.now >= action.valid_until:
        return _exclude(action, ctx, "validity", action.id,
                        lambda: f"{action.id} expired at {isoformat(action.valid_until)}.")
    return None


def check_placement(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    if not action.placements or ctx.placement in action.placements:
        return None
    return _exclude(action, ctx, "placement", action.id,
                    lambda: f"{action.id} only fills {', '.join(sorted(action.placements))}; "
                            f"the request is for "
                            f"{f'placement {ctx.placement}' if ctx.placement else 'no placement'}.")


def check_consent(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    consents = ctx.scope.contact.get("consents")
    given = consents.get(ctx.channel.name) if isinstance(consents, dict) else None
    name = ctx.channel.name
    if action.marketing:
        if given is True or (ctx.channel.consent == "opt_out" and given is not False):
            return None
        why = "has refused" if given is False else "has not agreed to"
        return _exclude(action, ctx, "consent", f"{name}.consent",
                        lambda: f"The contact {why} marketing by {name}.")
    if action.respect_opt_out and given is False:
        return _exclude(action, ctx, "consent", f"{name}.consent",
                        lambda: f"The contact has opted out of {name}, and {action.id} "
                                "respects opt-outs.")
    return None


def check_quiet_hours(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    quiet = ctx.channel.quiet_hours
    if quiet is None or not action.marketing:
        return None
    local = ctx.now.astimezone(ctx.tz)
    start, end = quiet
    if not _within(local.time(), start, end):
        return None
    return _exclude(action, ctx, "quiet_hours", f"{ctx.channel.name}.quiet_hours",
                    lambda: f"It is {local:%H:%M} for the contact, inside the "
                            f"{ctx.channel.name} quiet hours ({ctx.channel.quiet_hours_text}).",
                    lambda: _quiet_end(local, end, ctx.tz))


def _within(now: time, start: time, end: time) -> bool:
    return start <= now < end if start < end else (now >= start or now < end)


def _quiet_end(local: datetime, end: time, tz: tzinfo) -> datetime:
    moment = datetime(local.year, local.month, local.day, end.hour, end.minute, tzinfo=tz)
    return moment if moment > local else moment + timedelta(days=1)


def check_repeat(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    rule = action.repeat
    earlier = ctx.recent_by_action().get(action.id)
    if rule is None or earlier is None:
        return None
    since = ctx.now - rule.within
    shown = [e for e in earlier if e.at >= since]
    if len(shown) < rule.max:
        return None
    return _exclude(action, ctx, "repeat", action.id,
                    lambda: f"{action.id} was already presented {len(shown)} time(s) "
                            f"recently; the pack allows {rule.text}.",
                    lambda: shown[len(shown) - rule.max].at + rule.within)


def check_suppression(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    if not ctx.may_suppress():
        return None  # no refusal, complaint or the like within any suppression period
    for rule in action.suppress_rules[ctx.channel.name]:
        key = action.id if rule.scope == "action" else (
            action.program if rule.scope == "program" else None)
        hit = ctx.suppressions(rule).get(key)
        if hit is not None:
            return _suppressed(action, ctx, rule, hit)
    return None


def _suppressed(action: ActionPlan, ctx: DecisionContext, rule, hit) -> Exclusion:
    entry, outcome = hit
    return _exclude(action, ctx, "suppression", rule.id,
                    lambda: f"The contact {outcome.outcome} {entry.action_id} on "
                            f"{isoformat(outcome.at)[:10]}; {_scope_text(rule.scope, action)} "
                            f"is suppressed for {rule.period.days} day(s).",
                    lambda: outcome.at + rule.period)


def _scope_text(scope: str, action: ActionPlan) -> str:
    return {"action": f"{action.id}", "program": f"the {action.program} program"}.get(
        scope, f"{action.kind} messages")


def check_pressure(action: ActionPlan, ctx: DecisionContext,
                   pending: dict[str, float] | None = None) -> Exclusion | None:
    channel = ctx.channel.name
    for rule in action.pressure_rules[channel]:
        entries = ctx.pressure_entries(rule)
        extra = pending.get(rule.id, 0) if pending else 0
        if rule.used(entries) + extra + rule.weight(channel) > rule.limit:
            return _over_pressure(action, ctx, rule, entries, extra)
    return None


def _over_pressure(action: ActionPlan, ctx: DecisionContext, rule: PressureRule,
                   entries: list[HistoryEntry], extra: int) -> Exclusion:
    if rule.weights is not None:
        return _exclude(action, ctx, "pressure", rule.id,
                        lambda: _budget_reason(rule, entries, extra, ctx.channel.name),
                        lambda: _budget_frees_at(rule, entries, extra, ctx.channel.name, ctx.tz))
    return _exclude(action, ctx, "pressure", rule.id,
                    lambda: _pressure_reason(rule, entries, extra),
                    lambda: _pressure_frees_at(rule, entries, extra, ctx.tz))


def _budget_reason(rule: PressureRule, entries: list[HistoryEntry], extra: float,
                   channel: str) -> str:
    also = " with the actions already chosen in this answer" if extra else ""
    return (f"Contact pressure budget {rule.id}: {rule.used(entries) + extra:g} of "
            f"{rule.limit:g} points used in the window of {_span_text(rule.per)}{also}; "
            f"{channel} costs {rule.weight(channel):g}.")


def _budget_frees_at(rule: PressureRule, entries: list[HistoryEntry], extra: float,
                     channel: str, tz: tzinfo) -> datetime | None:
    """When enough of the oldest entries leave the window for one more ``channel``."""
    over = rule.used(entries) + extra + rule.weight(channel) - rule.limit
    for entry in entries:
        over -= rule.weight(entry.channel)
        if over <= 0:
            return rule.expires_at(entry.at, tz)
    return None  # the budget is held by this answer itself, or one contact exceeds it


def _pressure_reason(rule: PressureRule, entries: list[HistoryEntry], extra: int) -> str:
    also = " with the actions already chosen in this answer" if extra else ""
    if rule.min_gap is not None:
        last = f" (last on {isoformat(entries[-1].at)})" if entries else ""
        return (f"Contact pressure rule {rule.id}: contacts must be at least "
                f"{_span_text(rule.min_gap)} apart{last}{also}.")
    window = "calendar " if rule.calendar else ""
    return (f"Contact pressure rule {rule.id}: {len(entries) + extra} contact(s) already "
            f"in the {window}window of {_span_text(rule.per)}{also}; at most {rule.max} allowed.")


def _pressure_frees_at(rule: PressureRule, entries: list[HistoryEntry], extra: int,
                       tz: tzinfo) -> datetime | None:
    over = len(entries) + extra + 1 - rule.limit
    if over > len(entries) or over <= 0:
        return None  # the slots are held by this answer itself
    return max(rule.expires_at(e.at, tz) for e in entries[:over])


def _span_text(span: timedelta | None) -> str:
    if span is None:
        return ""
    if span % timedelta(days=1) == timedelta(0):
        return f"{span.days} day(s)"
    return f"{span // timedelta(hours=1)} hour(s)" if span % timedelta(hours=1) == timedelta(0) \
        else f"{span // timedelta(minutes=1)} minute(s)"


def check_capacity(action: ActionPlan, ctx: DecisionContext) -> Exclusion | None:
    channel = ctx.channel
    if channel.capacity_per_day is None or channel.name not in ctx.capacity_full:
        return None
    return _exclude(action, ctx, "capacity", f"{channel.name}.capacity_per_day",
                    lambda: f"The {channel.name} channel has used its capacity of "
                            f"{channel.capacity_per_day} for today.",
                    lambda: _next_local_midnight(ctx.now, ctx.tz))


def _next_local_midnight(now: datetime, tz: tzinfo) -> datetime:
    local = now.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)


CHECKS = (check_holdout, check_eligibility, check_validity, check_placement, check_consent,
          check_quiet_hours, check_repeat, check_suppression, check_pressure, check_capacity)


def checks_for(action: ActionPlan, channel: ChannelPlan) -> tuple[Callable, ...]:
    """The checks that can exclude ``action`` on ``channel``, in policy order.

    The others cannot fail for this pair (no condition, no dates, no rule that
    applies...), so a decision does not call them.
    """
    relevant = {
        check_holdout: bool(action.holdouts),
        check_eligibility: action.when is not None,
        check_validity: action.valid_from is not None or action.valid_until is not None,
        check_placement: bool(action.placements) and channel.inbound,
        check_consent: action.marketing or action.respect_opt_out,
        check_quiet_hours: action.marketing and channel.quiet_hours is not None,
        check_repeat: action.repeat is not None,
        check_suppression: bool(action.suppress_rules.get(channel.name)),
        check_pressure: bool(action.pressure_rules.get(channel.name)),
        check_capacity: channel.capacity_per_day is not None,
    }
    return tuple(check for check in CHECKS if relevant[check])
