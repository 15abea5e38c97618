"""The contract every JourneyStore backend keeps: events, runs, the due queue,
outboxes, counters and erasure, on memory, SQLite, Redis and Redis Cluster
(real throwaway servers, flushed before each test). The last tests race real
processes against one store.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.journeys.model import (
    ContactEvent,
    DueTimer,
    OutboxMessage,
    Run,
    RunChange,
    RunUpdate,
)
from engine.journeys.ports import MAX_EVENTS_PER_CONTACT
from store import journeys_from_url

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
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
def js(url: str):
    store = journeys_from_url(url)
    yield store
    store.close()


def event(event_id: str, contact: str = "c1", type_: str = "cart_abandoned",
          at: datetime = T0, **data) -> ContactEvent:
    return ContactEvent(event_id, contact, type_, at, data)


def run(run_id: str = "r1", contact: str = "c1", seq: int = 0, state: str = "active",
        due: datetime | None = T0, **fields) -> Run:
    return Run(run_id, "cart_recovery", contact, "reminder", state, seq, T0, T0, due, **fields)


def timer(r: Run, due: datetime | None = None) -> DueTimer:
    return DueTimer(r.contact_id, r.timer_key, due or r.due_at)


def start(js, r: Run, **extra) -> None:
    assert js.commit(RunChange(r.contact_id, runs=(RunUpdate(r, None),),
                               timers=(timer(r),), **extra)).ok


def message(message_id: str, contact: str = "c1", channel: str = "email",
            due: datetime = T0) -> OutboxMessage:
    return OutboxMessage(message_id, channel, contact, "cart_email",
                         {"subject": "Your cart", "body": "é ✓"}, f"d-{message_id}",
                         "cart_recovery", "r1", "reminder", due, T0)


# -- events ------------------------------------------------------------------------


def test_an_event_is_recorded_once_and_a_duplicate_changes_nothing(js):
    first = event("e1", total=12.5, items=["a", "b"])
    assert js.commit(RunChange("c1", event=first, runs=(RunUpdate(run("r1"), None),))).ok
    again = js.commit(RunChange("c1", event=event("e1", total=99),
                                runs=(RunUpdate(run("r2"), None),)))
    assert (again.ok, again.duplicate_event) == (False, True)
    assert js.events("c1") == (first,)
    assert [r.run_id for r in js.journey_state("c1").runs] == ["r1"]
    assert js.has_event("c1", "e1") and not js.has_event("c1", "e2")
    assert not js.has_event("c2", "e1")


def test_events_are_read_oldest_first_and_only_the_most_recent_are_kept(js):
    for n in range(MAX_EVENTS_PER_CONTACT + 3):
        at = T0 + timedelta(seconds=(MAX_EVENTS_PER_CONTACT - n) if n % 2 else n)
        assert js.commit(RunChange("c1", event=event(f"e{n}", at=at))).ok
    kept = js.events("c1")
    assert len(kept) == MAX_EVENTS_PER_CONTACT
    times = [e.at for e in kept]
    assert times == sorted(times)
    assert min(times) >= sorted(T0 + timedelta(seconds=(MAX_EVENTS_PER_CONTACT - n) if n % 2 else n)
                                for n in range(MAX_EVENTS_PER_CONTACT + 3))[3]


def test_events_of_contacts_with_awkward_ids_stay_apart(js):
    for contact in ("}{", "a}b{c", "100%", "ünï"):
        assert js.commit(RunChange(contact, event=event("e1", contact=contact))).ok
    assert all(js.events(c)[0].contact_id == c for c in ("}{", "a}b{c", "100%", "ünï"))


# -- runs --------------------------------------------------------------------------


def test_a_run_reads_back_equal_with_its_watches(js):
    r = run(branches={"split": "a"}, decision_id="d1", message_id="d1", channel="email",
            sent_at=T0 + timedelta(microseconds=7), pack_hash="sha256:x", deferred_since=T0)
    assert js.commit(RunChange("c1", runs=(RunUpdate(r, None),),
                               watches={"winback": T0 + timedelta(days=60)})).ok
    state = js.journey_state("c1")
    assert state.runs == (r,)
    assert dict(state.watches) == {"winback": T0 + timedelta(days=60)}
    assert js.journey_state("nobody").runs == ()


def test_a_run_changes_only_from_the_seq_it_was_read_at(js):
    r = run()
    assert js.commit(RunChange("c1", runs=(RunUpdate(r, None),))).ok
    assert js.commit(RunChange("c1", runs=(RunUpdate(r, None),))).conflicts == ("r1",)
    moved = r.evolve(step_id="sms_nudge")
    assert js.commit(RunChange("c1", runs=(RunUpdate(moved, 0),))).ok
    stale = js.commit(RunChange("c1", runs=(RunUpdate(r.evolve(step_id="done"), 0),),
                                event=event("e9")))
    assert (stale.ok, stale.conflicts) == (False, ("r1",))
    assert js.journey_state("c1").runs == (moved,)
    assert js.events("c1") == ()


def test_runs_are_deleted_and_watches_cleared(js):
    assert js.commit(RunChange("c1", runs=(RunUpdate(run("r1"), None),
                                           RunUpdate(run("r2"), None)),
                               watches={"a": T0, "b": T0})).ok
    assert js.commit(RunChange("c1", delete_runs=("r1",), watches={"a": None})).ok
    state = js.journey_state("c1")
    assert [r.run_id for r in state.runs] == ["r2"]
    assert dict(state.watches) == {"b": T0}


# -- the due queue -------------------------------------------------------------------


def test_due_timers_are_claimed_earliest_first_up_to_the_limit(js):
    for n, minutes in enumerate((30, 10, 20, 90)):
        start(js, run(f"r{n}", contact=f"c{n}", due=T0 + minutes * MINUTE))
    claimed = js.claim_due(T0 + 60 * MINUTE, 2, 60)
    assert [(t.contact_id, t.due_at) for t in claimed] == [("c1", T0 + 10 * MINUTE),
                                                          ("c2", T0 + 20 * MINUTE)]
    assert claimed[0].key == "run:r1:0"
    assert [t.contact_id for t in js.claim_due(T0 + 60 * MINUTE, 10, 60)] == ["c0"]
    assert js.oldest_due() == T0 + 10 * MINUTE
    assert js.pending_timers() == 4


def test_a_claimed_timer_comes_back_only_when_its_lease_ends(js):
    start(js, run())
    assert len(js.claim_due(T0, 10, 60)) == 1
    assert js.claim_due(T0 + 59 * timedelta(seconds=1), 10, 60) == []
    again = js.claim_due(T0 + 61 * timedelta(seconds=1), 10, 60)
    assert [t.key for t in again] == ["run:r1:0"]


def test_a_done_timer_is_gone_and_a_rescheduled_one_is_replaced(js):
    r = run()
    start(js, r)
    [claimed] = js.claim_due(T0, 10, 60)
    later = r.evolve(due_at=T0 + 5 * MINUTE)
    assert js.commit(RunChange("c1", runs=(RunUpdate(later, 0),), timers=(timer(later),),
                               done=(claimed,))).ok
    assert js.pending_timers() == 1
    assert js.claim_due(T0 + 4 * MINUTE, 10, 60) == []
    assert [t.key for t in js.claim_due(T0 + 5 * MINUTE, 10, 3600)] == ["run:r1:1"]
    watch = DueTimer("c1", "watch:winback:1", T0 + 3 * MINUTE)
    assert js.commit(RunChange("c1", timers=(watch,))).ok
    assert js.commit(RunChange("c1", timers=(replace(watch, due_at=T0 + 9 * MINUTE),))).ok
    assert js.pending_timers() == 2
    assert js.claim_due(T0 + 8 * MINUTE, 10, 60) == []


# -- outboxes ------------------------------------------------------------------------


def test_messages_are_leased_oldest_first_and_acked_ones_never_come_back(js):
    assert js.commit(RunChange("c1", messages=(message("m1"), message("m2", due=T0 + MINUTE),
                                               message("m3", due=T0 + 9 * MINUTE)))).ok
    leased = js.lease_outbox("email", T0 + 2 * MINUTE, 2, 60)
    assert [(m.message_id, m.attempts, m.state) for m in leased] == [("m1", 1, "leased"),
                                                                     ("m2", 1, "leased")]
    assert leased[0].content == {"subject": "Your cart", "body": "é ✓"}
    assert js.lease_outbox("sms", T0 + 2 * MINUTE, 10, 60) == []
    assert js.ack_outbox("email", ["m1", "nope"]) == ["m1"]
    assert js.ack_outbox("email", ["m1"]) == ["m1"]
    # m3 is due later but was queued: it is ready at once, before expired leases.
    back = js.lease_outbox("email", T0 + 4 * MINUTE, 10, 60)
    assert [(m.message_id, m.attempts) for m in back] == [("m3", 1), ("m2", 2)]
    assert js.lease_outbox("email", T0 + 4 * MINUTE, 10, 60) == []
    assert [m.message_id for m in js.outbox_messages("email", "acked", 10)] == ["m1"]


def test_a_retried_message_waits_and_a_failed_one_is_listed(js):
    assert js.commit(RunChange("c1", messages=(message("m1"), message("m2")))).ok
    js.lease_outbox("email", T0, 10, 60)
    js.retry_outbox("email", "m1", T0 + 5 * MINUTE, "HTTP 503")
    js.fail_outbox("email", "m2", "HTTP 410")
    assert js.lease_outbox("email", T0 + 4 * MINUTE, 10, 60) == []
    [again] = js.lease_outbox("email", T0 + 5 * MINUTE, 10, 60)
    assert (again.message_id, again.attempts, again.last_error) == ("m1", 2, "HTTP 503")
    [failed] = js.outbox_messages("email", "failed", 10)
    assert (failed.message_id, failed.last_error) == ("m2", "HTTP 410")


def test_a_cancelled_message_is_not_delivered_and_requeue_is_idempotent(js):
    r = run()
    assert js.commit(RunChange("c1", runs=(RunUpdate(r, None),),
                               messages=(message("m1"), message("m2")))).ok
    assert js.commit(RunChange("c1", cancel=(("email", "m1"),))).ok
    js.ack_outbox("email", ["m2"])
    js.requeue("c1", "r1")
    js.requeue("c1", "nope")
    assert js.lease_outbox("email", T0, 10, 60) == []
    assert [m.message_id for m in js.outbox_messages("email", "cancelled", 10)] == ["m1"]
    assert [m.message_id for m in js.outbox_messages("email", "acked", 10)] == ["m2"]


# -- counters and erasure ----------------------------------------------------------------


def test_counters_are_incremented_once_per_commit(js):
    for _ in range(3):
        assert js.commit(RunChange("c1", counts=(("welcome", "hello.sent"),
                                                 ("welcome", "entered")))).ok
    assert js.commit(RunChange("c1", event=event("e1"), counts=(("welcome", "entered"),))).ok
    assert not js.commit(RunChange("c1", event=event("e1"), counts=(("welcome", "entered"),))).ok
    assert js.journey_counts("welcome") == {"hello.sent": 3, "entered": 4}
    assert js.journey_counts("other") == {}


def test_erasure_removes_events_runs_watches_timers_and_queued_messages(js):
    for contact in ("c1", "c2"):
        r = run("r-" + contact, contact=contact)
        start(js, r, event=event("e1", contact=contact), watches={"winback": T0},
              messages=(message("m-" + contact, contact=contact),))
    assert js.erase_contact("c1")
    assert js.events("c1") == () and js.journey_state("c1").runs == ()
    assert dict(js.journey_state("c1").watches) == {}
    assert [t.contact_id for t in js.claim_due(T0, 10, 60)] == ["c2"]
    assert [m.contact_id for m in js.lease_outbox("email", T0, 10, 60)] == ["c2"]
    assert not js.erase_contact("c1")
    assert len(js.events("c2")) == 1


def test_ping(js):
    assert js.ping()


# -- real processes ------------------------------------------------------------------------


def _claim_in_child(url: str, barrier, results) -> None:
    store = journeys_from_url(url)
    barrier.wait()
    claimed = []
    for _ in range(20):
        claimed += [t.key for t in store.claim_due(T0, 7, 300)]
    results.put(claimed)
    store.close()


@pytest.mark.parametrize("name", SHARED)
def test_processes_claiming_together_never_share_a_timer(name, tmp_path, request):
    url = _url(name, tmp_path, request)
    store = journeys_from_url(url)
    for n in range(120):
        start(store, run(f"r{n}", contact=f"c{n % 17}", due=T0 - n * MINUTE))
    store.close()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    children = [context.Process(target=_claim_in_child, args=(url, barrier, results))
                for _ in range(4)]
    for child in children:
        child.start()
    claimed = [key for _ in children for key in results.get(timeout=60)]
    for child in children:
        child.join(timeout=60)
    assert len(claimed) == 120
    assert len(set(claimed)) == 120


def _commit_in_child(url: str, barrier, results) -> None:
    store = journeys_from_url(url)
    barrier.wait()
    won = 0
    for n in range(10):
        moved = run(f"r{n}").evolve(step_id="next")
        won += store.commit(RunChange("c1", runs=(RunUpdate(moved, 0),))).ok
    results.put(won)
    store.close()


@pytest.mark.parametrize("name", SHARED)
def test_processes_moving_the_same_runs_together_move_each_once(name, tmp_path, request):
    url = _url(name, tmp_path, request)
    store = journeys_from_url(url)
    for n in range(10):
        start(store, run(f"r{n}"))
    store.close()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    children = [context.Process(target=_commit_in_child, args=(url, barrier, results))
                for _ in range(4)]
    for child in children:
        child.start()
    wins = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert sum(wins) == 10


def test_several_contacts_journeys_read_at_once_as_each_would_alone(js):
    for contact in ("c1", "c2"):
        start(js, run("r-" + contact, contact=contact), watches={"winback": T0})
    found = js.journey_states(["c1", "c2", "nobody"])
    assert list(found) == ["c1", "c2", "nobody"]
    for contact_id, state in found.items():
        assert state == js.journey_state(contact_id)
