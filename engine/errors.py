"""Errors raised by the decision core."""
from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """Base class for every error of the decision core."""


@dataclass(frozen=True)
class PackProblem:
    """One thing wrong in a rule pack, located for its author."""

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InvalidPack(EngineError):
    """A rule pack that cannot be served, with every problem found in it."""

    def __init__(self, problems: list[PackProblem]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in rule pack:\n{lines}")


class ExpressionSyntaxError(EngineError):
    """An expression that is not part of the pack language."""

    def __init__(self, message: str, column: int | None = None):
        self.column = column
        super().__init__(message if column is None else f"{message} (column {column})")


class UnknownChannel(EngineError):
    """A request for a channel the active pack does not declare."""

    def __init__(self, channel: str, known: tuple[str, ...]):
        self.channel = channel
        self.known = known
        super().__init__(f"unknown channel {channel!r}; this pack serves: {', '.join(known)}")


class UnknownDecision(EngineError):
    """An outcome for a decision or action the service never recorded."""


class StoreUnavailable(EngineError):
    """The contact store cannot serve the request now (down, locked, timed out)."""


class EngineUnavailable(EngineError):
    """The execution backend failed on this decision and recovered; retry it."""
