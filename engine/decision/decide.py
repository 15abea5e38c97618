"""One decision: facts, candidate checks, arbitration, selection.

Pure: it reads a compiled plan, a contact snapshot and a request, and
returns a ``Decision`` with the reservation the service must record.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.decision.codegen import program_for
from engine.decision.content import ContentRenderError, render_content
from engine.decision.events import EventsView
from engine.decision.facts import derive_facts
from engine.decision.history import HistoryView
from engine.decision.policies import DecisionContext, check_pressure
from engine.decision.scoring import arbitration_score, as_number
from engine.errors import UnknownChannel
from engine.language.vocabulary import Scope
from engine.learning.model import Learned
from engine.learning.risk import points, risk_values
from engine.model import (
    CapacityClaim,
    ChosenAction,
    ContactSnapshot,
    Decision,
    DecisionRequest,
    Exclusion,
    HistoryEntry,
    Reservation,
    WindowCheck,
)
from engine.plan import ActionPlan, Plan
from engine.timeutil import zone


def contact_view(snapshot: ContactSnapshot, request: DecisionRequest) -> dict[str, Any]:
    """The stored profile with the request's attributes merged over it."""
    contact = {**snapshot.profile, **request.profile}
    consents = dict(snapshot.consents)
    extra = request.profile.get("consents")
    if isinstance(extra, dict):
        consents.update({k: v for k, v in extra.items() if isinstance(v, bool)})
    contact["consents"] = consents
    contact["id"] = request.contact_id
    return contact


def decide(plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest, decision_id: str,
           capacity_full: frozenset[str] = frozenset()) -> Decision:
    """Decide which actions ``request`` gets, given the contact's ``snapshot``: with
    the channel's generated function (engine.decision.codegen) unless the request
    asks for explanations or the channel has none."""
    ctx = open_decision(plan, snapshot, request, capacity_full, decision_id)
    program = None if request.explain else program_for(plan, ctx.channel.name)
    if program is None:
        return _decide_with_closures(ctx, request, decision_id)
    fired, scored, counts = program(ctx)
    scored.sort()  # (-score, -priority, index, ...): the order of rank(); indexes are unique
    survivors = [((-negated, propensity), action)
                 for negated, _, _, propensity, action in scored]
    return conclude_ranked(ctx, request, decision_id, fired, survivors, [], counts)


def decide_with_closures(plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
                         decision_id: str, capacity_full: frozenset[str] = frozenset()
                         ) -> Decision:
    """``decide`` with the plan's closures only (the reference the generated code is
    tested against, and the path of explanations)."""
    return _decide_with_closures(open_decision(plan, snapshot, request, capacity_full,
                                               decision_id), request, decision_id)


def _decide_with_closures(ctx: DecisionContext, request: DecisionRequest,
                          decision_id: str) -> Decision:
    plan = ctx.plan
    fired = derive_facts(plan.facts, ctx.scope)
    passed, excluded, counts = _screen(plan, ctx)
    return conclude(ctx, request, decision_id, fired, passed, excluded, counts)


def open_decision(plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
                  capacity_full: frozenset[str] = frozenset(), decision_id: str = ""
                  ) -> DecisionContext:
    """What every backend starts a decision from: the channel, the contact as the
    request sees it, its history and clock, with no fact derived yet."""
    channel = plan.channels.get(request.channel)
    if channel is None:
        raise UnknownChannel(request.channel, tuple(plan.channels))
    contact = contact_view(snapshot, request)
    tz_name = contact.get("timezone")
    tz = (zone(tz_name) if isinstance(tz_name, str) else None) or plan.tz
    history = HistoryView(snapshot.history, request.at, snapshot.outcome_log, snapshot.stamps)
    events = EventsView(snapshot.events, request.at) if snapshot.events else None
    scope = Scope(contact, request.context, {}, history, request.at, tz, events)
    ctx = DecisionContext(plan, scope, channel, request.placement, capacity_full,
                          request.explain)
    ctx.only = request.actions
    ctx.decision_id = decision_id
    if plan.reads_risk:
        ctx.pressure_points = points(snapshot.history, request.at, plan.risk_weights)
        scope.names["risk"] = risk_values(plan, channel.name, ctx.pressure_points, request.at)
    costs = getattr(plan, "costs", None)
    if costs:
        scope.names["costs"] = dict(costs)
    return ctx


