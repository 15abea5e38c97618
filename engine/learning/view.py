"""Learned propensities inside one decision, pure: the contact's segment, one
posterior draw (or mean) per learned action, the reason each chosen one gives,
and the probability the policy had of choosing it.

Without a learner (pack tests, simulations on a throwaway store) a learned
propensity is its prior mean: answers stay deterministic.
"""
from __future__ import annotations

import random
from typing import Any

from engine.decision.scoring import arbitration_score
from engine.learning.model import Learned, segment_key, segment_levels
from engine.learning.posterior import Posterior, draw_rng, nested_posterior, weight_at

CHOICE_DRAWS = 50  # draws per estimate of a Thompson choice's probability


class LearningView:
    def __init__(self, plan: Any, scope: Any, decision_id: str):
        self.plan = plan
        self.learning = plan.learning
        self.scope = scope
        self.decision_id = decision_id
        self.counts = plan.learner.counts(plan) if plan.learner is not None else None
        self._segment: str | None = None
        self._rng: random.Random | None = None
        self._scale: float | None = None
        self.used: dict[str, tuple[float, Posterior]] = {}

    @property
    def exploring(self) -> bool:
        return self.counts is not None and self.learning.exploration == "thompson"

    @property
    def segment(self) -> str:
        """The contact's segment (``""`` when the pack has no ``segment_by``)."""
        if self._segment is None:
            values = [(name, expr.evaluate(self.scope)) for name, expr in self.learning.segment_by]
            self._segment = segment_key(values)
        return self._segment

    def posterior(self, action: Any) -> Posterior:
        learned: Learned = action.propensity
        learning = self.learning
        counts = self.counts or {}
        now = self.scope.now
        if self._scale is None:
            self._scale = weight_at(now, learning.half_life)
        levels = ["", *segment_levels(self.segment)]
        return nested_posterior(learned.prior, learning.prior_weight,
                                [counts.get((action.id, level)) for level in levels], now,
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
        learned = [i for i, (_, action) in enumerate(survivors)
                   if isinstance(action.propensity, Learned)]
        if not self.exploring or not learned or len(survivors) <= limit:
            return {}
        if self.plan.arbitration.reads_scope:
            return self._estimate(ctx, survivors, learned, chosen_ids, limit)
        # Scores that read nothing of the contact: the probability depends on the
        # candidates, the segment and the posteriors only; estimated once per refresh.
        key = (ctx.channel.name, self.segment, frozenset(a.id for _, a in survivors),
               tuple(chosen_ids), limit)
        cache = self.plan.learner.choices(self.plan)
        found = cache.get(key)
        if found is None:
            found = cache[key] = self._estimate(ctx, survivors, learned, chosen_ids, limit)
        return found

    def _estimate(self, ctx: Any, survivors: list, learned: list[int], chosen_ids: list[str],
                  limit: int) -> dict[str, float]:
        rng = random.Random(f"{self.decision_id}\x1fchoice")
        beliefs = {i: self.used[survivors[i][1].id][1] if survivors[i][1].id in self.used
                   else self.posterior(survivors[i][1]) for i in learned}
        wins = dict.fromkeys(chosen_ids, 1)
        for _ in range(CHOICE_DRAWS):
            for action_id in self._ranked_ids(ctx, survivors, beliefs, rng)[:limit]:
                if action_id in wins:
                    wins[action_id] += 1
        return {a: float(f"{n / (CHOICE_DRAWS + 1):.6g}") for a, n in wins.items()}

    def _ranked_ids(self, ctx: Any, survivors: list, beliefs: dict, rng) -> list[str]:
        scored = []
        for i, ((score, _), action) in enumerate(survivors):
            if i in beliefs:
                score = arbitration_score(self.plan.arbitration, beliefs[i].draw(rng), action,
                                          ctx.channel.cost, ctx.scope)
            scored.append((-score, -action.priority, action.index, action.id))
        scored.sort()
        return [item[3] for item in scored]
