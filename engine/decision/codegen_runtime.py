"""What generated decision functions may call: nothing else is in their namespace.

The namespace has no builtins. It holds the vocabulary's functions (bound by
the generator under names of its own), the value semantics of the expression
language (the very functions the closures use, so that both agree by
construction), and a few helpers for policy checks.
"""
from __future__ import annotations

import ast
from datetime import datetime, time, tzinfo
from types import MappingProxyType
from typing import Any, Sequence

from engine.decision.policies import _within
from engine.decision.scoring import as_number
from engine.language.expressions import _ARITHMETIC, _COMPARE, _contains, _negate, _walk
from engine.model import HistoryEntry
from engine.plan import PressureRule

_NUMBER = (int, float)


def _text_in(value: object, texts: frozenset[str]) -> bool:
    return value.__class__ is str and value in texts


def _text_not_in(value: object, texts: frozenset[str]) -> bool:
    return value.__class__ is str and value not in texts


def _num_lt(value: object, bound: float) -> bool:
    return type(value) in _NUMBER and value < bound  # type: ignore[operator]


def _num_le(value: object, bound: float) -> bool:
    return type(value) in _NUMBER and value <= bound  # type: ignore[operator]


def _num_gt(value: object, bound: float) -> bool:
    return type(value) in _NUMBER and value > bound  # type: ignore[operator]


def _num_ge(value: object, bound: float) -> bool:
    return type(value) in _NUMBER and value >= bound  # type: ignore[operator]


def _consent_given(contact: dict[str, Any], channel: str) -> object:
    consents = contact.get("consents")
    return consents.get(channel) if isinstance(consents, dict) else None


def _quiet(now: datetime, tz: tzinfo, start: time, end: time) -> bool:
    return _within(now.astimezone(tz).time(), start, end)


def _pressed(ctx: Any, rule: PressureRule, weight: float = 1.0) -> bool:
    """Whether one more contact weighing ``weight`` would exceed ``rule``."""
    return rule.used(ctx.pressure_entries(rule)) + weight > rule.limit


def _repeated(earlier: Sequence[HistoryEntry], since: datetime, most: int) -> bool:
    return sum(1 for e in earlier if e.at >= since) >= most


RUNTIME: dict[str, Any] = {
    "_eq": _COMPARE[ast.Eq], "_ne": _COMPARE[ast.NotEq],
    "_lt": _COMPARE[ast.Lt], "_le": _COMPARE[ast.LtE],
    "_gt": _COMPARE[ast.Gt], "_ge": _COMPARE[ast.GtE],
    "_in": _contains, "_not_in": _COMPARE[ast.NotIn],
    "_add": _ARITHMETIC[ast.Add], "_sub": _ARITHMETIC[ast.Sub],
    "_mul": _ARITHMETIC[ast.Mult], "_div": _ARITHMETIC[ast.Div], "_mod": _ARITHMETIC[ast.Mod],
    "_neg": _negate, "_walk": _walk, "_num": as_number,
    "_text_in": _text_in, "_text_not_in": _text_not_in,
    "_num_lt": _num_lt, "_num_le": _num_le, "_num_gt": _num_gt, "_num_ge": _num_ge,
    "_consent_given": _consent_given, "_quiet": _quiet, "_repeated": _repeated, "_pressed": _pressed,
    "_EMPTY": MappingProxyType({}),
}
