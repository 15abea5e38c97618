"""What authors see of learning (``GET /v1/learning``): per learned action and
segment, the posterior now, its evidence, and when it left its cold start."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from engine.learning.model import Learned, count_levels
from engine.learning.posterior import Counts, is_warm, nested_posterior


def learning_report(plan: Any, counts: Mapping[tuple[str, str], Counts],
                    now: datetime) -> dict[str, Any]:
    learning = plan.learning
    if learning is None:
        return {"pack": plan.name, "version": plan.version, "pack_hash": plan.hash,
                "learning": None, "actions": []}
    actions = []
    for action in plan.actions:
        if not isinstance(action.propensity, Learned):
            continue
        segments = sorted(segment for a, segment in counts if a == action.id and segment)
        actions.append({
            **_row(action, "", _belief(action, learning, counts, "", now),
                   counts.get((action.id, ""))),
            "segments": [_row(action, segment, _belief(action, learning, counts, segment, now),
                              counts.get((action.id, segment))) for segment in segments],
        })
    return {"pack": plan.name, "version": plan.version, "pack_hash": plan.hash,
            "learning": {"success": learning.success, "prior_weight": learning.prior_weight,
                         "half_life": learning.half_life_text,
                         "segment_by": [name for name, _ in learning.segment_by],
                         "exploration": learning.exploration},
            "actions": actions}


def _belief(action: Any, learning: Any, counts: Mapping[tuple[str, str], Counts],
            segment: str, now: datetime):
    """The posterior a decision in ``segment`` would use (the nesting of segments)."""
    return nested_posterior(action.propensity.prior, learning.prior_weight,
                            [counts.get((action.id, level)) for level in count_levels(segment)],
                            now, learning.half_life)


def _row(action: Any, segment: str, belief, counts: Counts | None) -> dict[str, Any]:
    row = {"action": action.id, "success": action.propensity.success,
           "prior": action.propensity.prior, "posterior_mean": round(belief.mean, 6),
           "evidence": round(belief.evidence, 3), "weighted_successes": round(belief.successes, 3),
           "exposures": counts.exposures if counts else 0,
           "successes": counts.successes if counts else 0,
           "cold": not is_warm(counts),
           "warm_since": counts.warm_at.isoformat() if counts and counts.warm_at else None}
    if segment:
        row["segment"] = segment
    else:
        row.pop("segment", None)
    return row
