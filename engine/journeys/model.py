"""Values of the journey machinery: events, runs, timers, outbox messages and
the atomic change a store applies.

Stores treat runs as opaque records (``Run.dump`` / ``Run.restore``, or the
compact form of engine/journeys/codec.py on Redis): they only
read ``run_id``, ``journey_id``, ``seq`` and ``state``. Times are aware UTC
datetimes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

UTC = timezone.utc
RUN_STATES = ("active", "waiting", "ended")
MESSAGE_STATES = ("ready", "leased", "acked", "failed", "cancelled")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ContactEvent:
    """Something a contact did, posted by a channel: the idempotency key is
    (contact_id, event_id)."""

    event_id: str
    contact_id: str
    type: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps({"id": self.event_id, "c": self.contact_id, "t": self.type,
                           "at": _text(self.at), "d": dict(self.data)},
                          separators=(",", ":"))

    @classmethod
    def restore(cls, text: str) -> ContactEvent:
        raw = json.loads(text)
        return cls(raw["id"], raw["c"], raw["t"], _time(raw["at"]), raw["d"])

    def as_value(self) -> dict[str, Any]:
        """What expressions see: ``event.at``, ``event.type``, ``event.data.total``."""
        return {"id": self.event_id, "type": self.type, "at": self.at, "data": dict(self.data)}


@dataclass(frozen=True)
class Run:
    """One contact's passage through one journey.

    ``state``: ``active`` (the step ``step_id`` executes at ``due_at``),
    ``waiting`` (its message went out at ``sent_at``; outcomes or events route
    the run, and ``due_at`` is the timeout) or ``ended`` (with ``end``).
    ``seq`` grows with every change: a store applies a change only if the run
    is still at the ``seq`` the change was computed from.
    """

    run_id: str
    journey_id: str
    contact_id: str
    step_id: str | None
    state: str
    seq: int
    entered_at: datetime
    step_entered_at: datetime
    due_at: datetime | None = None
    end: str | None = None
    ended_at: datetime | None = None
    # The current step's decision once it sent its message, and the last message
    # the run queued (withdrawn if a goal event ends the run before delivery).
    decision_id: str | None = None
    message_id: str | None = None
    channel: str | None = None
    sent_at: datetime | None = None
    # When the current step was first deferred (max_delay counts from there).
    deferred_since: datetime | None = None
    # Branches taken at splits: {step id: branch}.
    branches: Mapping[str, str] = field(default_factory=dict)
    pack_hash: str | None = None
    # A task step's call task, the call's attempt (no_answer retries), and the
    # earliest moment the next call may be booked at (another half-day, a callback).
    task_id: str | None = None
    attempt: int | None = None
    not_before: datetime | None = None

    def dump(self, ids: bool = True) -> str:
        """Compact JSON (short keys, times in epoch seconds): millions of runs wait
        in a store. Without ``ids`` the run and contact ids are left out (a store
        that keys the record by them gives them back to ``restore``)."""
        raw: dict[str, Any] = {}
        for name, key in _RUN_KEYS.items():
            value = getattr(self, name)
            if value is None or value == {} or (not ids and name in ("run_id", "contact_id")):
                continue
            raw[key] = _epoch(value) if isinstance(value, datetime) else value
        raw["t"] = _STATE_CODES[self.state]
        if self.message_id is not None and self.message_id == self.decision_id:
            del raw["mi"]  # the usual case: a step's message is keyed by its decision
        elif self.message_id is None and self.decision_id is not None:
            raw["mi"] = None  # said, or restore would take the decision's id
        prefix = f"{self.run_id}."
        seq = self.decision_id[len(prefix):] if self.decision_id else ""
        if seq.isascii() and seq.isdigit() and str(int(seq)) == seq \
                and self.decision_id.startswith(prefix):
            raw["dq"] = int(raw.pop("di")[len(prefix):])  # the usual "<run id>.<seq>"
        if self.step_entered_at == self.entered_at:
            del raw["se"]  # still in the first step
        if isinstance(self.pack_hash, str) and self.pack_hash.startswith("sha256:"):
            raw["h"] = self.pack_hash[len("sha256:"):]
        elif self.pack_hash is not None:
            raw["ph"] = raw.pop("h")  # another form of hash, kept as it is
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def restore(cls, text: str, run_id: str | None = None,
                contact_id: str | None = None) -> Run:
        raw = json.loads(text)
        values: dict[str, Any] = {"run_id": run_id, "contact_id": contact_id, "step_id": None}
        for name, key in _RUN_KEYS.items():
            if key in raw:
                values[name] = _from_epoch(raw[key]) if name in _RUN_TIMES else raw[key]
        values["state"] = _STATES[raw["t"]]
        if "dq" in raw:
            values["decision_id"] = f"{values['run_id']}.{raw['dq']}"
        if "mi" not in raw and values.get("decision_id") is not None:
            values["message_id"] = values["decision_id"]
        if "se" not in raw:
            values["step_entered_at"] = values["entered_at"]
        if "h" in raw:
            values["pack_hash"] = "sha256:" + raw["h"]
        elif "ph" in raw:
            values["pack_hash"] = raw["ph"]
        return cls(**values)

    @property
    def timer_key(self) -> str:
        """The due-queue key of this run at its current ``seq``."""
        return f"run:{self.run_id}:{self.seq}"

    def evolve(self, **changes: Any) -> Run:
        """The next version of this run (``seq`` + 1)."""
        return replace(self, seq=self.seq + 1, **changes)


_RUN_KEYS = {"run_id": "i", "journey_id": "j", "contact_id": "c", "step_id": "s",
             "seq": "q", "entered_at": "e", "step_entered_at": "se", "due_at": "d",
             "end": "x", "ended_at": "xa", "decision_id": "di", "message_id": "mi",
             "channel": "ch", "sent_at": "sa", "deferred_since": "ds", "branches": "b",
             "pack_hash": "h", "task_id": "tk", "attempt": "n", "not_before": "nb"}
_RUN_TIMES = frozenset({"entered_at", "step_entered_at", "due_at", "ended_at", "sent_at",
                        "deferred_since", "not_before"})
_STATES = {"a": "active", "w": "waiting", "e": "ended"}
_STATE_CODES = {state: code for code, state in _STATES.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(moment: datetime) -> int | str:
    """Whole seconds as a number; other times as text "seconds.micros" (exact)."""
    seconds, micros = divmod((moment - _EPOCH) // timedelta(microseconds=1), 1_000_000)
    return seconds if not micros else f"{seconds}.{micros:06d}"


def _from_epoch(value: int | str) -> datetime:
    if isinstance(value, int):
        return _EPOCH + timedelta(seconds=value)
    seconds, _, micros = value.partition(".")
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=int(micros or 0))


@dataclass(frozen=True)
class DueTimer:
    """An entry of the due queue: ``key`` is ``run:<run id>:<seq>`` (a run's step
    or timeout) or ``watch:<journey id>:<epoch seconds>`` (a no_event or date
    trigger). Stores treat ``key`` as opaque; (contact_id, key) is unique."""

    contact_id: str
    key: str
    due_at: datetime

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]


def watch_timer_key(journey_id: str, due: datetime) -> str:
    """The due-queue key of a trigger watch (a no_event or date trigger)."""
    return f"watch:{journey_id}:{int(due.timestamp())}"


@dataclass(frozen=True)
class OutboxMessage:
    """A message chosen for an outbound channel, for its sender to deliver."""

    message_id: str
    channel: str
    contact_id: str
    action_id: str
    content: Mapping[str, Any]
    decision_id: str
    journey_id: str | None
    run_id: str | None
    step_id: str | None
    due_at: datetime
    created_at: datetime
    state: str = "ready"
    attempts: int = 0
    last_error: str | None = None

    def dump(self) -> str:
        raw = dict(self.__dict__)  # not asdict: it deep-copies the content
        for name in ("due_at", "created_at"):
            raw[name] = _text(raw[name])
        return json.dumps(raw, separators=(",", ":"), default=str)

    @classmethod
    def restore(cls, text: str) -> OutboxMessage:
        raw = json.loads(text)
        raw["due_at"], raw["created_at"] = _time(raw["due_at"]), _time(raw["created_at"])
        return cls(**raw)


@dataclass(frozen=True)
class RunUpdate:
    """A run's new version, applied only if the stored one is at ``expected_seq``
    (None: the run must not exist yet)."""

    run: Run
    expected_seq: int | None


@dataclass(frozen=True)
class RunChange:
    """Everything one stimulus changes for one contact, applied at once.

    If ``event`` is set and the contact already has an event with its id, or
    if any run is not at its expected seq, nothing is applied. Otherwise: the
    event is recorded, runs written, ``delete_runs`` removed, ``timers``
    scheduled, ``done`` timers removed, ``watches`` set (journey id -> due
    time, None to clear), ``messages`` queued in their channel's outbox,
    ``cancel`` messages (channel, message id) withdrawn if not yet acked, and
    ``counts`` (journey id, counter) each incremented by one.
    """

    contact_id: str
    event: ContactEvent | None = None
    runs: tuple[RunUpdate, ...] = ()
    delete_runs: tuple[str, ...] = ()
    timers: tuple[DueTimer, ...] = ()
    done: tuple[DueTimer, ...] = ()
    watches: Mapping[str, datetime | None] = field(default_factory=dict)
    messages: tuple[OutboxMessage, ...] = ()
    cancel: tuple[tuple[str, str], ...] = ()
    counts: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.event or self.runs or self.delete_runs or self.timers or self.done
                    or self.watches or self.messages or self.cancel or self.counts)


@dataclass(frozen=True)
class CommitResult:
    """What a store did with a RunChange."""

    ok: bool
    duplicate_event: bool = False
    conflicts: tuple[str, ...] = ()  # run ids not at their expected seq


@dataclass(frozen=True)
class JourneyState:
    """A contact's runs (ended ones included) and trigger watches."""

    contact_id: str
    runs: tuple[Run, ...] = ()
    watches: Mapping[str, datetime] = field(default_factory=dict)

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.run_id == run_id), None)
