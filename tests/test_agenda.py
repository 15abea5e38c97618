"""Working hours, slots and routing (engine/agenda), pure, and the pack language
of routing and task steps."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from engine.agenda.hours import next_free_slot, next_half_day
from engine.agenda.model import Agent, AgentProblems, Task, agent_from_mapping, parse_intervals
from engine.agenda.routing import RoutingRule, choose_agent
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.language.expressions import compile_expression

UTC = timezone.utc
WEEK = {d: "09:00-12:30,14:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
TUESDAY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 16:00 in Paris


def agent(agent_id: str = "a1", **fields) -> Agent:
    raw = {"name": agent_id, "team": "field", "working_hours": WEEK, **fields}
    return agent_from_mapping(agent_id, raw)


def task(task_id: str, slot: datetime | None, agent_id: str = "a1", minutes: int = 15,
         status: str = "planned") -> Task:
    return Task(task_id, "c1", "sales", "field", agent_id, "lead_call", "call",
                timedelta(minutes=minutes), TUESDAY, TUESDAY, slot_at=slot, status=status)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_slot_starts_within_working_hours_on_the_five_minute_grid():
    slot = next_free_slot(agent(), [], at("2026-12-01T15:07:30+00:00"), timedelta(minutes=15))
    assert slot == at("2026-12-01T16:10:00+01:00")


def test_a_call_that_does_not_fit_before_lunch_goes_after_it():
    slot = next_free_slot(agent(), [], at("2026-12-02T12:20:00+01:00"), timedelta(minutes=15))
    assert slot == at("2026-12-02T14:00:00+01:00")


def test_booked_calls_are_not_overlapped():
    booked = [task("t1", at("2026-12-02T09:00:00+01:00")),
              task("t2", at("2026-12-02T09:15:00+01:00"), minutes=30)]
    slot = next_free_slot(agent(), booked, at("2026-12-02T09:00:00+01:00"),
                          timedelta(minutes=15))
    assert slot == at("2026-12-02T09:45:00+01:00")


def test_cancelled_calls_free_their_slot():
    booked = [task("t1", at("2026-12-02T09:00:00+01:00"), status="cancelled")]
    slot = next_free_slot(agent(), booked, at("2026-12-02T08:00:00+01:00"),
                          timedelta(minutes=15))
    assert slot == at("2026-12-02T09:00:00+01:00")


def test_a_full_day_moves_the_call_to_the_next_working_day():
    full = agent(capacity_per_day=2)
    booked = [task("t1", at("2026-12-04T09:00:00+01:00")),
              task("t2", at("2026-12-04T15:00:00+01:00"))]
    slot = next_free_slot(full, booked, at("2026-12-04T10:00:00+01:00"), timedelta(minutes=15))
    assert slot == at("2026-12-07T09:00:00+01:00")  # Friday is full: Monday


def test_slots_are_in_the_agents_time_zone():
    montreal = agent(timezone="America/Montreal")
    slot = next_free_slot(montreal, [], TUESDAY, timedelta(minutes=15))
    assert slot == at("2026-12-01T10:00:00-05:00")


def test_an_agent_without_working_hours_has_no_slot():
    idle = replace(agent(), working_hours={})
    assert next_free_slot(idle, [], TUESDAY, timedelta(minutes=15)) is None


def test_another_half_day_starts_at_one_in_the_afternoon_or_the_next_midnight():
    assert next_half_day(at("2026-12-02T09:00:00+01:00"), agent()) == at(
        "2026-12-02T13:00:00+01:00")
    assert next_half_day(at("2026-12-02T14:00:00+01:00"), agent()) == at(
        "2026-12-03T00:00:00+01:00")


@pytest.mark.parametrize("spec, message", [
    ("9:00-18:00", "is not a time"), ("18:00-09:00", "ends before it starts"),
    ("09:00-12:00,11:00-13:00", "overlapping"), ("09:00", "not a range")])
def test_working_hours_are_checked(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_intervals(spec)


def test_an_agent_with_wrong_fields_gets_every_problem_at_once():
    with pytest.raises(AgentProblems) as caught:
        agent_from_mapping("x", {"name": " ", "team": "field", "timezone": "Mars/Olympus",
                                 "working_hours": {"someday": "09:00-10:00"},
                                 "capacity_per_day": True, "zones": [7], "active": "yes"})
    assert set(caught.value.problems) == {"name", "timezone", "working_hours.someday",
                                          "capacity_per_day", "zones", "active"}


# -- routing ---------------------------------------------------------------------


def route(agents, rules=(), profile=None, loads=None, sticky=None, exclude=frozenset()):
    profile = profile or {}
    return choose_agent(rules, "sales", agents,
                        lambda e: e.evaluate_on(profile) if hasattr(e, "evaluate_on")
                        else profile.get(e.source.split(".")[1]), profile, loads or {},
                        sticky, exclude)


ZONES = (RoutingRule(team="field", match="zones",
                     skills=(compile_expression("contact.product"),)),)


def test_the_longest_matching_zone_wins():
    agents = [agent("paris", zones=["75"]), agent("paris_11", zones=["7501"])]
    choice = route(agents, ZONES, {"postal_code": "75011"})
    assert (choice.agent.agent_id, choice.how) == ("paris_11", "zones")


def test_skills_then_load_then_id_break_ties_among_zone_matches():
    agents = [agent("b", zones=["75"]), agent("a", zones=["75"]),
              agent("c", zones=["75"], skills=["sofa"])]
    assert route(agents, ZONES, {"postal_code": "75011", "product": "sofa"}).agent.agent_id == "c"
    assert route(agents, ZONES, {"postal_code": "75011"}, {"a": 3, "b": 1, "c": 2}).agent.agent_id == "b"
    assert route(agents, ZONES, {"postal_code": "75011"}).agent.agent_id == "a"


def test_a_lead_no_zone_matches_goes_to_the_default_agent_else_unassigned():
    agents = [agent("paris", zones=["75"])]
    unassigned = route(agents, ZONES, {"postal_code": "13001"})
    assert (unassigned.agent, unassigned.team, unassigned.how) == (None, "field", "unassigned")
    with_default = route(agents + [agent("catch_all", default=True)], ZONES,
                         {"postal_code": "13001"})
    assert (with_default.agent.agent_id, with_default.how) == ("catch_all", "default")


def test_inactive_agents_are_never_chosen_and_lose_their_sticky_contacts():
    agents = [agent("paris", zones=["75"], active=False), agent("paris2", zones=["75"])]
    assert route(agents, ZONES, {"postal_code": "75011"}).agent.agent_id == "paris2"
    assert route(agents, ZONES, {"postal_code": "75011"}, sticky="paris").how == "zones"
    kept = route(agents, ZONES, {"postal_code": "13001"}, sticky="paris2")
    assert (kept.agent.agent_id, kept.how) == ("paris2", "sticky")


def test_a_queue_without_rules_is_a_team_name():
    agents = [agent("x1", team="sales"), agent("x2", team="other")]
    assert route(agents).agent.agent_id == "x1"


# -- the pack language -------------------------------------------------------------

PACK = """
pack: p
version: "1"
timezone: Europe/Paris
channels:
  email: {}
  call: {consent: opt_out}
  web: {inbound: true}
