"""Compiling the ``tests`` section of a pack: decision tests (a contact, its
history, a request and what is expected) and journey tests (a timeline of
events, outcomes, profile changes and call results, and the messages, runs and
tasks expected), each checked against the pack's channels, actions and
journeys with the line of every problem."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.agenda.model import RESULTS, TASK_STATES, AgentProblems, agent_from_mapping
from engine.journeys.model import MESSAGE_STATES, RUN_STATES
from engine.language.checks import Checker
from engine.language.loader import Path, format_path
from engine.model import OUTCOMES, POLICIES
from engine.plan import PackTest
from engine.timeutil import UTC, isoformat, to_datetime

TEST_KEYS = ("name", "at", "contact", "history", "request", "expect", "description")
REQUEST_KEYS = ("channel", "placement", "context", "profile", "limit")
EXPECT_KEYS = ("actions", "excluded", "facts", "fallback")
HISTORY_KEYS = ("action", "channel", "at", "outcomes", "placement")
JOURNEY_TEST_KEYS = ("name", "at", "contact", "history", "agents", "timeline", "until",
                     "expect", "description")
JOURNEY_TEST_REQUIRED = ("name", "contact", "timeline", "until", "expect")
# A timeline item is one of these forms, with the keys that may go with it.
TIMELINE_FORMS = {"event": ("data", "id"), "outcome": ("step", "journey"), "profile": (),
                  "result": ("step", "journey", "callback_at", "value", "notes")}
TIMELINE_KEYS = ("at", "event", "data", "id", "outcome", "step", "journey", "profile", "result",
                 "callback_at", "value", "notes")
JOURNEY_EXPECT_KEYS = ("sent", "runs", "tasks")
TASK_KEYS = ("step", "action", "agent", "at", "status", "journey")
SENT_KEYS = ("step", "action", "channel", "at", "journey", "state")
RUN_KEYS = ("journey", "state", "end", "step")



def compile_tests(checker: Checker, raw: Any, channels: tuple[str, ...],
                  action_ids: tuple[str, ...], journeys: tuple[Any, ...] = (),
                  events: Any = (), tz: Any = None) -> tuple[PackTest, ...]:
    """The pack's tests, each either one decision (``request:``) or a journey
    timeline (``timeline:`` and ``until:``), every mistake located."""
    tests = []
    index = JourneyIndex(journeys, events, tz)
    for number, item in enumerate(checker.sequence(("tests",), raw)):
        path = ("tests", number)
        journey = isinstance(item, dict) and is_journey_test(item)
        keys, required = (JOURNEY_TEST_KEYS + ("request",), JOURNEY_TEST_REQUIRED) if journey \
            else (TEST_KEYS, ("name", "at", "contact", "request", "expect"))
        spec = checker.mapping(path, item, keys, required)
        if spec is None:
            continue
        if journey and "request" in spec:
            checker.problem(path + ("request",), "a test has either request: (one decision) "
                                                 "or timeline: and until: (journeys), not both")
        if journey:
            check_journey_test(checker, path, spec, channels, action_ids, index)
        else:
            _check_test(checker, path, spec, channels, action_ids)
        tests.append(PackTest(str(spec.get("name")), spec, checker.doc.line_of(path)))
    return tuple(tests)


def is_journey_test(spec: dict[str, Any]) -> bool:
    """Whether a pack test drives journeys (a timeline) rather than one decision."""
    return "timeline" in spec or "until" in spec


def _check_test(checker: Checker, path: Path, spec: dict[str, Any], channels, action_ids) -> None:
    check_contact(checker, path, spec, channels, action_ids)
    request = checker.mapping(path + ("request",), spec.get("request"), REQUEST_KEYS, ("channel",))
    if request and request.get("channel") not in channels:
        checker.problem(path + ("request", "channel"), f"unknown channel {request.get('channel')!r}")
    expect = checker.mapping(path + ("expect",), spec.get("expect"), EXPECT_KEYS) or {}
    if "actions" in expect:
        checker.names(path + ("expect", "actions"), expect["actions"], action_ids, "action")
    if "fallback" in expect and not isinstance(expect["fallback"], bool):
        checker.problem(path + ("expect", "fallback"), "expected true or false")
    excluded = checker.mapping(path + ("expect", "excluded"), expect.get("excluded"), action_ids)
    for action_id, policy in (excluded or {}).items():
        if policy not in POLICIES:
            checker.problem(path + ("expect", "excluded", action_id),
                            f"unknown policy {policy!r}; policies: {', '.join(POLICIES)}")


def check_contact(checker: Checker, path: Path, spec: dict[str, Any], channels,
                  action_ids) -> None:
    """The parts every test has: its name, its contact and the contact's history."""
    checker.text(path + ("name",), spec.get("name"))
    contact = checker.mapping(path + ("contact",), spec.get("contact"), _AnyKey(), ("id",))
    if contact is not None and "id" in contact:
        checker.text(path + ("contact", "id"), contact["id"])
    for number, entry in enumerate(checker.sequence(path + ("history",), spec.get("history"))):
        entry_path = path + ("history", number)
        entry = checker.mapping(entry_path, entry, HISTORY_KEYS, ("action", "channel", "at"))
        if entry:
            checker.names(entry_path + ("action",), entry.get("action"), action_ids, "action")
            checker.names(entry_path + ("channel",), entry.get("channel"), channels, "channel")
            checker.names(entry_path + ("outcomes",), entry.get("outcomes", []), OUTCOMES, "outcome")


