"""Values the decision core works on: contacts, history, requests, decisions.

Times are timezone-aware ``datetime`` objects in UTC at the edges; inside the
engine, history entries also carry ``ts`` (epoch seconds) so that windows are
cheap to count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Mapping

KINDS = ("transactional", "service", "relational", "commercial")
MARKETING_KINDS = frozenset({"relational", "commercial"})
OUTCOMES = (
    "delivered", "failed", "opened", "clicked", "accepted",
    "rejected", "converted", "unsubscribed", "complained",
    # the results of a call task (``engine.agenda``)
    "no_answer", "callback", "wrong_number",
)
POLICIES = (
    "holdout", "eligibility", "validity", "placement", "consent", "quiet_hours",
    "repeat", "group", "suppression", "pressure", "capacity", "score",
)

@dataclass(frozen=True)
class Outcome:
    """Something that happened after an action was presented or sent."""

    outcome: str
    at: datetime
    value: float | None = None
    # ``at`` in epoch seconds, computed once: snapshots order outcomes by it.
    ts: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", self.at.timestamp())

    @classmethod
    def restore(cls, outcome: str, at: datetime, value: float | None, ts: float) -> Outcome:
        """An outcome read back from a store; ``ts`` must be ``at.timestamp()``."""
        found = object.__new__(cls)
        found.__dict__.update(outcome=outcome, at=at, value=value, ts=ts)
        return found


@dataclass(frozen=True)
class HistoryEntry:
    """One action presented or sent to a contact, with what followed."""

    decision_id: str
    action_id: str
    program: str
    kind: str
    channel: str
    at: datetime
    placement: str | None = None
    outcomes: tuple[Outcome, ...] = ()
    # Set when a journey step sent it: which journey, run and step.
    journey_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    # Set for learned propensities: the segment whose posterior scored it, and the
    # probability the policy had of choosing it (None: chosen for sure).
    segment: str | None = None
    probability: float | None = None
    ts: float = field(init=False, repr=False, compare=False)
    failed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once per entry: windows compare epoch seconds, not datetimes.
        object.__setattr__(self, "ts", self.at.timestamp())
        object.__setattr__(self, "failed", any(o.outcome == "failed" for o in self.outcomes))

    def has_outcome(self, outcome: str) -> bool:
        return any(o.outcome == outcome for o in self.outcomes)

    @classmethod
    def restore(cls, decision_id: str, action_id: str, program: str, kind: str, channel: str,
                at: datetime, placement: str | None, outcomes: tuple[Outcome, ...],
                ts: float, journey_id: str | None = None, run_id: str | None = None,
                step_id: str | None = None, segment: str | None = None,
                probability: float | None = None) -> HistoryEntry:
        """An entry built without the dataclass machinery: read back from a store,
        or new in a reservation.

        Stores and decisions build thousands of these per second; ``ts`` must be
        ``at.timestamp()``. The result equals the one ``HistoryEntry(...)`` builds.
        """
        entry = object.__new__(cls)
        entry.__dict__.update(
            decision_id=decision_id, action_id=action_id, program=program, kind=kind,
            channel=channel, at=at, placement=placement, outcomes=outcomes, ts=ts,
            journey_id=journey_id, run_id=run_id, step_id=step_id, segment=segment,
            probability=probability,
            failed=any(o.outcome == "failed" for o in outcomes) if outcomes else False)
        return entry


# The first item of a tuple, as a sort key (in C: snapshots sort every outcome by it).
_first = itemgetter(0)


@dataclass(frozen=True)
class ContactSnapshot:
    """Everything a decision needs to know about one contact, read at once.

    ``history`` is sorted by time, oldest first. ``known`` is False for a
    contact the service has never seen (an anonymous visitor, a new lead).
    """

    contact_id: str
    profile: Mapping[str, Any] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)
    history: tuple[HistoryEntry, ...] = ()
    known: bool = False
    # The contact's events (engine.journeys.model.ContactEvent), oldest first; loaded
    # only when the pack's expressions read them.
    events: tuple[Any, ...] = ()
    outcome_log: tuple[tuple[float, Outcome, HistoryEntry], ...] = field(
        init=False, repr=False, compare=False)
    stamps: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Entry times as epoch seconds, for windows found by bisection.
        history = self.history
        object.__setattr__(self, "stamps", tuple([e.ts for e in history]))
        # Every outcome with its entry, oldest first: what suppression rules read.
        log = [(o.ts, o, e) for e in history if e.outcomes for o in e.outcomes]
        log.sort(key=_first)
        object.__setattr__(self, "outcome_log", tuple(log))


@dataclass(frozen=True)
class DecisionRequest:
    """What a calling channel asks: which action(s) for this contact, now."""

    contact_id: str
    channel: str
    at: datetime
    placement: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 1
    explain: bool = False
    dry_run: bool = False
    # A journey step decides among its own candidates only, and its entries
    # record which journey, run and step sent them.
    actions: frozenset[str] | None = None
    journey_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None


@dataclass(frozen=True)
class ChosenAction:
    """An action the decision returns, with the reasons that put it there."""

    action_id: str
    program: str
    kind: str
    channel: str
    score: float
    content: Mapping[str, Any]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Exclusion:
    """A candidate left out, the policy category and pack rule responsible."""

    action_id: str
    channel: str
    policy: str
    rule: str
    reason: str
    eligible_again_at: datetime | None = None


@dataclass(frozen=True)
class WindowCheck:
    """A cap the store re-checks atomically when it records new entries.

    Existing entries that are not failed, recorded at or after ``since``
    (later ones included) and matching the filters, plus the new entries
    matching the filters, must number at most ``limit``. An empty filter
    matches everything.
    """

    rule: str
    policy: str
    since: datetime
    limit: float
    kinds: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    programs: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    # A weighted budget: each matching entry counts its channel's weight, not 1.
    weights: Mapping[str, float] | None = None

    def weight(self, entry: HistoryEntry) -> float:
        return 1.0 if self.weights is None else self.weights.get(entry.channel, 0.0)

    def matches(self, entry: HistoryEntry) -> bool:
        return (
            (not self.kinds or entry.kind in self.kinds)
            and (not self.channels or entry.channel in self.channels)
            and (not self.programs or entry.program in self.programs)
            and (not self.actions or entry.action_id in self.actions)
        )


@dataclass(frozen=True)
class CapacityClaim:
    """One unit of a channel's shared daily capacity (for example calls)."""

    channel: str
    day: str
    limit: int

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.day}"


