"""Errors of the authoring workflow."""
from __future__ import annotations

from engine.errors import EngineError, PackProblem


class PackRefused(EngineError):
    """An upload that cannot be stored: invalid, untested or failing its tests."""

    def __init__(self, reason: str, problems: list[PackProblem]):
        self.reason = reason
        self.problems = tuple(problems)
        super().__init__(f"{reason}: {len(self.problems)} problem(s)")


class UnknownPackVersion(EngineError):
    """A hash the registry holds no version for."""


class NothingToRollBack(EngineError):
    """A rollback with no earlier active version to go back to."""


class SimulationTooLarge(EngineError):
    """A simulation asked of the service that would take too long to answer."""


class ShadowRefused(EngineError):
    """A shadow run that cannot start (the version is the active one)."""
