"""What only the SQLite JourneyStore promises: it upgrades a contact store's file
in place, its queues are read through their indexes, and it answers exactly
like the in-memory reference on the corners the contract suite leaves open."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.journeys.memory import MemoryJourneyStore
from engine.journeys.model import ContactEvent, DueTimer, OutboxMessage, Run, RunChange, RunUpdate
from engine.model import ContactRecord
from store.errors import NaiveTimestamp
from store.sqlite.contacts import SQLiteStore
from store.sqlite.journeys import CLAIM_DUE, LEASE_READY, SQLiteJourneyStore

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
JOURNEY_TABLES = {"events", "runs", "watches", "timers", "outbox", "counts"}


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "nba.db")


@pytest.fixture
def js(path: str):
    store = SQLiteJourneyStore(path)
    yield store
    store.close()


def tables(path: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def plan(path: str, sql: str, params: tuple) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def run(run_id: str = "r1", contact: str = "c1", seq: int = 0, due: datetime = T0) -> Run:
    return Run(run_id, "cart_recovery", contact, "reminder", "active", seq, T0, T0, due)


def message(message_id: str, channel: str = "email", due: datetime = T0,
            created: datetime = T0) -> OutboxMessage:
    return OutboxMessage(message_id, channel, "c1", "cart_email", {"subject": "Hi"},
                         f"d-{message_id}", "cart_recovery", "r1", "reminder", due, created)


def timers(contact: str, *due: datetime) -> RunChange:
    return RunChange(contact, timers=tuple(DueTimer(contact, f"k{n}", at) for n, at in enumerate(due)))


# -- the file --------------------------------------------------------------------------


def test_a_contact_store_file_without_journey_tables_gains_them_and_keeps_its_contacts(path):
    contacts = SQLiteStore(path)
    contacts.put_contact(ContactRecord("c1", {"tier": "gold"}, {"email": True}))
    contacts.close()
    assert not JOURNEY_TABLES & tables(path)
    journeys = SQLiteJourneyStore(path)
    assert journeys.commit(RunChange("c1", runs=(RunUpdate(run(), None),))).ok
    journeys.close()
    assert tables(path) >= JOURNEY_TABLES
    reopened, journeys = SQLiteStore(path), SQLiteJourneyStore(path)
    assert reopened.get_contact("c1").profile == {"tier": "gold"}
    assert [r.run_id for r in journeys.journey_state("c1").runs] == ["r1"]
    reopened.close()
    journeys.close()


def test_a_naive_time_is_refused_and_the_commit_writes_nothing(js):
    naive = ContactEvent("e1", "c1", "cart_abandoned", datetime(2026, 11, 16, 9, 0))
    with pytest.raises(NaiveTimestamp):
        js.commit(RunChange("c1", runs=(RunUpdate(run(), None),), event=naive))
    assert js.journey_state("c1").runs == () and js.events("c1") == ()


# -- the queues read through their indexes ------------------------------------------------


def test_claiming_due_timers_searches_the_due_index_instead_of_scanning_every_timer(js, path):
    assert js.ping()
    steps = plan(path, CLAIM_DUE, (T0.timestamp(), T0.timestamp(), 10))
    assert any(s.startswith("SEARCH timers USING INDEX timers_by_due") for s in steps), steps
    assert not any("SCAN" in s or "TEMP B-TREE" in s for s in steps), steps


def test_leasing_messages_searches_the_index_of_deliverable_messages(js, path):
    assert js.ping()
    steps = plan(path, LEASE_READY, ("email", T0.timestamp(), 10))
    assert any(s.startswith("SEARCH outbox USING INDEX outbox_ready") for s in steps), steps
    assert not any("SCAN" in s or "TEMP B-TREE" in s for s in steps), steps


def _claim_cost(path: str) -> int:
    """SQLite VM instructions the claim query runs at T0 (in steps of 100)."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    with sqlite3.connect(path) as conn:
        conn.set_progress_handler(count, 100)
        found = conn.execute(CLAIM_DUE, (T0.timestamp(), T0.timestamp(), 100)).fetchall()
    assert len(found) == 3
    return counted[0]


def test_the_cost_of_a_claim_depends_on_what_is_due_not_on_how_many_timers_wait(js, path):
    assert js.commit(timers("due", T0 - 3 * MINUTE, T0 - 2 * MINUTE, T0 - MINUTE)).ok
    assert js.commit(timers("later", *(T0 + n * MINUTE for n in range(1, 11)))).ok
    few = _claim_cost(path)
    assert js.commit(timers("later", *(T0 + n * MINUTE for n in range(1, 5001)))).ok
    assert js.pending_timers() == 5003
    assert _claim_cost(path) <= few + 1


# -- the same answers as the in-memory reference --------------------------------------------


def _scenario(store) -> list:
    """Corners of ordering and state: every answer, in order, for comparison."""
    seen: list = []
    for contact in ("b", "a", "ä", "a b"):
        seen.append(store.commit(timers(contact, T0, T0)))
    seen.append(store.claim_due(T0, 5, 3600))
    seen.append(store.commit(timers("b", T0 + MINUTE)))  # rescheduled while leased: lease cleared
    seen += [store.claim_due(T0 + MINUTE, 10, 60), store.oldest_due(), store.pending_timers()]
    for n in range(503):  # equal times: the earliest recorded go first
        seen.append(store.commit(RunChange("c1", event=ContactEvent(f"e{n}", "c1", "t", T0))))
    seen.append([e.event_id for e in store.events("c1")][:3])
    seen.append(store.commit(RunChange("c1", event=ContactEvent("e0", "c1", "t", T0))))
    seen.append(store.commit(RunChange("c1", runs=(RunUpdate(run("r2"), None),
                                                   RunUpdate(run("r1"), 4)))))
    seen.append(store.commit(RunChange("c1", counts=(("j", "x"), ("j", "x")))))
    seen.append(store.journey_counts("j"))
    return seen + _outbox_scenario(store) + [store.erase_contact("c1"), store.erase_contact("c1")]


def _outbox_scenario(store) -> list:
    seen: list = [store.commit(RunChange("c1", messages=(
        message("m1", due=T0 + MINUTE), message("m2", created=T0 - MINUTE), message("m3"),
        replace(message("m4"), last_error="old", attempts=7, state="failed"), message("m3"))))]
    seen.append(store.lease_outbox("email", T0, 2, 30))
    store.retry_outbox("email", "m2", T0 + 2 * MINUTE, "HTTP 503")
    store.fail_outbox("email", "m3", "HTTP 410")
    store.retry_outbox("email", "m3", T0, "too late")  # failed stays failed
    seen.append(store.commit(RunChange("c1", cancel=(("email", "m4"), ("email", "nope")),
                                       messages=(message("m3"),))))
    seen.append(store.ack_outbox("email", ["m4", "m4", "m3", "nope"]))
    seen.append(store.commit(RunChange("c1", cancel=(("email", "m4"),))))
    seen += [store.lease_outbox("email", T0 + 2 * MINUTE, 10, 30), store.lease_outbox("sms", T0, 9, 1)]
    seen += [store.outbox_messages("email", state, 10)
             for state in ("ready", "leased", "acked", "failed", "cancelled")]
    return seen


def test_it_answers_like_the_in_memory_store_on_ties_replacements_and_terminal_states(js):
    assert _scenario(js) == _scenario(MemoryJourneyStore())