def conclude(ctx: DecisionContext, request: DecisionRequest, decision_id: str,
             fired: list[str], passed: list[ActionPlan], excluded: list[Exclusion],
             counts: dict[str, int]) -> Decision:
    """Score and rank the candidates that passed every check, select, and build the
    decision with its reservation (shared by every backend). ``counts`` holds the
    screening exclusions by policy category; selection adds its own."""
    return conclude_ranked(ctx, request, decision_id, fired, rank(ctx, passed), excluded, counts)


def conclude_ranked(ctx: DecisionContext, request: DecisionRequest, decision_id: str,
                    fired: list[str], survivors: list, excluded: list[Exclusion],
                    counts: dict[str, int]) -> Decision:
    """``conclude`` for candidates already scored and ranked (see ``rank``)."""
    screened = len(excluded)
    chosen = _select(survivors, ctx, request, excluded)
    logged = {} if ctx.learning is None or not chosen else ctx.learning.choice_probability(
        ctx, survivors, [c.action_id for c in chosen], request.limit)
    for exclusion in excluded[screened:]:
        counts[exclusion.policy] = counts.get(exclusion.policy, 0) + 1
    return Decision(
        actions=tuple(chosen),
        excluded=tuple(excluded) if request.explain else (),
        facts=dict(ctx.scope.facts), fired=tuple(fired),
        reservation=_reservation(ctx.plan, ctx, request, decision_id, chosen, logged),
        exclusion_counts=counts, experiments=ctx.assignments(chosen),
        pressure_points=ctx.pressure_points,
    )


def _screen(plan: Plan, ctx: DecisionContext
            ) -> tuple[list[ActionPlan], list[Exclusion], dict[str, int]]:
    """Every candidate through its checks: those that passed, the exclusions, and
    how many each policy category made."""
    excluded: list[Exclusion] = []
    counts: dict[str, int] = {}
    passed = []
    only = ctx.only
    for action, checks in plan.candidates[ctx.channel.name]:
        if only is not None and action.id not in only:
            continue
        for check in checks:
            exclusion = check(action, ctx)
            if exclusion is not None:
                counts[exclusion.policy] = counts.get(exclusion.policy, 0) + 1
                if ctx.explain:
                    excluded.append(exclusion)
                break
        else:
            passed.append(action)
    return passed, excluded, counts


def rank(ctx: DecisionContext, passed: list[ActionPlan]) -> list:
    """((score, propensity), action) for each candidate, best first: score, then
    priority, then pack order."""
    survivors = [(_score(ctx.plan, action, ctx), action) for action in passed]
    survivors.sort(key=_rank_key)
    return survivors


def _rank_key(item: tuple) -> tuple:
    return (-item[0][0], -item[1].priority, item[1].index)


def _score(plan: Plan, action: ActionPlan, ctx: DecisionContext) -> tuple[float, float]:
    """(score, propensity) of a candidate under the pack's arbitration formula."""
    fixed = action.fixed_scores.get(ctx.channel.name)
    if fixed is not None:
        return fixed, action.propensity  # type: ignore[return-value]
    propensity = action.propensity
    if isinstance(propensity, Learned):
        propensity = ctx.learned(action)
    elif not isinstance(propensity, float):
        propensity = as_number(propensity.evaluate(ctx.scope))
    return arbitration_score(plan.arbitration, propensity, action, ctx.channel.cost,
                             ctx.scope), propensity


def _select(survivors, ctx: DecisionContext, request: DecisionRequest,
            excluded: list[Exclusion]) -> list[ChosenAction]:
    chosen: list[ChosenAction] = []
    groups: dict[str, str] = {}
    pending: dict[str, int] = {}
    for rank, ((score, propensity), action) in enumerate(survivors, start=1):
        if len(chosen) >= request.limit and not request.explain:
            break
        if action.group is not None and action.group in groups:
            excluded.append(Exclusion(action.id, ctx.channel.name, "group", action.group,
                                      f"{groups[action.group]} was chosen from the same group "
                                      f"{action.group}; one action per group."))
            continue
        if len(chosen) >= request.limit:
            continue  # ranked below the limit; only group exclusions are still reported
        floor = ctx.plan.min_score
        if floor is not None and score < floor:
            excluded.append(Exclusion(action.id, ctx.channel.name, "score", "min_score",
                                      f"Its score {score:.4g} is below the pack's min_score "
                                      f"{floor:g}: sending it is expected to cost more than "
                                      "it brings."))
            continue
        blocked = check_pressure(action, ctx, pending)
        if blocked is not None:
            excluded.append(blocked)
            continue
        try:
            content = _render(action, ctx)
        except ContentRenderError as exc:
            excluded.append(Exclusion(action.id, ctx.channel.name, "eligibility", action.id,
                                      f"The content of {action.id} could not be written for "
                                      f"this contact: {exc}."))
            continue
        chosen.append(_chosen(action, ctx, score, propensity, rank, len(survivors), content))
        if action.group is not None:
            groups[action.group] = action.id
        _hold_pressure(action, ctx, pending)
    return chosen


