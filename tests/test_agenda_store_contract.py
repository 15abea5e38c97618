"""The contract every AgendaStore backend keeps (engine/agenda/ports.py): agents,
tasks and their agendas, the unassigned queue, results, sticky agents and
erasure, on memory, SQLite, Redis and Redis Cluster (real throwaway servers,
flushed before each test). The last tests race real processes booking one
agent's agenda.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from engine.agenda.model import Agent, Task, TaskResult
from store import agenda_from_url
from store.errors import UnknownStoreURL

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
HALF_HOUR = timedelta(minutes=30)
DAY = timedelta(days=1)
BACKENDS = ["memory", "sqlite", "redis", "redis_cluster"]
SHARED = ["sqlite", "redis", "redis_cluster"]


def _url(name: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if name == "memory":
        return "memory://"
    if name == "sqlite":
        return f"sqlite:///{tmp}/db/nba.db"
    if name == "redis":
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        return server.url
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _url(request.param, tmp_path, request)


@pytest.fixture
def agenda(url: str):
    store = agenda_from_url(url)
    yield store
    store.close()


def agent(agent_id: str = "a1", **fields) -> Agent:
    hours = {"mon": ((time(9), time(12, 30)), (time(14), time(18))), "sat": ((time(10), time(12)),)}
    base = dict(name="Zoé Müller", team="sales", working_hours=hours, skills=("fr", "b2b"),
                zones=("75", "92"))
    return Agent(agent_id, **{**base, **fields})


def task(task_id: str, contact: str = "c1", agent_id: str | None = "a1",
         slot: datetime | None = T0, created: datetime = T0, status: str = "planned",
         **fields) -> Task:
    return Task(task_id, contact, "sales", "sales", agent_id, "call_offer", "phone",
                timedelta(minutes=20), created, created, slot, status, **fields)


def ids(tasks: list[Task]) -> list[str]:
    return [t.task_id for t in tasks]


# -- agents ------------------------------------------------------------------------


def test_an_agent_reads_back_equal_and_is_replaced_by_a_new_put(agenda):
    assert agenda.get_agent("a1") is None
    agenda.put_agent(agent())
    assert agenda.get_agent("a1") == agent()
    agenda.put_agent(agent(name="Zoé M.", active=False, capacity_per_day=5))
    assert agenda.get_agent("a1") == agent(name="Zoé M.", active=False, capacity_per_day=5)
    assert agenda.agents() == [agent(name="Zoé M.", active=False, capacity_per_day=5)]


def test_agents_are_listed_by_id_and_a_deleted_one_is_gone(agenda):
    for agent_id in ("b2", "a1", "}{ünï"):
        agenda.put_agent(agent(agent_id))
    assert [a.agent_id for a in agenda.agents()] == ["a1", "b2", "}{ünï"]
    assert agenda.delete_agent("b2") is True
    assert agenda.delete_agent("b2") is False
    assert agenda.get_agent("b2") is None
    assert [a.agent_id for a in agenda.agents()] == ["a1", "}{ünï"]


def test_deleting_an_agent_keeps_its_tasks(agenda):
    agenda.put_agent(agent())
    assert agenda.save_task(task("t1"))
    assert agenda.delete_agent("a1")
    assert ids(agenda.open_agent_tasks("a1")) == ["t1"]
    assert agenda.get_task("t1") == task("t1")


# -- saving tasks ------------------------------------------------------------------


def test_a_task_with_a_result_reads_back_equal(agenda):
    done = task("t1", status="done", journey_id="j", run_id="r", step_id="call", attempt=2,
                decision_id="d1", content={"script": "Bonjour, ça va ? ✓", "n": [1, 2.5]},
                reasons=("vip", "panier abandonné"), assigned_by="sticky",
                moves=("booked for a1 (routing)", "décidé"),
                result=TaskResult("callback", T0 + MINUTE, "rappeler à 14h ☎", 12.5,
                                  T0 + DAY + timedelta(microseconds=7), "a1"))
    assert agenda.save_task(done)
    assert agenda.get_task("t1") == done
    assert agenda.get_task("t2") is None


def test_every_save_of_a_task_moves_its_agendas_version_on(agenda):
    assert agenda.agenda_version("a1") == 0
    assert agenda.save_task(task("t1"))
    assert agenda.agenda_version("a1") == 1
    changed = task("t1", slot=T0 + HALF_HOUR, status="open")
    assert agenda.save_task(changed)
    assert agenda.agenda_version("a1") == 2
    assert agenda.get_task("t1") == changed
    assert agenda.agenda_version("a2") == 0


def test_a_task_moved_to_another_agent_leaves_one_agenda_for_the_other(agenda):
    assert agenda.save_task(task("t1"))
    assert agenda.save_task(task("t1", agent_id="a2", slot=T0 + HALF_HOUR))
    assert (agenda.agenda_version("a1"), agenda.agenda_version("a2")) == (2, 1)
    assert agenda.agent_tasks("a1", T0 - DAY, T0 + DAY) == []
    assert agenda.open_agent_tasks("a1") == []
    assert ids(agenda.agent_tasks("a2", T0 - DAY, T0 + DAY)) == ["t1"]
    assert ids(agenda.open_agent_tasks("a2")) == ["t1"]


def test_a_save_expecting_another_version_writes_nothing(agenda):
    assert agenda.save_task(task("t1"))
    assert not agenda.save_task(task("t2", slot=T0 + HALF_HOUR), expected=0,
                                assign=("c1", "sales", "a1"))
    assert not agenda.save_task(task("t1", agent_id="a2"), expected=3)
    assert agenda.get_task("t2") is None
    assert agenda.get_task("t1") == task("t1")
    assert agenda.agenda_version("a1") == 1
    assert agenda.assignment("c1", "sales") is None
    assert ids(agenda.agent_tasks("a1", T0 - DAY, T0 + DAY)) == ["t1"]
    assert agenda.save_task(task("t2", slot=T0 + HALF_HOUR), expected=1)
    assert agenda.agenda_version("a1") == 2


def test_an_unassigned_task_is_saved_whatever_version_is_expected(agenda):
    assert agenda.save_task(task("t1", agent_id=None, slot=None), expected=5)
    assert ids(agenda.unassigned_tasks()) == ["t1"]


# -- reading agendas -----------------------------------------------------------------


def test_the_unassigned_queue_holds_open_tasks_without_agent_oldest_first(agenda):
    for n, status in enumerate(("planned", "open", "done", "cancelled", "planned")):
        created = T0 - n * MINUTE if n < 4 else T0 - MINUTE  # t4 ties with t1
        assert agenda.save_task(task(f"t{n}", agent_id=None, slot=None, created=created,
                                     status=status))
    assert ids(agenda.unassigned_tasks()) == ["t1", "t4", "t0"]
    assert ids(agenda.unassigned_tasks(limit=2)) == ["t1", "t4"]
    assert agenda.save_task(task("t1", created=T0 - MINUTE, status="open"))
    assert ids(agenda.unassigned_tasks()) == ["t4", "t0"]
    assert agenda.save_task(task("t4", agent_id=None, slot=None, created=T0 - MINUTE,
                                 status="cancelled"))
    assert ids(agenda.unassigned_tasks()) == ["t0"]


def test_an_agents_tasks_are_those_whose_slot_starts_in_the_range_by_slot(agenda):
    slots = {"t1": T0 + HALF_HOUR, "t2": T0, "t3": T0 + 2 * HALF_HOUR, "t0": T0 + HALF_HOUR,
             "t4": T0 - timedelta(microseconds=1)}
    for task_id, slot in slots.items():
        assert agenda.save_task(task(task_id, slot=slot, status="done" if task_id == "t0"
                                     else "planned"))
    assert agenda.save_task(task("other", agent_id="a2", slot=T0))
    assert agenda.save_task(task("no-slot", slot=None, created=T0 + MINUTE))
    assert ids(agenda.agent_tasks("a1", T0, T0 + 2 * HALF_HOUR)) == ["t2", "t0", "t1"]
    assert ids(agenda.agent_tasks("a1", T0 - DAY, T0 + DAY)) == ["t4", "t2", "t0", "t1", "t3"]
    assert agenda.agent_tasks("a1", T0 + DAY, T0 + 2 * DAY) == []
    assert agenda.agent_tasks("nobody", T0 - DAY, T0 + DAY) == []


def test_an_agents_open_tasks_leave_out_done_and_cancelled_ones(agenda):
    states = {"t1": "open", "t2": "done", "t3": "cancelled", "t4": "planned", "t5": "open"}
    for n, (task_id, status) in enumerate(states.items()):
        assert agenda.save_task(task(task_id, slot=T0 + (5 - n) * HALF_HOUR, status=status))
    assert ids(agenda.open_agent_tasks("a1")) == ["t5", "t4", "t1"]
    assert agenda.save_task(task("t4", slot=T0 + 9 * HALF_HOUR, status="cancelled"))
    assert ids(agenda.open_agent_tasks("a1")) == ["t5", "t1"]
    assert agenda.open_agent_tasks("nobody") == []


def test_a_contacts_tasks_are_listed_by_creation(agenda):
    for task_id, created in (("t1", T0 + MINUTE), ("t2", T0), ("t3", T0 + 2 * MINUTE)):
        assert agenda.save_task(task(task_id, created=created, agent_id=None, slot=None))
    assert agenda.save_task(task("t9", contact="c2"))
    assert ids(agenda.contact_tasks("c1")) == ["t2", "t1", "t3"]
    assert ids(agenda.contact_tasks("c2")) == ["t9"]
    assert agenda.contact_tasks("nobody") == []


# -- results ---------------------------------------------------------------------------


def test_a_result_is_recorded_once_on_an_open_task(agenda):
    assert agenda.save_task(task("t1", status="open"))
    first = TaskResult("converted", T0 + MINUTE, "signé ✓", 120.0, by="a1")
    done, recorded = agenda.record_result("t1", first)
    assert recorded and done == task("t1", status="done", result=first)
    assert agenda.get_task("t1") == done
    assert agenda.agenda_version("a1") == 2
    assert agenda.open_agent_tasks("a1") == []
    again, recorded = agenda.record_result("t1", TaskResult("rejected", T0 + 2 * MINUTE))
    assert (again, recorded) == (done, False)
    assert agenda.get_task("t1") == done


def test_a_result_is_refused_on_a_task_that_is_not_open(agenda):
    for task_id, status in (("t1", "planned"), ("t2", "cancelled")):
        assert agenda.save_task(task(task_id, status=status))
        found, recorded = agenda.record_result(task_id, TaskResult("converted", T0))
        assert (found, recorded) == (task(task_id, status=status), False)
        assert agenda.get_task(task_id) == task(task_id, status=status)
    assert agenda.agenda_version("a1") == 2
    assert agenda.record_result("nope", TaskResult("converted", T0)) == (None, False)


def test_a_result_on_an_open_unassigned_task_takes_it_out_of_the_queue(agenda):
    assert agenda.save_task(task("t1", agent_id=None, slot=None, status="open"))
    done, recorded = agenda.record_result("t1", TaskResult("no_answer", T0))
    assert recorded and done.status == "done"
    assert agenda.unassigned_tasks() == []


# -- sticky agents and erasure -----------------------------------------------------------


def test_a_contacts_sticky_agent_is_recorded_with_a_save_and_replaced_by_a_later_one(agenda):
    assert agenda.assignment("c1", "sales") is None
    assert agenda.save_task(task("t1"), expected=0, assign=("c1", "sales", "a1"))
    assert agenda.assignment("c1", "sales") == "a1"
    assert agenda.assignment("c1", "support") is None
    assert agenda.assignment("c2", "sales") is None
    assert agenda.save_task(task("t1", agent_id="a2"), assign=("c1", "sales", "a2"))
    assert agenda.save_task(task("t2"), assign=("c1", "support", "a1"))
    assert (agenda.assignment("c1", "sales"), agenda.assignment("c1", "support")) == ("a2", "a1")


def test_erasing_a_contact_removes_its_tasks_everywhere_and_its_sticky_agents(agenda):
    assert agenda.save_task(task("t1"), assign=("c1", "sales", "a1"))
    assert agenda.save_task(task("t2", agent_id=None, slot=None))
    assert agenda.save_task(task("t3", slot=T0 + HALF_HOUR, status="done"))
    assert agenda.save_task(task("kept", contact="c2", slot=T0 + DAY),
                            assign=("c2", "sales", "a1"))
    assert agenda.erase_contact("c1") is True
    assert [agenda.get_task(t) for t in ("t1", "t2", "t3")] == [None, None, None]
    assert agenda.contact_tasks("c1") == [] and agenda.unassigned_tasks() == []
    assert ids(agenda.agent_tasks("a1", T0 - DAY, T0 + 2 * DAY)) == ["kept"]
    assert ids(agenda.open_agent_tasks("a1")) == ["kept"]
    assert agenda.assignment("c1", "sales") is None
    assert agenda.assignment("c2", "sales") == "a1"
    assert agenda.erase_contact("c1") is False


def test_erasing_a_contact_with_only_a_sticky_agent_says_something_was_erased(agenda):
    assert agenda.save_task(task("t1", contact="c2"), assign=("c1", "sales", "a1"))
    assert agenda.erase_contact("c1") is True
    assert agenda.assignment("c1", "sales") is None
    assert ids(agenda.contact_tasks("c2")) == ["t1"]


def test_a_task_given_to_another_contact_leaves_the_first_ones_list(agenda):
    assert agenda.save_task(task("t1"))
    assert agenda.save_task(task("t1", contact="c2"))
    assert agenda.contact_tasks("c1") == []
    assert ids(agenda.contact_tasks("c2")) == ["t1"]
    assert agenda.erase_contact("c1") is False
    assert agenda.get_task("t1") == task("t1", contact="c2")


def test_tasks_of_awkward_ids_stay_apart(agenda):
    for n, name in enumerate(("}{", "a}b{c", "100%", "ünï")):
        assert agenda.save_task(task(f"t-{name}", contact=name, agent_id=name,
                                     slot=T0 + n * MINUTE), assign=(name, "sales", name))
    for name in ("}{", "a}b{c", "100%", "ünï"):
        assert ids(agenda.contact_tasks(name)) == [f"t-{name}"]
        assert ids(agenda.open_agent_tasks(name)) == [f"t-{name}"]
        assert agenda.assignment(name, "sales") == name


def test_an_unknown_store_url_is_refused():
    with pytest.raises(UnknownStoreURL):
        agenda_from_url("postgres://localhost/nba")


# -- real processes ------------------------------------------------------------------------

WORKERS, BOOKINGS = 4, 4


def _book_in_child(url: str, worker: int, optimistic: bool, barrier, results) -> None:
    """Book BOOKINGS tasks for a1, each in the first slot free when read; all
    workers read their first agenda before any of them writes."""
    store = agenda_from_url(url)
    won = []
    for n in range(BOOKINGS):
        new = task(f"w{worker}-{n}", contact=f"c{worker}", agent_id=None, slot=None)
        while True:
            version = store.agenda_version("a1")
            taken = {t.slot_at for t in store.agent_tasks("a1", T0, T0 + DAY)}
            slot = next(T0 + i * HALF_HOUR for i in range(48) if T0 + i * HALF_HOUR not in taken)
            if n == 0 and not won and barrier is not None:
                barrier.wait()
                barrier = None
            booked = replace(new, agent_id="a1", slot_at=slot)
            if store.save_task(booked, version if optimistic else None):
                won.append(version)
                break
    results.put(won)
    store.close()


def _race(url: str, optimistic: bool) -> list[int]:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    children = [context.Process(target=_book_in_child, args=(url, n, optimistic, barrier, results))
                for n in range(WORKERS)]
    for child in children:
        child.start()
    won = [version for _ in children for version in results.get(timeout=60)]
    for child in children:
        child.join(timeout=60)
    return won


@pytest.mark.parametrize("name", SHARED)
def test_processes_booking_one_agent_at_once_never_share_a_slot(name, tmp_path, request):
    url = _url(name, tmp_path, request)
    won = _race(url, optimistic=True)
    store = agenda_from_url(url)
    slots = [t.slot_at for t in store.agent_tasks("a1", T0, T0 + DAY)]
    assert len(slots) == WORKERS * BOOKINGS
    assert len(set(slots)) == len(slots)
    assert sorted(won) == list(range(WORKERS * BOOKINGS))  # one winner per version
    assert store.agenda_version("a1") == WORKERS * BOOKINGS
    store.close()


@pytest.mark.parametrize("name", SHARED)
def test_processes_booking_without_the_version_check_double_book(name, tmp_path, request):
    """The control: it shows the race above is real."""
    url = _url(name, tmp_path, request)
    _race(url, optimistic=False)
    store = agenda_from_url(url)
    slots = [t.slot_at for t in store.agent_tasks("a1", T0, T0 + DAY)]
    assert len(slots) == WORKERS * BOOKINGS
    assert len(set(slots)) < len(slots)
    store.close()