# -- journey tests ---------------------------------------------------------------


@dataclass(frozen=True)
class StepRef:
    """A journey step as a test may name it: its journey, channel and actions."""

    journey: str
    step: str
    channel: str | None
    actions: frozenset[str]
    task: bool = False


class JourneyIndex:
    """The compiled journeys' steps and the events a pack knows, for checking tests."""

    def __init__(self, journeys: tuple[Any, ...] = (), events: Any = (), tz: Any = None):
        self.tz = tz or UTC
        self.steps = [StepRef(j.id, s.id, s.channel, s.actions, s.task is not None)
                      for j in journeys for s in j.steps]
        self.journeys = {j.id: [s.id for s in j.steps] for j in journeys}
        self.events = set(events).union(*(j.events_read for j in journeys))

    def find(self, checker: Checker, path: Path, step: Any, journey: Any) -> list[StepRef]:
        """The steps called ``step`` (in ``journey`` if given); a problem if none."""
        if journey is not None and journey not in self.journeys:
            checker.problem(path[:-1] + ("journey",), f"unknown journey {journey!r}; "
                                                      f"journeys: {_known(self.journeys)}")
            return []
        if step is None:
            return []
        found = [s for s in self.steps if s.step == step and journey in (None, s.journey)]
        if not found:
            names = self.journeys[journey] if journey is not None \
                else sorted({s.step for s in self.steps})
            where = f"journey {journey} has" if journey is not None else "the journeys have"
            checker.problem(path, f"unknown step {step!r}; {where} steps: {_known(names)}")
        return found


def check_journey_test(checker: Checker, path: Path, spec: dict[str, Any], channels,
                       action_ids, index: JourneyIndex) -> None:
    """A journey test: contact, timeline (in time order), until and expect."""
    check_contact(checker, path, spec, channels, action_ids)
    _agents(checker, path + ("agents",), spec.get("agents"))
    moments = []
    if "at" in spec:
        moments.append((path + ("at",), _instant(checker, path + ("at",), spec["at"], index.tz)))
    for number, item in enumerate(checker.sequence(path + ("timeline",), spec.get("timeline"))):
        item_path = path + ("timeline", number)
        moments.append((item_path + ("at",), _timeline_item(checker, item_path, item, index)))
    until = _instant(checker, path + ("until",), spec.get("until"), index.tz)
    moments.append((path + ("until",), until))
    _in_order(checker, moments, "the timeline runs forward: start (at), items, then until")
    path += ("expect",)
    expect = checker.mapping(path, spec.get("expect"), JOURNEY_EXPECT_KEYS) or {}
    if spec.get("expect") is not None and not expect:
        checker.problem(path, "expect lists what the runs did: sent, runs or tasks")
    sent = [(path + ("sent", n, "at"), _sent_item(checker, path + ("sent", n), item, channels,
                                                  action_ids, index))
            for n, item in enumerate(checker.sequence(path + ("sent",), expect.get("sent")))]
    _in_order(checker, sent, "sent lists the messages in time order")
    for n, item in enumerate(checker.sequence(path + ("runs",), expect.get("runs"))):
        _run_item(checker, path + ("runs", n), item, index)
    for n, item in enumerate(checker.sequence(path + ("tasks",), expect.get("tasks"))):
        _task_item(checker, path + ("tasks", n), item, action_ids, index)