def _hold_pressure(action: ActionPlan, ctx: DecisionContext, pending: dict[str, float]) -> None:
    channel = ctx.channel.name
    for rule in action.pressure_rules[channel]:
        pending[rule.id] = pending.get(rule.id, 0) + rule.weight(channel)


def _render(action: ActionPlan, ctx: DecisionContext) -> Any:
    found = ctx.variant(action) if ctx.plan.experiments else None
    content = found[0].contents[found[1]] if found else None
    return render_action(action, ctx.channel.name, ctx.scope.contact, ctx.scope.facts,
                         ctx.scope.context, content)


def render_action(action: ActionPlan, channel: str, contact: Mapping[str, Any],
                  facts: Mapping[str, Any], context: Mapping[str, Any],
                  variant: Mapping[str, Any] | None = None) -> Any:
    """The action's content for ``channel`` (or its default), rendered in the sandbox;
    ContentRenderError if a template fails. ``variant``: an experiment variant's
    content, used where it has a template for the channel."""
    template = None
    if variant:
        template = variant.get(channel, variant.get("default"))
    if template is None:
        template = action.content.get(channel, action.content.get("default"))
    if template is None:
        return {}
    variables = {"contact": contact, "facts": facts, "context": context,
                 "action": {"id": action.id, "program": action.program}}
    return render_content(template, variables)


def _chosen(action: ActionPlan, ctx: DecisionContext, score: float, propensity: float,
            rank: int, eligible: int, content: Any) -> ChosenAction:
    condition = action.when.source.strip() if action.when else "no condition"
    reasons = (
        f"eligible: {condition}",
        f"score {score:.6g} = {ctx.plan.arbitration.source} with propensity {propensity:.6g}, "
        f"value {action.value:g}, priority {action.priority:g}, cost {ctx.channel.cost:g}",
        f"ranked {rank} of {eligible} eligible action(s) on {ctx.channel.name}",
    )
    learned = ctx.learning.reason(action) if ctx.learning is not None else None
    if learned is not None:
        reasons = reasons[:2] + (learned,) + reasons[2:]
    found = ctx.variant(action) if ctx.plan.experiments else None
    if found is not None:
        reasons += (f"content of variant {found[1]} of experiment {found[0].id}",)
    return ChosenAction(action.id, action.program, action.kind, ctx.channel.name,
                        round(score, 6), content, reasons)


def _reservation(plan: Plan, ctx: DecisionContext, request: DecisionRequest, decision_id: str,
                 chosen: list[ChosenAction], logged: dict[str, float]) -> Reservation | None:
    if not chosen:
        return None
    channel = ctx.channel
    actions = [plan.action(c.action_id) for c in chosen]
    learning = ctx.learning
    at, ts = request.at, request.at.timestamp()
    entries = tuple(
        HistoryEntry.restore(decision_id, a.id, a.program, a.kind, channel.name, at,
                             request.placement, (), ts, journey_id=request.journey_id,
                             run_id=request.run_id, step_id=request.step_id,
                             segment=(learning.segment or None)
                             if learning and a.id in learning.used else None,
                             probability=logged.get(a.id)) for a in actions)
    rules = {rule.id: rule for a in actions for rule in a.pressure_rules[channel.name]}
    checks = [rule.window_check(ctx.window_start(rule)) for rule in rules.values()]
    checks += [WindowCheck(a.id, "repeat", ctx.now - a.repeat.within, a.repeat.max,
                           actions=frozenset({a.id})) for a in actions if a.repeat]
    capacity = ()
    if channel.capacity_per_day is not None:
        day = ctx.now.astimezone(ctx.tz).date().isoformat()
        capacity = tuple(CapacityClaim(channel.name, day, channel.capacity_per_day)
                         for _ in actions)
    horizon = plan.history_horizon
    keep_since = None if horizon is None else ctx.now - horizon
    return Reservation(request.contact_id, entries, tuple(checks), capacity, keep_since)