@dataclass(frozen=True)
class Reservation:
    """New history entries and the caps that must still hold once they are in."""

    contact_id: str
    entries: tuple[HistoryEntry, ...]
    checks: tuple[WindowCheck, ...] = ()
    capacity: tuple[CapacityClaim, ...] = ()
    # Entries with no activity since this moment are no longer read by any
    # policy or expression: a store may trim them (None: keep everything).
    keep_since: datetime | None = None


@dataclass(frozen=True)
class ReservationResult:
    """What the store answered: recorded, or which caps would be exceeded."""

    ok: bool
    failed_checks: tuple[str, ...] = ()
    full_channels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one request."""

    actions: tuple[ChosenAction, ...]
    excluded: tuple[Exclusion, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    fired: tuple[str, ...] = ()
    reservation: Reservation | None = None
    # Why the pack's fallback action was served, if it was: "nothing_eligible"
    # or "store_unavailable". A fallback is never recorded.
    fallback: str | None = None
    # How many candidates each policy category left out (explain or not).
    exclusion_counts: Mapping[str, int] = field(default_factory=dict)
    # Experiment id -> the arm this contact is in (holdouts of the pack, and the
    # variants experiments of the chosen actions).
    experiments: Mapping[str, str] = field(default_factory=dict)
    # The contact's pressure points before this decision, when the pack reads risk.*.
    pressure_points: float | None = None


@dataclass(frozen=True)
class OutcomeReport:
    """An outcome posted by a channel for one action of one decision."""

    decision_id: str
    action_id: str
    outcome: str
    at: datetime
    value: float | None = None


@dataclass(frozen=True)
class OutcomeRecorded:
    """What recording an outcome did."""

    contact_id: str
    entry: HistoryEntry
    duplicate: bool
    consent_revoked: str | None = None


@dataclass(frozen=True)
class ContactRecord:
    """A stored contact profile with its consents."""

    contact_id: str
    profile: Mapping[str, Any] = field(default_factory=dict)
    consents: Mapping[str, bool] = field(default_factory=dict)