def _agents(checker: Checker, path: Path, raw: Any) -> None:
    """A test's agents, in the form the API takes them (plus their ``id``)."""
    seen: dict[str, Path] = {}
    for number, item in enumerate(checker.sequence(path, raw)):
        item_path = path + (number,)
        if not isinstance(item, dict):
            checker.problem(item_path, "an agent is a mapping with id, name, team, "
                                       "working_hours...")
            continue
        agent_id = checker.identifier(item_path + ("id",), item.get("id"))
        checker.unique(item_path + ("id",), seen, agent_id, "agent")
        try:
            agent_from_mapping(agent_id or "agent", {k: v for k, v in item.items() if k != "id"})
        except AgentProblems as exc:
            for name, messages in exc.problems.items():
                checker.problem(item_path + tuple(name.split(".")), " ".join(messages))


def _result_item(checker: Checker, path: Path, item: dict[str, Any],
                 index: JourneyIndex) -> None:
    _one_of(checker, path + ("result",), item["result"], RESULTS, "call result")
    if "step" not in item:
        checker.problem(path, "a result names the task step whose latest call it is for (step:)")
        return
    for step in index.find(checker, path + ("step",), item["step"], item.get("journey")):
        if not step.task:
            checker.problem(path + ("step",), f"step {step.journey}.{step.step} books no call "
                                              "task: no call result can be posted for it")
    if (item["result"] == "callback") != ("callback_at" in item):
        checker.problem(path + ("callback_at",), "callback_at goes with result: callback, and "
                                                 "a callback needs it")
    if "callback_at" in item:
        _instant(checker, path + ("callback_at",), item["callback_at"], index.tz)


def _task_item(checker: Checker, path: Path, item: Any, action_ids,
               index: JourneyIndex) -> None:
    item = checker.mapping(path, item, TASK_KEYS, ("step", "agent")) or {}
    if "action" in item:
        _one_of(checker, path + ("action",), item["action"], action_ids, "action")
    for step in index.find(checker, path + ("step",), item.get("step"), item.get("journey")):
        if not step.task:
            checker.problem(path + ("step",), f"step {step.journey}.{step.step} books no call "
                                              "task")
    if "status" in item:
        _one_of(checker, path + ("status",), item["status"], TASK_STATES, "task state")
    if "at" in item:
        _instant(checker, path + ("at",), item["at"], index.tz)


def _timeline_item(checker: Checker, path: Path, item: Any,
                   index: JourneyIndex) -> datetime | None:
    item = checker.mapping(path, item, TIMELINE_KEYS, ("at",))
    if item is None:
        return None
    forms = [form for form in TIMELINE_FORMS if form in item]
    if len(forms) != 1:
        checker.problem(path, "a timeline item has one of event: (an event type), outcome: "
                              "(with step:), result: (a call's, with step:) or profile: "
                              "(attributes to change)")
    for form in forms[:1]:
        for key in item:
            if key not in ("at", form) + TIMELINE_FORMS[form]:
                checker.problem(path + (key,), f"{key} does not go with {form}:")
        {"event": _event_item, "outcome": _outcome_item, "profile": _profile_item,
         "result": _result_item}[form](
            checker, path, item, index)
    return _instant(checker, path + ("at",), item.get("at"), index.tz)


def _event_item(checker: Checker, path: Path, item: dict[str, Any], index: JourneyIndex) -> None:
    name = checker.identifier(path + ("event",), item["event"])
    if name is not None and name not in index.events:
        checker.problem(path + ("event",), f"event {name!r} is neither declared under events: "
                                           f"nor read by a journey; known: {_known(index.events)}")
    checker.mapping(path + ("data",), item.get("data"), _AnyKey())
    if "id" in item:
        checker.text(path + ("id",), item["id"])


