"""What a pack says about learning: its ``learning:`` section and ``learned(p)``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

EXPLORATIONS = ("thompson", "greedy")


@dataclass(frozen=True)
class Learned:
    """``propensity: learned(prior)``: the posterior of the action's successes
    replaces the prior mean as evidence arrives."""

    prior: float
    success: str  # the outcome that counts as a success for this action

    @property
    def source(self) -> str:
        return f"learned({self.prior!r})"


@dataclass(frozen=True)
class LearningPlan:
    success: str = "converted"
    prior_weight: float = 20.0
    half_life: timedelta = timedelta(days=30)
    half_life_text: str = "30d"
    # (name, expression) pairs: one posterior per combination of their values.
    segment_by: tuple[tuple[str, Any], ...] = ()
    exploration: str = "thompson"

    @cached_property
    def counts_key(self) -> str:
        """What counts are kept under, beside the pack name: sums scaled with another
        half-life cannot be added to these (computed once: every decision asks)."""
        return f"h{int(self.half_life.total_seconds())}"


def count_levels(segment: str | None) -> tuple[str, ...]:
    """Where evidence in ``segment`` counts, broadest first: ``""`` (the action as
    a whole), then each segment it nests in, itself last: ``("", "lifecycle=new",
    "lifecycle=new,segment=vip")`` for ``segment_by: [facts.lifecycle,
    contact.segment]``, ``("",)`` without segments. Values never hold a comma
    (``segment_key``), so the key splits back into its parts."""
    if not segment:
        return ("",)
    parts = segment.split(",")
    return ("", *(",".join(parts[:size]) for size in range(1, len(parts) + 1)))


def segment_key(values: list[tuple[str, Any]]) -> str:
    """``lifecycle=active,segment=vip``: a segment as stored and reported."""
    return ",".join(f"{name}={_text(value)}" for name, value in values)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace(",", " ").replace("=", " ").replace("\x1f", " ")[:60]
