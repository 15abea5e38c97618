"""The use cases the API, the CLI and the simulator share.

``DecisionService`` loads a contact in one store call, runs the active
backend, and reserves the chosen actions atomically; if a concurrent decision
took the slot first, it reloads and decides again.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from engine.backends import CompiledBackend, ExecutionBackend
from engine.decision.decide import contact_view, render_action
from engine.decision.fallbacks import fallback_decision
from engine.errors import StoreUnavailable, UnknownDecision
from engine.learning import risk
from engine.learning.risk import points
from engine.model import (
    ChosenAction,
    ContactSnapshot,
    Decision,
    DecisionRequest,
    Exclusion,
    HistoryEntry,
    OutcomeRecorded,
    OutcomeReport,
    ReservationResult,
)
from engine.plan import Plan
from engine.ports import ContactStore, EventSource

MAX_ATTEMPTS = 5


class RecordObserver(Protocol):
    """Told, in the process that recorded them, of each committed decision and each
    first recording of an outcome (never of dry runs or duplicates). It must not
    raise: the decision is already recorded."""

    def decision_recorded(self, plan: Plan, request: DecisionRequest,
                          entries: tuple[HistoryEntry, ...]) -> None: ...

    def outcome_recorded(self, plan: Plan, recorded: OutcomeRecorded,
                         report: OutcomeReport) -> None: ...


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
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
                 events: EventSource | None = None, learner: Any = None,
                 observers: tuple[RecordObserver, ...] = (), experiments: Any = None):
        self.store = store
        # engine.learning.learner.Learner: where learned propensities come from and
        # evidence goes to (None: learned(p) is its prior mean and nothing is counted).
        self.learner = learner
        # Told of every recorded decision and first outcome (reports, experiments).
        self.observers = observers
        # engine.learning.tracking.ExperimentTracker: who is in which arm, what they did.
        self.experiments = experiments
        self.pack = pack
        self.backend = backend or CompiledBackend()
        self.new_id = new_id
        self.events = events

    def new_decision_id(self, contact_id: str) -> str:
        """A new decision's id. A store that can make outcomes cheaper to find by
        putting the contact in the id (``decision_id_for``, Redis) gets to."""
        unique = self.new_id()
        with_contact = getattr(self.store, "decision_id_for", None)
        return unique if with_contact is None else with_contact(contact_id, unique)

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

    def decide_step(self, request: DecisionRequest, decision_id: str,
                    snapshot: ContactSnapshot | None = None) -> DecisionResult:
        """A journey step's decision, once per ``decision_id``: if an earlier attempt
        recorded it (a worker stopped before finishing the step), that choice is
        returned again (``recorded``), not decided anew. ``snapshot``: the contact as
        the caller just loaded it (the reservation re-checks every cap anyway)."""
        plan = self.pack.plan
        snapshot = snapshot or self.load(plan, request.contact_id)
        earlier = [e for e in snapshot.history if e.decision_id == decision_id]
        if earlier:
            return self._recovered(plan, snapshot, request, decision_id, earlier)
        return self._decide(plan, request, decision_id, snapshot)

    def load(self, plan: Plan, contact_id: str) -> ContactSnapshot:
        """The contact as decisions see it: with its events if the pack reads them."""
        snapshot = self.store.load(contact_id)
        if plan.reads_events and self.events is not None:
            snapshot = replace(snapshot, events=self.events.events(contact_id))
        return snapshot

    def load_many(self, plan: Plan, contact_ids: list[str]) -> dict[str, ContactSnapshot]:
        """``load`` of several contacts at once (a worker pass)."""
        snapshots = self.store.load_many(contact_ids)
        if plan.reads_events and self.events is not None:
            snapshots = {c: replace(s, events=self.events.events(c))
                         for c, s in snapshots.items()}
        return snapshots

    def _recovered(self, plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
                   decision_id: str, earlier: list) -> DecisionResult:
        before = replace(snapshot, history=tuple(e for e in snapshot.history
                                                 if e.decision_id != decision_id))
        again = self.backend.decide(plan, before, replace(request, limit=len(earlier)),
                                    decision_id, frozenset())
        chosen = {a.action_id: a for a in again.actions}
        actions = tuple(chosen.get(e.action_id) or _rendered(plan, before, request, e)
                        for e in earlier)
        return DecisionResult(decision_id, plan, replace(again, actions=actions,
                                                         reservation=None), recorded=True)

    def _decide(self, plan: Plan, request: DecisionRequest, decision_id: str,
                first: ContactSnapshot | None = None) -> DecisionResult:
        result = self._decide_once(plan, request, decision_id, first)
        if self.experiments is not None and plan.experiments and not request.dry_run:
            self.experiments.decided(plan, request.contact_id, result.decision, result.recorded)
        return result

    def _decide_once(self, plan: Plan, request: DecisionRequest, decision_id: str,
                     first: ContactSnapshot | None = None) -> DecisionResult:
        if plan.learning is not None and plan.learner is None and self.learner is not None:
            plan.attach_learner(self.learner)
        full: frozenset[str] = frozenset()
        result = ReservationResult(ok=True)
        for _ in range(MAX_ATTEMPTS):
            snapshot = first or self.load(plan, request.contact_id)
            first = None
            decision = self.backend.decide(plan, snapshot, request, decision_id, full)
            if decision.reservation is None:
                return DecisionResult(decision_id, plan, decision, recorded=False)
            result = self.store.reserve(decision.reservation, commit=not request.dry_run)
            if result.ok:
                if not request.dry_run:
                    self._recorded(plan, request, decision)
                return DecisionResult(decision_id, plan, decision, recorded=not request.dry_run)
            full |= result.full_channels
        return DecisionResult(decision_id, plan, _gave_up(decision, result, request), False)

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded:
        """Attach an outcome; UnknownDecision if that action was never recorded."""
        recorded = self.store.record_outcome(report)
        if recorded is None:
            raise UnknownDecision(
                f"no recorded action {report.action_id!r} in decision {report.decision_id!r}")
        plan = self.pack.plan
        if recorded.duplicate:
            return recorded
        if self.learner is not None and plan.learning is not None:
            self.learner.succeeded(plan, recorded.entry, report.outcome)
            if plan.reads_risk and report.outcome in risk.OUTCOMES:
                # Rare: the contact's pressure when the message went, from its history.
                before = points(self.store.history(recorded.contact_id), recorded.entry.at,
                                plan.risk_weights)
                self.learner.risk_outcome(plan, recorded.entry, report.outcome, before)
        for observer in self.observers:
            observer.outcome_recorded(plan, recorded, report)
        if self.experiments is not None and plan.experiments:
            self.experiments.outcome_recorded(plan, recorded, report)
        return recorded

    def _recorded(self, plan: Plan, request: DecisionRequest, decision: Decision) -> None:
        entries = decision.reservation.entries  # type: ignore[union-attr]
        if plan.learner is not None:
            plan.learner.exposed(plan, entries)
            if plan.reads_risk:
                plan.learner.risk_exposed(plan, entries, decision.pressure_points or 0.0)
        for observer in self.observers:
            observer.decision_recorded(plan, request, entries)


def _rendered(plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
              entry: HistoryEntry) -> ChosenAction:
    """A recorded action with its content written again (the decision that chose it
    would not choose it now)."""
    action = plan.action(entry.action_id)
    contact = contact_view(snapshot, request)
    content = {} if action is None else render_action(action, entry.channel, contact, {},
                                                      request.context)
    return ChosenAction(entry.action_id, entry.program, entry.kind, entry.channel, 0.0,
                        content, ("recorded by an earlier attempt of this step",))


def _gave_up(decision: Decision, result: ReservationResult, request: DecisionRequest) -> Decision:
    """Concurrent decisions kept taking the last slots: answer with nothing."""
    channel = request.channel
    excluded = tuple(
        Exclusion(action.action_id, channel, "pressure", ",".join(result.failed_checks) or channel,
                  "Concurrent decisions for this contact used the remaining allowance.")
        for action in decision.actions) if request.explain else ()
    return replace(decision, actions=(), excluded=decision.excluded + excluded, reservation=None)
