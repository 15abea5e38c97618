"""Primitive checks a pack compiler uses; each records a located problem."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from engine.errors import ExpressionSyntaxError, PackProblem
from engine.language.durations import parse_duration
from engine.language.expressions import Expression, compile_expression
from engine.language.loader import LocatedYAML, Path, format_path

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$")
_INVALID = object()


class Checker:
    """Collects every problem of a pack instead of stopping at the first."""

    def __init__(self, doc: LocatedYAML):
        self.doc = doc
        self.problems: list[PackProblem] = []

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(
            PackProblem(self.doc.filename, self.doc.line_of(path), format_path(path), message,
                        self.doc.column_of(path)))

    def mapping(self, path: Path, value: Any, allowed: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, Any] | None:
        """``value`` as a mapping with only ``allowed`` keys, or None."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {_kind_of(value)}")
            return None
        allowed = allowed if isinstance(allowed, tuple) else tuple(allowed)
        for key in value:
            if key not in allowed:
                self.problem(path + (key,), f"unknown key {key!r}; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.problem(path, f"missing required key {key!r}")
        return value

    def sequence(self, path: Path, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list, got {_kind_of(value)}")
            return []
        return value

    def identifier(self, path: Path, value: Any) -> str | None:
        if isinstance(value, str) and IDENTIFIER.match(value):
            return value
        self.problem(path, f"{value!r} is not a valid id: start with a letter, then letters, "
                           "digits, _ or - (at most 100)")
        return None

    def text(self, path: Path, value: Any) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.problem(path, f"expected a non-empty text, got {_kind_of(value)}")
        return None

    def number(self, path: Path, value: Any, low: float | None = None,
               high: float | None = None) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, f"expected a number, got {_kind_of(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.problem(path, f"{value} is out of range {low}..{high}")
            return None
        return float(value)

    def integer(self, path: Path, value: Any, low: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.problem(path, f"expected a whole number of at least {low}, got {value!r}")
            return None
        return value

    def boolean(self, path: Path, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        self.problem(path, f"expected true or false, got {value!r}")
        return False

    def duration(self, path: Path, value: Any) -> timedelta | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None

    def names(self, path: Path, value: Any, known: Iterable[str], what: str) -> frozenset[str]:
        """A list of names, each among ``known``."""
        known = tuple(known)
        items = [value] if isinstance(value, str) else self.sequence(path, value)
        for index, item in enumerate(items):
            if item not in known:
                self.problem(path + (index,), f"unknown {what} {item!r}; known: {', '.join(known)}")
        return frozenset(i for i in items if i in known)

    def expression(self, path: Path, value: Any, names: tuple[str, ...] = (),
                   roots: tuple[str, ...] = ()) -> Expression | None:
        """An expression; under a ``when:`` key (a condition), YAML ``true`` means
        always and ``false`` never."""
        is_condition = bool(path) and path[-1] == "when"
        if is_condition and isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem(path, _expected_expression(value, is_condition))
            return None
        try:
            return compile_expression(value, names, roots)
        except ExpressionSyntaxError as exc:
            self.problem(path, f"{exc} in {value!r}")
            return None

    def moment(self, path: Path, value: Any, tz, end_of_day: bool = False) -> datetime | None:
        """A date or date-time; a date alone means its start (or end) in ``tz``."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value or " " in value.strip() \
                    else date.fromisoformat(value)
            except ValueError:
                value = _INVALID
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=tz)
        if isinstance(value, date):
            start = datetime(value.year, value.month, value.day, tzinfo=tz)
            return start + timedelta(days=1) if end_of_day else start
        self.problem(path, "expected a date (2026-11-01) or an ISO date-time "
                           "(2026-11-01T09:00:00Z)")
        return None

    def unique(self, path: Path, seen: dict[str, Path], value: str | None, what: str) -> None:
        if not isinstance(value, str):
            return  # not an id at all: the id check reports it
        if value in seen:
            self.problem(path, f"duplicate {what} id {value!r} (first at {format_path(seen[value])})")
        else:
            seen[value] = path


def _expected_expression(value: Any, is_condition: bool) -> str:
    if is_condition:
        return ("expected a condition: an expression such as "
                "'contact.total_spend > 100', or true (always) or false "
                f"(never); got {_kind_of(value)}")
    return ("expected an expression such as 'contact.scores.appetence * 2' or a number; "
            f"got {_kind_of(value)}" + (" (true/false are only for conditions, under when:)"
                                        if isinstance(value, bool) else ""))


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "true/false", int: "a number", float: "a number", str: f"text {value!r}",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
