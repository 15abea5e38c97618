"""The use cases the API, the CLI and the simulator share.

``DecisionService`` loads a contact in one store call, runs the active
backend, and reserves the chosen actions atomically; if a concurrent decision
took the slot first, it reloads and decides again.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Callable

from engine.backends import CompiledBackend, ExecutionBackend
from engine.errors import StoreUnavailable, UnknownDecision
from engine.fallbacks import fallback_decision
from engine.model import (
    Decision,
    DecisionRequest,
    Exclusion,
    OutcomeRecorded,
    OutcomeReport,
    ReservationResult,
)
from engine.plan import Plan
from engine.ports import ContactStore

MAX_ATTEMPTS = 5


class ActivePack:
    """The plan being served. Swapping packs is one reference assignment."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def swap(self, plan: Plan) -> Plan:
        previous, self.plan = self.plan, plan
        return previous


@dataclass(frozen=True)
class DecisionResult:
    decision_id: str
    plan: Plan
    decision: Decision
    recorded: bool


class DecisionService:
    """Decides and records, keeping every cap under concurrency."""

    def __init__(self, store: ContactStore, pack: ActivePack,
                 backend: ExecutionBackend | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex):
        self.store = store
        self.pack = pack
        self.backend = backend or CompiledBackend()
        self.new_id = new_id

    def decide(self, request: DecisionRequest, decision_id: str | None = None) -> DecisionResult:
        """Decide for ``request`` and, unless it is a dry run, record the answer.

        An inbound channel whose pack names a fallback gets it when nothing is
        eligible or when the store cannot be reached; otherwise StoreUnavailable
        propagates (outbound channels fail closed).
        """
        plan = self.pack.plan
        decision_id = decision_id or self.new_id()
        try:
            result = self._decide(plan, request, decision_id)
        except StoreUnavailable:
            fallback = fallback_decision(plan, request, "store_unavailable")
            if fallback is None:
                raise
            return DecisionResult(decision_id, plan, fallback, recorded=False)
        if not result.decision.actions:
            fallback = fallback_decision(plan, request, "nothing_eligible", result.decision)
            if fallback is not None:
                return DecisionResult(decision_id, plan, fallback, recorded=False)
        return result

    def _decide(self, plan: Plan, request: DecisionRequest, decision_id: str) -> DecisionResult:
        full: frozenset[str] = frozenset()
        result = ReservationResult(ok=True)
        for _ in range(MAX_ATTEMPTS):
            snapshot = self.store.load(request.contact_id)
            decision = self.backend.decide(plan, snapshot, request, decision_id, full)
            if decision.reservation is None:
                return DecisionResult(decision_id, plan, decision, recorded=False)
            result = self.store.reserve(decision.reservation, commit=not request.dry_run)
            if result.ok:
                return DecisionResult(decision_id, plan, decision, recorded=not request.dry_run)
            full |= result.full_channels
        return DecisionResult(decision_id, plan, _gave_up(decision, result, request), False)

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded:
        """Attach an outcome; UnknownDecision if that action was never recorded."""
        recorded = self.store.record_outcome(report)
        if recorded is None:
            raise UnknownDecision(
                f"no recorded action {report.action_id!r} in decision {report.decision_id!r}")
        return recorded


def _gave_up(decision: Decision, result: ReservationResult, request: DecisionRequest) -> Decision:
    """Concurrent decisions kept taking the last slots: answer with nothing."""
    channel = request.channel
    excluded = tuple(
        Exclusion(action.action_id, channel, "pressure", ",".join(result.failed_checks) or channel,
                  "Concurrent decisions for this contact used the remaining allowance.")
        for action in decision.actions) if request.explain else ()
    return replace(decision, actions=(), excluded=decision.excluded + excluded, reservation=None)
