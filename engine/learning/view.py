"""Learned propensities inside one decision, pure: the contact's segment, one
posterior draw (or mean) per learned action, the reason each chosen one gives,
and the probability the policy had of choosing it.

Without a learner (pack tests, simulations on a throwaway store) a learned
propensity is its prior mean: answers stay deterministic.

Posteriors are computed at the decision's time truncated to the second (evidence
decays by at most 2 ** (1 s / half-life) - 1, under 0.02 % with the shortest
half-life of 1 h), so that decisions of the same second share them: the learner
keeps each (action, segment) posterior until the counts behind it change (its
refresh, or this process's own evidence) or the second does.
"""
from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from engine.decision.scoring import arbitration_score
from engine.learning.model import Learned, count_levels, segment_key
from engine.learning.posterior import Posterior, draw_rng, nested_posterior, weight_at

CHOICE_DRAWS = 50  # draws per estimate of a Thompson choice's probability


class LearningView:
    def __init__(self, plan: Any, scope: Any, decision_id: str):
        self.plan = plan
        self.learning = plan.learning
        self.scope = scope
        self.decision_id = decision_id
        learner = plan.learner
        self.counts = learner.counts(plan) if learner is not None else None
        self.exploring = self.counts is not None and self.learning.exploration == "thompson"
        self._segment: str | None = None
        self._rng: random.Random | None = None
        self._scale: float | None = None
        self._second: datetime | None = None
        self._levels: tuple[str, ...] | None = None
        self._posteriors = learner.posteriors(plan) if learner is not None else None
        self.used: dict[str, tuple[float, Posterior]] = {}

    @property
    def segment(self) -> str:
        """The contact's segment (``""`` when the pack has no ``segment_by``)."""
        if self._segment is None:
            values = [(name, expr.evaluate(self.scope)) for name, expr in self.learning.segment_by]
            self._segment = segment_key(values)
        return self._segment

    def posterior(self, action: Any) -> Posterior:
        """The action's posterior in the contact's segment (shared by the decisions of
        the same second while its counts stay the same objects)."""
        learned: Learned = action.propensity
        counts = self.counts or {}
        segment = self.segment
        if self._levels is None:  # once per decision: every learned candidate needs them
            self._levels = count_levels(segment)
        levels = tuple(counts.get((action.id, level)) for level in self._levels)
        if self._second is None:
            self._second = self.scope.now.replace(microsecond=0)
        key = (action.id, segment, learned.prior, self.learning.prior_weight)
        cache = self._posteriors
        found = cache.get(key) if cache is not None else None
        if (found is not None and found[1] == self._second
                and all(a is b for a, b in zip(found[0], levels, strict=True))):
            return found[2]
        belief = self._posterior(learned.prior, levels)
        if cache is not None:
            cache[key] = (levels, self._second, belief)
        return belief

    def _posterior(self, prior: float, levels: tuple) -> Posterior:
        """The action's posterior nested through the segment's levels (broadest first)."""
        learning, now = self.learning, self._second
        if self._scale is None:
            self._scale = weight_at(now, learning.half_life)
        return nested_posterior(prior, learning.prior_weight, list(levels), now,
                                learning.half_life, self._scale)

    def propensity(self, action: Any) -> float:
        """The propensity ``action`` scores with in this decision."""
        found = self.used.get(action.id)
        if found is not None:
            return found[0]
        belief = self.posterior(action)
        if self.exploring:
            if self._rng is None:  # one seed per decision; draws in candidate order
                self._rng = draw_rng(self.decision_id)
            value = belief.draw(self._rng)
        else:
            value = belief.mean
        self.used[action.id] = (value, belief)
        return value

    def reason(self, action: Any) -> str | None:
        found = self.used.get(action.id)
        if found is None:
            return None
        value, belief = found
        how = "drawn from" if self.exploring else "the mean of"
        where = f" of segment {self.segment}" if self.segment else ""
        source = "" if self.counts is not None else " (no learning store: the prior)"
        return (f"propensity {value:.4g} {how} the learned posterior{where}{source}: mean "
                f"{belief.mean:.4g}, evidence {belief.evidence:.4g} exposures, "
                f"{belief.successes:.4g} {action.propensity.success}")

    def choice_probability(self, ctx: Any, survivors: list, chosen_ids: list[str],
                           limit: int) -> dict[str, float]:
        """Per chosen action, the probability that a Thompson draw ranks it within
        ``limit``: exact (1) without exploration, else estimated from fresh draws,
        counting the decision's own draw among them (so never 0)."""
        if not self.exploring or len(survivors) <= limit:
            return {}
        learned = [i for i, (_, action) in enumerate(survivors)
                   if isinstance(action.propensity, Learned)]
        if not learned:
            return {}
        if self.plan.arbitration.reads_scope:
            return _probabilities(self._times_within(ctx, survivors, learned, limit),
                                  chosen_ids)
        # Scores that read nothing of the contact: the probability depends on the
        # candidates, the segment and the posteriors only; estimated once per refresh,
        # and the same draws answer for whichever actions a decision chose.
        key = (ctx.channel.name, self.segment, frozenset(a.id for _, a in survivors), limit)
        cache = self.plan.learner.choices(self.plan)
        within = cache.get(key)
        if within is None:
            within = cache[key] = self._times_within(ctx, survivors, learned, limit)
        return _probabilities(within, chosen_ids)

    def _times_within(self, ctx: Any, survivors: list, learned: list[int],
                      limit: int) -> dict[str, int]:
        """Per action, how many of CHOICE_DRAWS fresh Thompson draws rank it within
        ``limit`` (seeded by the decision id: a replay draws the same)."""
        rng = random.Random(f"{self.decision_id}\x1fchoice")
        beliefs = {i: self.used[survivors[i][1].id][1] if survivors[i][1].id in self.used
                   else self.posterior(survivors[i][1]) for i in learned}
        within: dict[str, int] = {}
        for _ in range(CHOICE_DRAWS):
            for action_id in self._ranked_ids(ctx, survivors, beliefs, rng)[:limit]:
                within[action_id] = within.get(action_id, 0) + 1
        return within

    def _ranked_ids(self, ctx: Any, survivors: list, beliefs: dict, rng) -> list[str]:
        scored = []
        for i, ((score, _), action) in enumerate(survivors):
            if i in beliefs:
                score = arbitration_score(self.plan.arbitration, beliefs[i].draw(rng), action,
                                          ctx.channel.cost, ctx.scope)
            scored.append((-score, -action.priority, action.index, action.id))
        scored.sort()
        return [item[3] for item in scored]


def _probabilities(within: dict[str, int], chosen_ids: list[str]) -> dict[str, float]:
    """Each chosen action's probability, counting the decision's own draw among the
    estimate's (so never 0 for a choice the draws never made)."""
    return {a: float(f"{(within.get(a, 0) + 1) / (CHOICE_DRAWS + 1):.6g}") for a in chosen_ids}
