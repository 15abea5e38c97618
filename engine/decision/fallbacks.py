"""Fallback actions: what an inbound channel shows when nothing else can be.

A pack names, per inbound channel and placement, an action to serve when no
action is eligible or when the contact store cannot be reached. A fallback is
never recorded: it cannot be checked against the contact's pressure, so it
does not count toward it either. Outbound channels have no fallback: without
their pressure check, nothing may be sent (they fail closed).
"""
from __future__ import annotations

from engine.decision.content import ContentRenderError
from engine.decision.decide import render_action
from engine.model import ChosenAction, Decision, DecisionRequest
from engine.plan import Plan

REASONS = {
    "nothing_eligible": "no action was eligible",
    "store_unavailable": "the contact store could not be reached",
}


def fallback_decision(plan: Plan, request: DecisionRequest, reason: str,
                      decided: Decision | None = None) -> Decision | None:
    """The pack's fallback for this request, or None if it names none (or it cannot render)."""
    action = plan.fallback(request.channel, request.placement)
    if action is None:
        return None
    facts = dict(decided.facts) if decided is not None else {}
    try:
        content = render_action(action, request.channel, dict(request.profile), facts,
                                dict(request.context))
    except ContentRenderError:
        return None
    slot = f"{request.channel}/{request.placement or 'default'}"
    chosen = ChosenAction(action.id, action.program, action.kind, request.channel, 0.0, content,
                          (f"fallback for {slot}: {REASONS[reason]}",))
    return Decision(actions=(chosen,), excluded=decided.excluded if decided else (),
                    facts=facts, fired=decided.fired if decided else (), fallback=reason,
                    exclusion_counts=decided.exclusion_counts if decided else {})