actions:
  - {id: lead_call, program: prospection, kind: service, channels: [call], value: 1}
  - {id: mail_it, program: prospection, kind: service, channels: [email], value: 1}
events:
  lead_form: {}
routing:
  sales:
    - {when: 'contact.product ==', team: experts}
    - {team: field, match: postcode}
    - {match: zones}
journeys:
  - id: j
    program: prospection
    trigger: {event: lead_form}
    steps:
      - id: call
        task: {team: sales, action: mail_it, duration: 1m, attempts: 50}
      - id: both
        task: {team: sales, action: lead_call}
        send: {channel: email}
      - id: inbound
        task: {team: sales, action: lead_call, channel: web}
"""


def test_routing_and_task_steps_are_checked_with_their_lines():
    with pytest.raises(InvalidPack) as caught:
        compile_pack(PACK.encode(), "p.yaml")
    found = {(p.path, p.line) for p in caught.value.problems}
    messages = " | ".join(str(p) for p in caught.value.problems)
    assert ("routing.sales[0].when", 16) in found
    assert ("routing.sales[1].match", 17) in found
    assert ("routing.sales[2]", 18) in found and "missing required key 'team'" in messages
    assert "action mail_it does not offer channel call" in messages
    assert "a call lasts from 5m to 8h" in messages and "at most 10 attempts" in messages
    assert "sends a message or books a call task, not both" in messages
    assert "web is an inbound channel" in messages
