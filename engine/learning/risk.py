"""The cost of pressure, pure: ``risk.unsubscribe`` and ``risk.complaint``, the
learned probability that one more message on a channel leads to an
unsubscription or a complaint, given the contact's pressure of the last 7 days.

Pressure is counted in points: the weights of the pack's first weighted budget
(one point per marketing contact without one). Contacts are grouped by points
(0, 1-2, 3-5, 6-9, 10 or more); per channel and group, a Beta posterior learns
from every marketing message recorded (an exposure) and every unsubscription or
complaint reported on one, with the pack's ``learning:`` half-life. Its prior is
a low rate worth many observations, so that a few early unsubscriptions do not
stop a channel.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from engine.learning.posterior import posterior
from engine.model import MARKETING_KINDS

WINDOW = timedelta(days=7)
BOUNDS = (0, 1, 3, 6, 10)  # each group's lowest points
RISKS = {"unsubscribe": ("unsubscribed", 0.002), "complaint": ("complained", 0.0005)}
OUTCOMES = {outcome: name for name, (outcome, _) in RISKS.items()}
PRIOR_WEIGHT = 2000.0


def points(entries: Iterable[Any], now: datetime, weights: Any) -> float:
    """The marketing pressure of ``entries`` in the 7 days before ``now``."""
    since = now - WINDOW
    return sum((1.0 if weights is None else weights.get(e.channel, 0.0))
               for e in entries
               if since <= e.at < now and e.kind in MARKETING_KINDS and not e.failed)


def group(value: float) -> str:
    """``p3``: the group of contacts with 3 to 5 points."""
    return "p" + str(max(b for b in BOUNDS if value >= b))


def key(outcome: str, channel: str) -> str:
    """The pseudo-action risk counts are kept under, beside the actions' own."""
    return f"risk:{outcome}:{channel}"


def risk_values(plan: Any, channel: str, pressure: float, now: datetime) -> dict[str, float]:
    """What ``risk.*`` reads in the arbitration formula for one more ``channel`` message."""
    counts = plan.learner.counts(plan) if plan.learner is not None else {}
    learning = plan.learning
    values = {}
    for name, (outcome, prior) in RISKS.items():
        belief = posterior(prior, PRIOR_WEIGHT, counts.get((key(outcome, channel),
                                                              group(pressure))),
                           now, learning.half_life)
        values[name] = belief.mean
    return values
