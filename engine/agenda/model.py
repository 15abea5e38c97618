"""Values of the agenda: agents (sales representatives), their call tasks and
the results agents record."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from typing import Any, Mapping

UTC = timezone.utc
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TASK_STATES = ("planned", "open", "done", "cancelled")
# planned: booked in an agenda, its decision not made yet; open: decided, to call;
# done: a result was recorded; cancelled: the decision refused it or the run ended.
OPEN_STATES = ("planned", "open")
RESULTS = ("converted", "rejected", "no_answer", "callback", "wrong_number")
UNASSIGNED = "unassigned"

Interval = tuple[time, time]


@dataclass(frozen=True)
class Agent:
    """A sales representative or call-centre agent."""

    agent_id: str
    name: str
    team: str
    timezone: str = "Europe/Paris"
    working_hours: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)
    capacity_per_day: int = 20
    skills: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    active: bool = True
    default: bool = False  # takes the team's leads that no agent's zones match

    def as_json(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "name": self.name, "team": self.team,
                "timezone": self.timezone,
                "working_hours": {day: format_intervals(self.working_hours[day])
                                  for day in WEEKDAYS if day in self.working_hours},
                "capacity_per_day": self.capacity_per_day, "skills": list(self.skills),
                "zones": list(self.zones), "active": self.active, "default": self.default}

    def dump(self) -> str:
        return json.dumps(self.as_json(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def restore(cls, text: str) -> Agent:
        raw = json.loads(text)
        raw["working_hours"] = {day: parse_intervals(spec)
                                for day, spec in raw["working_hours"].items()}
        raw["skills"], raw["zones"] = tuple(raw["skills"]), tuple(raw["zones"])
        return cls(**raw)


def parse_intervals(spec: str) -> tuple[Interval, ...]:
    """``"09:00-12:30, 14:00-18:00"`` as ordered (start, end) pairs; ValueError
    with a readable message when it is not that."""
    found = []
    for part in (p.strip() for p in spec.split(",")):
        start, sep, end = part.partition("-")
        if not sep:
            raise ValueError(f"{part!r} is not a range like 09:00-18:00")
        first, last = _clock(start), _clock(end)
        if last <= first:
            raise ValueError(f"{part!r} ends before it starts")
        found.append((first, last))
    found.sort()
    for (_, end), (start, _) in zip(found, found[1:], strict=False):
        if start < end:
            raise ValueError(f"{spec!r} has overlapping ranges")
    return tuple(found)


def _clock(text: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a time like 09:00") from None


def format_intervals(intervals: tuple[Interval, ...]) -> str:
    return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in intervals)


@dataclass(frozen=True)
class TaskResult:
    """What the agent recorded after the call."""

    outcome: str
    at: datetime
    notes: str | None = None
    value: float | None = None
    callback_at: datetime | None = None
    by: str | None = None


@dataclass(frozen=True)
class Task:
    """A call to make: created by a journey's ``task`` step, booked in an agent's
    agenda at ``slot_at`` (None while unassigned), decided at that time."""

    task_id: str
    contact_id: str
    queue: str  # the routing name the step asked for (e.g. "sales")
    team: str | None
    agent_id: str | None
    action_id: str
    channel: str
    duration: timedelta
    created_at: datetime
    not_before: datetime
    slot_at: datetime | None = None
    status: str = "planned"
    journey_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    attempt: int = 1
    decision_id: str | None = None
    content: Mapping[str, Any] | None = None
    reasons: tuple[str, ...] = ()
    result: TaskResult | None = None
    assigned_by: str = "routing"  # routing | sticky | default | supervisor | reassigned
    moves: tuple[str, ...] = ()  # what happened to the task, readable

    @property
    def ends_at(self) -> datetime | None:
        return None if self.slot_at is None else self.slot_at + self.duration

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def moved(self, note: str, **changes: Any) -> Task:
        return replace(self, moves=(*self.moves, note)[-20:], **changes)

    def dump(self) -> str:
        raw = dict(self.__dict__)
        for name in ("created_at", "not_before", "slot_at"):
            raw[name] = _text(raw[name])
        raw["duration"] = int(self.duration.total_seconds())
        raw["content"] = dict(self.content) if self.content is not None else None
        raw["reasons"], raw["moves"] = list(self.reasons), list(self.moves)
        if self.result is not None:
            result = dict(self.result.__dict__)
            result["at"], result["callback_at"] = _text(result["at"]), _text(
                result["callback_at"])
            raw["result"] = result
        return json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str)

    @classmethod
    def restore(cls, text: str) -> Task:
        raw = json.loads(text)
        for name in ("created_at", "not_before", "slot_at"):
            raw[name] = _time(raw[name])
        raw["duration"] = timedelta(seconds=raw["duration"])
        raw["reasons"], raw["moves"] = tuple(raw["reasons"]), tuple(raw["moves"])
        if raw["result"] is not None:
            result = raw["result"]
            result["at"], result["callback_at"] = _time(result["at"]), _time(
                result["callback_at"])
            raw["result"] = TaskResult(**result)
        return cls(**raw)


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


AGENT_FIELDS = ("name", "team", "timezone", "working_hours", "capacity_per_day", "skills",
                "zones", "active", "default")


def agent_from_mapping(agent_id: str, raw: Mapping[str, Any]) -> Agent:
    """An agent from its JSON form; AgentProblems with every field that is wrong."""
    from engine.timeutil import zone

    problems: dict[str, list[str]] = {}

    def wrong(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    for name in raw:
        if name not in AGENT_FIELDS and name != "agent_id":
            wrong(name, f"unknown field; fields: {', '.join(AGENT_FIELDS)}")
    for name in ("name", "team"):
        if not isinstance(raw.get(name), str) or not raw.get(name, "").strip():
            wrong(name, "required, a non-empty text")
    tz = raw.get("timezone", "Europe/Paris")
    if not isinstance(tz, str) or zone(tz) is None:
        wrong("timezone", f"unknown time zone {tz!r}; use an IANA name like Europe/Paris")
    hours = _working_hours(raw.get("working_hours"), wrong)
    capacity = raw.get("capacity_per_day", 20)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= 1000:
        wrong("capacity_per_day", "a whole number of calls from 0 to 1000")
    lists = {name: _texts(raw.get(name, []), name, wrong) for name in ("skills", "zones")}
    for name in ("active", "default"):
        if not isinstance(raw.get(name, name == "active"), bool):
            wrong(name, "true or false")
    if problems:
        raise AgentProblems(problems)
    return Agent(agent_id, raw["name"].strip(), raw["team"].strip(), tz, hours, capacity,
                 lists["skills"], lists["zones"], raw.get("active", True),
                 raw.get("default", False))


def _working_hours(raw: Any, wrong) -> dict[str, tuple[Interval, ...]]:
    if raw is None:
        wrong("working_hours", 'required: per weekday, like {"mon": "09:00-18:00"}')
        return {}
    if not isinstance(raw, dict):
        wrong("working_hours", 'per weekday, like {"mon": "09:00-12:30,14:00-18:00"}')
        return {}
    hours = {}
    for day, spec in raw.items():
        if day not in WEEKDAYS:
            wrong(f"working_hours.{day}", f"a weekday is one of {', '.join(WEEKDAYS)}")
        elif not isinstance(spec, str):
            wrong(f"working_hours.{day}", 'a text like "09:00-18:00"')
        else:
            try:
                hours[day] = parse_intervals(spec)
            except ValueError as exc:
                wrong(f"working_hours.{day}", str(exc))
    return hours


def _texts(raw: Any, name: str, wrong) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        wrong(name, "a list of non-empty texts")
        return ()
    if len(raw) > 200:
        wrong(name, "at most 200 items")
    return tuple(v.strip() for v in raw)


class AgentProblems(ValueError):
    """An agent's JSON with fields that are wrong (field -> messages)."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items()))
