"""Off-policy estimators: what a target policy would have earned, from rounds a
logging policy chose with known probabilities.

Each logged round says which action the logging policy took, with which
probability (``pscore``), what it earned (``reward``), and the probability the
target policy gives that action in that round (``target``). For the doubly
robust estimate, a reward model also gives its prediction for the logged
action (``predicted``) and the target policy's expected prediction over all
actions (``predicted_target``). The estimators follow the definitions of Open
Bandit Pipeline (Saito et al., 2020); the intervals are normal approximations
from the per-round terms (the delta method for the self-normalised form).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.959964
LOW_ESS_SHARE = 0.01  # an effective sample under 1 % of the rounds: too little support


@dataclass(frozen=True)
class LoggedRound:
    reward: float
    pscore: float
    target: float
    predicted: float = 0.0
    predicted_target: float = 0.0

    @property
    def weight(self) -> float:
        return self.target / self.pscore


@dataclass(frozen=True)
class Estimate:
    """An estimated value per round with its 95 % interval."""

    estimator: str
    value: float
    low: float
    high: float
    rounds: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Support:
    """How much of the logs the target policy can learn from."""

    rounds: int
    effective_rounds: float  # (sum w)^2 / sum w^2
    max_weight: float
    unsupported_mass: float  # target probability on actions the logs never try
    warnings: tuple[str, ...]


def _interval(name: str, terms: Sequence[float], value: float | None = None) -> Estimate:
    n = len(terms)
    if n < 2:
        raise ValueError("an estimate needs at least two logged rounds")
    mean = sum(terms) / n
    variance = sum((t - mean) ** 2 for t in terms) / (n - 1)
    centre = mean if value is None else value
    spread = Z95 * math.sqrt(variance / n)
    return Estimate(name, centre, centre - spread, centre + spread, n)


def _checked(rounds: Sequence[LoggedRound]) -> Sequence[LoggedRound]:
    for number, item in enumerate(rounds):
        if not 0 < item.pscore <= 1 or not 0 <= item.target <= 1:
            raise ValueError(f"round {number}: pscore must be in (0, 1] and target in [0, 1]")
    return rounds


def ipw(rounds: Sequence[LoggedRound]) -> Estimate:
    """Inverse propensity weighting: the mean of reward x target / pscore."""
    return _interval("ipw", [r.reward * r.weight for r in _checked(rounds)])


def snipw(rounds: Sequence[LoggedRound]) -> Estimate:
    """Self-normalised IPW: weighted rewards over the sum of weights (biased, but
    bounded by the rewards and much steadier when weights are large)."""
    rounds = _checked(rounds)
    weights = [r.weight for r in rounds]
    mean_weight = sum(weights) / len(weights)
    if mean_weight == 0:
        raise ValueError("the target policy never takes a logged action: no support")
    value = sum(r.reward * w for r, w in zip(rounds, weights, strict=True)) / sum(weights)
    terms = [w * (r.reward - value) / mean_weight + value
             for r, w in zip(rounds, weights, strict=True)]
    return _interval("snipw", terms, value)


def doubly_robust(rounds: Sequence[LoggedRound]) -> Estimate:
    """Doubly robust: the reward model's value of the target policy, corrected by
    the weighted residuals of the logged actions (unbiased if either the model or
    the propensities are right)."""
    return _interval("dr", [r.predicted_target + r.weight * (r.reward - r.predicted)
                            for r in _checked(rounds)])


def support(rounds: Sequence[LoggedRound], unsupported_mass: float = 0.0) -> Support:
    """The effective sample of the weights, the largest weight, and warnings when
    the logged probabilities leave too little support for the target policy.
    ``unsupported_mass``: the target's probability on actions the logging policy
    never takes (the caller knows both policies' distributions)."""
    weights = [r.weight for r in _checked(rounds)]
    total, squares = sum(weights), sum(w * w for w in weights)
    effective = total * total / squares if squares else 0.0
    warnings = []
    if effective < LOW_ESS_SHARE * len(weights):
        warnings.append(f"the weights leave an effective sample of {effective:.0f} of "
                        f"{len(weights)} rounds: the estimate rests on a few rounds")
    if unsupported_mass > 0.01:
        warnings.append(f"{unsupported_mass:.1%} of the target policy's choices are actions "
                        "the logs never tried: no estimator can see what they earn")
    return Support(len(weights), effective, max(weights, default=0.0), unsupported_mass,
                   tuple(warnings))
