"""Execution backends: interchangeable ways to run a compiled plan.

Every backend takes the same inputs and must return the same ``Decision``;
the shared pack tests and case files hold them to it. ``compiled`` (Python
code generated once per pack and channel, closures for explanations) is the
default; ``durable`` runs the
same plan in durable-rules (see ``engine/durable/``).
"""
from __future__ import annotations

from typing import Protocol

from engine.decision.codegen import program_for
from engine.decision.decide import decide
from engine.errors import EngineError
from engine.model import ContactSnapshot, Decision, DecisionRequest
from engine.plan import Plan


class ExecutionBackend(Protocol):
    """Runs decisions for a plan it has prepared."""

    name: str

    def prepare(self, plan: Plan) -> None:
        """Get ready to serve ``plan`` (called before it becomes active)."""

    def decide(self, plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
               decision_id: str, capacity_full: frozenset[str]) -> Decision:
        """The decision for ``request``."""


class CompiledBackend:
    """The default backend: the plan compiled to Python, one generated function per
    channel (engine.decision.codegen), with the plan's closures for explanations."""

    name = "compiled"

    def prepare(self, plan: Plan) -> None:
        """Generate every channel's function now, not on the first requests."""
        for channel in plan.channels:
            program_for(plan, channel)

    def decide(self, plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
               decision_id: str, capacity_full: frozenset[str] = frozenset()) -> Decision:
        return decide(plan, snapshot, request, decision_id, capacity_full)


class UnknownBackend(EngineError, ValueError):
    """An engine name that no backend answers to."""


def backend_from_name(name: str) -> ExecutionBackend:
    """The backend called ``name``."""
    if name == "compiled":
        return CompiledBackend()
    if name == "durable":
        from engine.durable import DurableBackend  # imports the native engine only when chosen

        return DurableBackend()
    raise UnknownBackend(f"unknown engine {name!r}; available: {', '.join(BACKENDS)}")


BACKENDS = ("compiled", "durable")
