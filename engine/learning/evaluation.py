"""What a candidate pack would have earned on logged decisions, pure.

A logged decision says who was asked for (contact, channel, placement,
context, time), which action the serving policy chose, with which probability
(``probability``: 1 when the policy was deterministic), and what it earned
(``reward``: 1 if the success outcome followed, or the outcome's value). The
candidate pack decides each one again as a dry run on the contact as logged;
the target probability of the logged action is 1 if the candidate chooses it
too, else 0 (a candidate with learned propensities and no learner is its
priors' greedy policy). The reward model of the doubly robust estimate is the
mean logged reward of each action.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from engine.decision.decide import decide
from engine.errors import EngineError
from engine.learning.estimators import (
    Estimate,
    LoggedRound,
    Support,
    doubly_robust,
    ipw,
    snipw,
    support,
)
from engine.model import ContactSnapshot, DecisionRequest


@dataclass(frozen=True)
class LoggedDecision:
    contact_id: str
    channel: str
    at: datetime
    action: str
    probability: float
    reward: float
    placement: str | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    rounds: int
    logged_value: float  # the mean reward the serving policy earned
    agreement: float  # share of rounds where the candidate chose the logged action
    estimates: tuple[Estimate, ...]
    support: Support
    unknown_actions: int  # candidate choices the logs never tried


def evaluate(plan: Any, logged: Iterable[LoggedDecision]) -> Evaluation:
    """IPW, SNIPW and DR estimates of ``plan``'s mean reward per decision."""
    logged = list(logged)
    if len(logged) < 2:
        raise EngineError("an evaluation needs at least two logged decisions")
    choices = [_candidate_choice(plan, item, number) for number, item in enumerate(logged)]
    model = _mean_rewards(logged)
    rounds = [LoggedRound(item.reward, item.probability, 1.0 if choice == item.action else 0.0,
                          model.get(item.action, 0.0), model.get(choice, 0.0) if choice else 0.0)
              for item, choice in zip(logged, choices, strict=True)]
    untried = sum(1 for choice in choices if choice is not None and choice not in model)
    unsupported = untried / len(rounds)
    return Evaluation(
        rounds=len(rounds), logged_value=sum(i.reward for i in logged) / len(logged),
        agreement=sum(r.target for r in rounds) / len(rounds),
        estimates=(ipw(rounds), snipw(rounds) if any(r.target for r in rounds)
                   else Estimate("snipw", 0.0, 0.0, 0.0, len(rounds)), doubly_robust(rounds)),
        support=support(rounds, unsupported_mass=unsupported), unknown_actions=untried)


def _candidate_choice(plan: Any, item: LoggedDecision, number: int) -> str | None:
    if item.channel not in plan.channels:
        return None
    snapshot = ContactSnapshot(item.contact_id, dict(item.profile), dict(item.consents),
                               known=True)
    request = DecisionRequest(contact_id=item.contact_id, channel=item.channel, at=item.at,
                              placement=item.placement, context=dict(item.context),
                              dry_run=True)
    decision = decide(plan, snapshot, request, f"evaluate-{number}")
    return decision.actions[0].action_id if decision.actions else None


def _mean_rewards(logged: list[LoggedDecision]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for item in logged:
        total = sums.setdefault(item.action, [0.0, 0.0])
        total[0] += item.reward
        total[1] += 1
    return {action: s / n for action, (s, n) in sums.items()}
