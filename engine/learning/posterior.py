"""Learned propensities: Beta posteriors from decayed counts, pure.

Evidence ages: with a half-life ``h``, an exposure recorded at time ``t``
weighs ``2 ** ((t - EPOCH) / h)`` when it is added, and every sum is divided
by the weight of "now" when it is read. Stores therefore keep plain sums that
only ever grow by atomic increments, and the decayed count at any moment is
one division (no rewrite of old evidence, no scan of histories).

An action's posterior starts from its prior mean ``p0`` worth ``prior_weight``
pseudo-observations: Beta(p0 W + S, (1 - p0) W + N - S). Segments nest in the
order ``segment_by`` lists their attributes: with ``[a, b]``, the posterior of
``a=x`` starts from the action's posterior mean, and that of ``a=x,b=y`` from
the posterior mean of ``a=x``, each with the same weight. A segment with no
evidence behaves like its parent; a busy one goes its own way; a sparse one
borrows from the broader segment that shares its first attributes rather than
from every contact.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
# Adobe Journey Optimizer's cold start: an offer stays cold until 100 displays and 5 clicks.
WARM_EXPOSURES = 100
WARM_SUCCESSES = 5


def weight_at(at: datetime, half_life: timedelta) -> float:
    """The weight evidence recorded at ``at`` is added with."""
    return 2.0 ** ((at - EPOCH).total_seconds() / half_life.total_seconds())


@dataclass(frozen=True)
class Counts:
    """Stored sums for one action (and segment): scaled by ``weight_at``, and raw."""

    scaled_exposures: float = 0.0
    scaled_successes: float = 0.0
    exposures: int = 0
    successes: int = 0
    warm_at: datetime | None = None  # when it left its cold start

    def plus(self, other: Counts) -> Counts:
        return Counts(self.scaled_exposures + other.scaled_exposures,
                      self.scaled_successes + other.scaled_successes,
                      self.exposures + other.exposures, self.successes + other.successes,
                      self.warm_at or other.warm_at)


@dataclass(frozen=True)
class Posterior:
    """Beta(alpha, beta) with the decayed evidence behind it."""

    alpha: float
    beta: float
    evidence: float  # decayed exposures
    successes: float  # decayed successes

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def draw(self, rng: random.Random) -> float:
        return rng.betavariate(self.alpha, self.beta)


def posterior(prior_mean: float, prior_weight: float, counts: Counts | None,
              now: datetime, half_life: timedelta, scale: float | None = None) -> Posterior:
    """The posterior at ``now`` of a prior and decayed ``counts`` (``scale``: the
    ``weight_at(now, half_life)`` the caller computed already)."""
    exposures = successes = 0.0
    if counts is not None and counts.scaled_exposures > 0:
        scale = scale or weight_at(now, half_life)
        exposures = counts.scaled_exposures / scale
        successes = min(counts.scaled_successes / scale, exposures)
    prior_mean = min(max(prior_mean, 1e-6), 1 - 1e-6)
    return Posterior(prior_mean * prior_weight + successes,
                     (1 - prior_mean) * prior_weight + exposures - successes,
                     exposures, successes)


def nested_posterior(prior_mean: float, prior_weight: float,
                     levels: list[Counts | None], now: datetime, half_life: timedelta,
                     scale: float | None = None) -> Posterior:
    """The posterior of the last of ``levels`` (counts from the broadest, the action
    as a whole, to the narrowest segment), each level's prior the posterior mean
    of the one before."""
    scale = scale or weight_at(now, half_life)
    belief = posterior(prior_mean, prior_weight, levels[0], now, half_life, scale)
    for counts in levels[1:]:
        belief = posterior(belief.mean, prior_weight, counts, now, half_life, scale)
    return belief


def is_warm(counts: Counts | None) -> bool:
    return counts is not None and (counts.exposures >= WARM_EXPOSURES
                                   and counts.successes >= WARM_SUCCESSES)


def draw_rng(decision_id: str) -> random.Random:
    """The random source of one decision's draws: the same decision id draws the
    same values (explanations and replays agree)."""
    return random.Random(decision_id)


def interval(successes: float, trials: float) -> tuple[float, float]:
    """Wilson's 95 % interval of a rate."""
    if trials <= 0:
        return 0.0, 1.0
    z = 1.959964
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) \
        / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)