def _outcome_item(checker: Checker, path: Path, item: dict[str, Any],
                  index: JourneyIndex) -> None:
    _one_of(checker, path + ("outcome",), item["outcome"], OUTCOMES, "outcome")
    if "step" not in item:
        checker.problem(path, "an outcome names the step whose latest message it is for (step:)")
        return
    for step in index.find(checker, path + ("step",), item["step"], item.get("journey")):
        if step.channel is None:
            checker.problem(path + ("step",), f"step {step.journey}.{step.step} sends nothing: "
                                              "no outcome can be posted for it")


def _profile_item(checker: Checker, path: Path, item: dict[str, Any],
                  index: JourneyIndex) -> None:
    profile = checker.mapping(path + ("profile",), item["profile"], _AnyKey())
    if profile is not None and "consents" in profile:
        consents = checker.mapping(path + ("profile", "consents"), profile["consents"], _AnyKey())
        for channel, value in (consents or {}).items():
            checker.boolean(path + ("profile", "consents", channel), value)


def _sent_item(checker: Checker, path: Path, item: Any, channels, action_ids,
               index: JourneyIndex) -> datetime | None:
    item = checker.mapping(path, item, SENT_KEYS, ("step", "action", "channel", "at"))
    if item is None:
        return None
    action = item.get("action")
    known = _one_of(checker, path + ("action",), action, action_ids, "action") \
        & _one_of(checker, path + ("channel",), item.get("channel"), channels, "channel")
    steps = index.find(checker, path + ("step",), item.get("step"), item.get("journey"))
    if known and steps and not any(s.channel == item["channel"] for s in steps):
        on = ", ".join(sorted({str(s.channel) for s in steps}))
        checker.problem(path + ("channel",), f"step {item['step']} sends on {on}, "
                                             f"not {item['channel']}")
    elif known and steps and not any(action in s.actions for s in steps):
        offered = ", ".join(sorted({a for s in steps for a in s.actions})) or "nothing"
        checker.problem(path + ("action",), f"step {item['step']} sends {offered}, "
                                            f"not {action}")
    if "state" in item:
        _one_of(checker, path + ("state",), item["state"], MESSAGE_STATES, "message state")
    return _instant(checker, path + ("at",), item.get("at"), index.tz)


def _run_item(checker: Checker, path: Path, item: Any, index: JourneyIndex) -> None:
    item = checker.mapping(path, item, RUN_KEYS) or {}
    index.find(checker, path + ("step",), item.get("step"), item.get("journey"))
    if "state" in item:
        _one_of(checker, path + ("state",), item["state"], RUN_STATES, "run state")
    if "end" in item:
        checker.text(path + ("end",), item["end"])


def _one_of(checker: Checker, path: Path, value: Any, known, what: str) -> bool:
    if value in known:
        return True
    checker.problem(path, f"unknown {what} {value!r}; known: {', '.join(known)}")
    return False


def _instant(checker: Checker, path: Path, value: Any, tz) -> datetime | None:
    """The instant ``value`` names (None when missing: a required key says so)."""
    moment = to_datetime(value, tz)
    if moment is None and value is not None:
        checker.problem(path, f"expected a date-time like \"2026-11-20T09:00:00Z\" (without "
                              f"offset: the pack's timezone), got {value!r}")
    return moment


def _in_order(checker: Checker, moments: list[tuple[Path, datetime | None]], rule: str) -> None:
    dated = [(path, moment) for path, moment in moments if moment is not None]
    for (before, earlier), (path, later) in zip(dated, dated[1:], strict=False):
        if later < earlier:
            checker.problem(path, f"{isoformat(later)} is before {format_path(before)} "
                                  f"({isoformat(earlier)}); {rule}")


def _known(names) -> str:
    return ", ".join(sorted(map(str, names))) or "none"


class _AnyKey(tuple):
    """Allows every key (a test contact's attributes are free)."""

    def __contains__(self, key: object) -> bool:
        return True
