"""The contract every ContactStore backend keeps, run against each of them.

A backend joins the suite by adding one ``Backend`` to ``BACKENDS``. The Redis
backends run against real throwaway servers (tests/servers.py): one node and
a 3-master cluster, flushed before each test. The last tests race real
processes against one store, with a naive check-then-write control that must
over-send, so that the suite is shown able to catch a race.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest

from engine.memory import MemoryStore
from engine.model import (
    CapacityClaim,
    ContactRecord,
    HistoryEntry,
    OutcomeReport,
    Reservation,
    WindowCheck,
)
from engine.ports import ContactStore
from store import store_from_url
from store.errors import UnknownStoreURL
from store.sqlite.contacts import SQLiteStore

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Backend:
    """How the suite opens one backend; ``persistent`` ones are reopened too."""

    name: str
    url: Callable[[Path, pytest.FixtureRequest], str]
    persistent: bool

    def open(self, tmp: Path, request: pytest.FixtureRequest) -> ContactStore:
        return store_from_url(self.url(tmp, request))


def _redis_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("redis_server").url


def _cluster_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("redis_cluster").url


BACKENDS = [
    Backend("memory", lambda tmp, request: "memory://", persistent=False),
    Backend("sqlite", lambda tmp, request: f"sqlite:///{tmp}/db/nba.db", persistent=True),
    Backend("redis", lambda tmp, request: _redis_url(request), persistent=True),
    Backend("redis_cluster", lambda tmp, request: _cluster_url(request), persistent=True),
]
PERSISTENT = [backend for backend in BACKENDS if backend.persistent]


def _backend_id(backend: Backend) -> str:
    return backend.name


@pytest.fixture(params=BACKENDS, ids=_backend_id)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param


@pytest.fixture
def store(backend: Backend, tmp_path: Path, request: pytest.FixtureRequest):
    _flush_redis(backend, request)
    opened = backend.open(tmp_path, request)
    yield opened
    opened.close()


def _flush_redis(backend: Backend, request: pytest.FixtureRequest) -> None:
    if backend.name == "redis":
        request.getfixturevalue("redis_server").cli("FLUSHALL")
    elif backend.name == "redis_cluster":
        request.getfixturevalue("redis_cluster").flush()


def entry(
    decision_id: str,
    at: datetime = T0,
    *,
    channel: str = "email",
    kind: str = "commercial",
    action: str = "promo",
) -> HistoryEntry:
    return HistoryEntry(decision_id, action, "winter_sale", kind, channel, at)


def weekly(
    limit: int, since: datetime = T0 - WEEK, rule: str = "weekly_promotions", **filters: frozenset[str]
) -> WindowCheck:
    return WindowCheck(rule, "pressure", since, limit, **filters)


def reserve(
    store: ContactStore,
    contact_id: str,
    *entries: HistoryEntry,
    checks=(),
    capacity=(),
    commit: bool = True,
):
    return store.reserve(Reservation(contact_id, entries, tuple(checks), tuple(capacity)), commit=commit)


def ids(store: ContactStore, contact_id: str) -> list[str]:
    return [e.decision_id for e in store.history(contact_id)]


# -- contacts ------------------------------------------------------------------


def test_an_unknown_contact_loads_empty_and_not_known(store):
    snapshot = store.load("nobody")
    assert (snapshot.contact_id, snapshot.known) == ("nobody", False)
    assert (dict(snapshot.profile), dict(snapshot.consents), snapshot.history) == ({}, {}, ())
    assert store.get_contact("nobody") is None


def test_a_stored_contact_is_read_back_and_known(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold", "scores": {"churn": 0.2}}, {"email": True}))
    record = store.get_contact("c1")
    assert dict(record.profile) == {"tier": "gold", "scores": {"churn": 0.2}}
    assert dict(record.consents) == {"email": True}
    snapshot = store.load("c1")
    assert snapshot.known and snapshot.profile["tier"] == "gold"


def test_putting_a_contact_replaces_its_profile_and_consents(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold"}, {"email": True}))
    store.put_contact(ContactRecord("c1", {"city": "Lyon"}, {"sms": False}))
    record = store.get_contact("c1")
    assert (dict(record.profile), dict(record.consents)) == ({"city": "Lyon"}, {"sms": False})


def test_patching_merges_top_level_attributes_and_consents(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold", "scores": {"churn": 0.2}}, {"email": True}))
    patched = store.patch_contact("c1", {"scores": {"appetence": 0.9}}, {"sms": True})
    assert dict(patched.profile) == {"tier": "gold", "scores": {"appetence": 0.9}}
    assert dict(patched.consents) == {"email": True, "sms": True}
    assert store.get_contact("c1") == patched


def test_patching_an_unknown_contact_creates_it(store):
    store.patch_contact("new", {"tier": "silver"}, {})
    assert dict(store.get_contact("new").profile) == {"tier": "silver"}


def test_a_returned_record_can_be_changed_without_changing_the_store(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold"}, {}))
    store.get_contact("c1").profile["tier"] = "tin"
    assert store.get_contact("c1").profile["tier"] == "gold"


def test_deleting_a_contact_erases_it_and_says_whether_anything_was_there(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold"}, {"email": True}))
    assert store.delete_contact("c1") is True
    assert store.get_contact("c1") is None and not store.load("c1").known
    assert store.delete_contact("c1") is False


def test_deleting_a_contact_erases_its_history_and_its_decisions(store):
    reserve(store, "c1", entry("d1"))
    assert store.delete_contact("c1") is True
    assert store.history("c1") == () and not store.load("c1").known
    assert store.record_outcome(OutcomeReport("d1", "promo", "opened", T0)) is None


# -- reservations ----------------------------------------------------------------


def test_reserved_entries_are_recorded_and_come_back_oldest_first(store):
    assert reserve(store, "c1", entry("d3", T0 + timedelta(days=2)), entry("d1", T0)).ok
    assert reserve(store, "c1", entry("d2", T0 + timedelta(days=1))).ok
    assert ids(store, "c1") == ["d1", "d2", "d3"]
    assert [e.decision_id for e in store.load("c1").history] == ["d1", "d2", "d3"]


def test_a_first_reservation_makes_the_contact_known_with_an_empty_profile(store):
    reserve(store, "c1", entry("d1"))
    snapshot = store.load("c1")
    assert snapshot.known and dict(snapshot.profile) == {} and dict(snapshot.consents) == {}


def test_entries_come_back_as_they_went_in_with_utc_times(store):
    paris = timezone(timedelta(hours=1))
    sent = HistoryEntry(
        "d1",
        "promo",
        "winter_sale",
        "commercial",
        "web",
        datetime(2026, 11, 16, 10, 0, 0, 123456, tzinfo=paris),
        "home_banner",
    )
    reserve(store, "c1", sent)
    (stored,) = store.history("c1")
    assert stored == sent
    assert stored.at.utcoffset() == timedelta(0)


def test_a_reservation_over_a_window_cap_records_nothing_and_names_the_rule(store):
    reserve(store, "c1", entry("d1"), entry("d2", T0 + timedelta(hours=1)))
    result = reserve(
        store,
        "c1",
        entry("d3", T0 + timedelta(hours=2)),
        checks=[weekly(5, rule="roomy"), weekly(2)],
        capacity=[CapacityClaim("email", "2026-11-16", 1)],
    )
    assert not result.ok
    assert result.failed_checks == ("weekly_promotions",)
    assert result.full_channels == frozenset()
    assert ids(store, "c1") == ["d1", "d2"]
    # Its capacity claim was not counted either: the one unit is still free.
    assert reserve(store, "c2", entry("e1"), capacity=[CapacityClaim("email", "2026-11-16", 1)]).ok


def test_a_window_counts_only_the_entries_its_filters_match(store):
    reserve(store, "c1", entry("d1", channel="sms"), entry("d2", kind="transactional"))
    check = weekly(1, channels=frozenset({"email"}), kinds=frozenset({"commercial"}))
    assert reserve(store, "c1", entry("d3"), checks=[check]).ok
    assert not reserve(store, "c1", entry("d4"), checks=[check]).ok


def test_failed_entries_do_not_count_toward_a_window(store):
    reserve(store, "c1", entry("d1"))
    store.record_outcome(OutcomeReport("d1", "promo", "failed", T0 + timedelta(minutes=5)))
    assert reserve(store, "c1", entry("d2", T0 + timedelta(hours=1)), checks=[weekly(1)]).ok


def test_entries_recorded_for_a_later_time_count_since_is_a_lower_bound_only(store):
    reserve(store, "c1", entry("later", T0 + timedelta(days=30)))
    reserve(store, "c1", entry("before", T0 - WEEK - timedelta(seconds=1)))
    result = reserve(store, "c1", entry("now", T0), checks=[weekly(1, since=T0 - WEEK)])
    assert result.failed_checks == ("weekly_promotions",)


def test_an_entry_exactly_at_since_counts(store):
    reserve(store, "c1", entry("edge", T0 - WEEK))
    assert not reserve(store, "c1", entry("now", T0), checks=[weekly(1)]).ok


def test_the_new_entries_of_a_reservation_count_toward_its_own_window(store):
    result = reserve(store, "c1", entry("d1"), entry("d2"), checks=[weekly(1)])
    assert result.failed_checks == ("weekly_promotions",)
    assert store.history("c1") == ()


def test_capacity_over_the_limit_reports_the_channel_while_window_checks_pass(store):
    calls = CapacityClaim("call", "2026-11-16", 2)
    assert reserve(store, "a", entry("d1", channel="call"), capacity=[calls]).ok
    assert reserve(store, "b", entry("d2", channel="call"), capacity=[calls]).ok
    result = reserve(store, "c", entry("d3", channel="call"), checks=[weekly(5)], capacity=[calls])
    assert (result.ok, result.failed_checks, result.full_channels) == (False, (), frozenset({"call"}))
    assert store.history("c") == ()
    next_day = CapacityClaim("call", "2026-11-17", 2)
    assert reserve(store, "c", entry("d4", channel="call"), capacity=[next_day]).ok


def test_two_claims_on_one_channel_day_in_one_reservation_count_twice(store):
    calls = CapacityClaim("call", "2026-11-16", 3)
    assert reserve(store, "a", entry("d1", channel="call"), capacity=[calls, calls]).ok
    result = reserve(store, "b", entry("d2", channel="call"), capacity=[calls, calls])
    assert result.full_channels == frozenset({"call"})


def test_a_dry_run_checks_without_recording_anything(store):
    calls = CapacityClaim("call", "2026-11-16", 1)
    for attempt in range(2):
        result = reserve(
            store,
            "c1",
            entry(f"dry{attempt}", channel="call"),
            checks=[weekly(1)],
            capacity=[calls],
            commit=False,
        )
        assert result.ok
    assert store.history("c1") == () and not store.load("c1").known
    assert reserve(store, "c1", entry("real", channel="call"), checks=[weekly(1)], capacity=[calls]).ok
    refused = reserve(
        store, "c1", entry("dry2", channel="call"), checks=[weekly(1)], capacity=[calls], commit=False
    )
    assert (refused.failed_checks, refused.full_channels) == (
        ("weekly_promotions",),
        frozenset({"call"}),
    )


# -- outcomes --------------------------------------------------------------------


def test_posting_the_same_outcome_twice_stores_it_once(store):
    reserve(store, "c1", entry("d1"))
    report = OutcomeReport("d1", "promo", "clicked", T0 + timedelta(hours=1), 12.5)
    first = store.record_outcome(report)
    second = store.record_outcome(report)
    assert (first.contact_id, first.duplicate, second.duplicate) == ("c1", False, True)
    (stored,) = store.history("c1")
    assert [(o.outcome, o.at, o.value) for o in stored.outcomes] == [
        ("clicked", T0 + timedelta(hours=1), 12.5)
    ]
    assert second.entry == stored == first.entry


def test_different_outcomes_of_one_action_are_all_kept_in_order(store):
    reserve(store, "c1", entry("d1"))
    for minutes, outcome in ((1, "delivered"), (5, "opened"), (9, "clicked")):
        store.record_outcome(OutcomeReport("d1", "promo", outcome, T0 + timedelta(minutes=minutes)))
    (stored,) = store.history("c1")
    assert [o.outcome for o in stored.outcomes] == ["delivered", "opened", "clicked"]


def test_an_outcome_for_an_unknown_decision_or_action_is_none(store):
    reserve(store, "c1", entry("d1"))
    assert store.record_outcome(OutcomeReport("nope", "promo", "opened", T0)) is None
    assert store.record_outcome(OutcomeReport("d1", "other", "opened", T0)) is None


def test_an_unsubscribe_revokes_consent_on_the_entry_channel_only(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold"}, {"email": True, "sms": True}))
    reserve(store, "c1", entry("d1", channel="email"))
    recorded = store.record_outcome(OutcomeReport("d1", "promo", "unsubscribed", T0))
    assert recorded.consent_revoked == "email"
    record = store.get_contact("c1")
    assert dict(record.consents) == {"email": False, "sms": True}
    assert dict(record.profile) == {"tier": "gold"}
    again = store.record_outcome(OutcomeReport("d1", "promo", "unsubscribed", T0))
    assert again.duplicate and again.consent_revoked is None


def test_other_outcomes_leave_consent_alone(store):
    store.put_contact(ContactRecord("c1", {}, {"email": True}))
    reserve(store, "c1", entry("d1"))
    assert store.record_outcome(OutcomeReport("d1", "promo", "opened", T0)).consent_revoked is None
    assert store.get_contact("c1").consents == {"email": True}


def test_the_store_answers_a_ping(store):
    assert store.ping() is True


# -- persistence -----------------------------------------------------------------


@pytest.mark.parametrize("backend", PERSISTENT, ids=_backend_id)
def test_history_contacts_and_capacity_survive_reopening_the_store(backend, tmp_path, request):
    _flush_redis(backend, request)
    first = backend.open(tmp_path, request)
    calls = CapacityClaim("call", "2026-11-16", 1)
    first.put_contact(ContactRecord("c1", {"tier": "gold"}, {"call": True}))
    reserve(first, "c1", entry("d1", channel="call"), capacity=[calls])
    first.record_outcome(OutcomeReport("d1", "promo", "accepted", T0, 40.0))
    first.close()
    reopened = backend.open(tmp_path, request)
    snapshot = reopened.load("c1")
    assert snapshot.known and snapshot.profile == {"tier": "gold"}
    assert [(e.decision_id, [o.outcome for o in e.outcomes]) for e in snapshot.history] == [
        ("d1", ["accepted"])
    ]
    assert reserve(reopened, "c2", entry("d2", channel="call"), capacity=[calls]).full_channels
    reopened.close()


# -- store URLs ------------------------------------------------------------------


def test_a_memory_url_gives_a_memory_store():
    assert isinstance(store_from_url("memory://"), MemoryStore)


def test_a_sqlite_url_with_four_slashes_names_an_absolute_path(tmp_path):
    opened = store_from_url(f"sqlite:///{tmp_path}/nba.db")
    assert isinstance(opened, SQLiteStore) and opened.path == f"{tmp_path}/nba.db"
    assert opened.ping()
    opened.close()


def test_a_sqlite_url_with_three_slashes_names_a_path_relative_to_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    opened = store_from_url("sqlite:///var/nba.db")
    assert opened.path == "var/nba.db"
    opened.put_contact(ContactRecord("c1", {}, {}))
    opened.close()
    assert (tmp_path / "var" / "nba.db").is_file()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://db",
        "rediss+sentinel://x",
        "sqlite://x.db",
        "sqlite:///",
        "sqlite:///:memory:",
        "",
    ],
)
def test_an_unsupported_store_url_is_a_configuration_error_naming_what_works(url):
    with pytest.raises(UnknownStoreURL) as raised:
        store_from_url(url)
    message = str(raised.value)
    assert repr(url) in message and "memory://" in message and "sqlite:///" in message
    assert "redis://" in message and "redis+cluster://" in message


# -- concurrent threads on one store ------------------------------------------------

WORKERS = 8
ATTEMPTS = 10
CAP = 3


def test_threads_sharing_one_store_never_exceed_the_cap(store):
    barrier = threading.Barrier(WORKERS)

    def attempt(worker: int) -> int:
        barrier.wait(timeout=30)
        return sum(
            reserve(store, "contested", entry(f"t{worker}-a{n}"), checks=[weekly(CAP)]).ok
            for n in range(ATTEMPTS)
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        granted = sum(pool.map(attempt, range(WORKERS)))
    assert granted == len(store.history("contested")) == CAP


# -- real concurrent processes on one SQLite file ----------------------------------


def _atomic_worker(url: str, contact_id: str, worker: int, barrier, results) -> None:
    """Reserve through the store's own check, as the service does."""
    try:
        store = store_from_url(url)
        granted = 0
        for attempt in range(ATTEMPTS):
            barrier.wait(timeout=30)
            granted += reserve(
                store, contact_id, entry(f"w{worker}-a{attempt}"), checks=[weekly(CAP)]
            ).ok
        results.put(("granted", granted))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put(("error", repr(exc)))


def _naive_worker(url: str, contact_id: str, worker: int, barrier, results) -> None:
    """Count the history in Python, then write with no check: the race to catch.

    Every worker loads, then waits for all the others to have loaded before it
    writes. With the first barrier alone, a machine with few cores often runs
    each worker's load and write back to back and the control passes by luck.
    """
    try:
        store = store_from_url(url)
        granted = 0
        for attempt in range(ATTEMPTS):
            barrier.wait(timeout=30)
            history = store.load(contact_id).history
            barrier.wait(timeout=30)
            if sum(1 for e in history if e.at >= T0 - WEEK) < CAP:
                granted += reserve(store, contact_id, entry(f"w{worker}-a{attempt}")).ok
        results.put(("granted", granted))
    except BaseException as exc:  # reported to the test, which fails on it
        results.put(("error", repr(exc)))


def _race(worker, url: str, contact_id: str) -> int:
    """Run ``WORKERS`` processes of ``worker``; how many reservations they were granted."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=worker, args=(url, contact_id, n, barrier, results))
        for n in range(WORKERS)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    errors = [detail for kind, detail in answers if kind == "error"]
    assert not errors, errors
    return sum(detail for _, detail in answers)


def _recorded(url: str, contact_id: str) -> int:
    store = store_from_url(url)
    try:
        return len(store.history(contact_id))
    finally:
        store.close()


SHARED = [backend for backend in BACKENDS if backend.name != "memory"]


@pytest.mark.parametrize("backend", SHARED, ids=_backend_id)
def test_processes_racing_on_one_store_never_exceed_the_cap(backend, tmp_path, request):
    _flush_redis(backend, request)
    url = backend.url(tmp_path, request)
    granted = _race(_atomic_worker, url, "contested")
    assert granted == CAP
    assert _recorded(url, "contested") == CAP


@pytest.mark.parametrize("backend", SHARED, ids=_backend_id)
def test_the_race_is_real_a_naive_check_then_write_over_sends(backend, tmp_path, request):
    _flush_redis(backend, request)
    url = backend.url(tmp_path, request)
    granted = _race(_naive_worker, url, "contested")
    recorded = _recorded(url, "contested")
    assert recorded == granted
    assert recorded > CAP, "the naive control did not over-send: this test cannot see a race"


def test_a_store_opened_before_a_fork_serves_the_child_with_its_own_connection(tmp_path):
    store = SQLiteStore(str(tmp_path / "fork.db"))
    reserve(store, "c1", entry("parent"))
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_reserve_in_child, args=(store,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert ids(store, "c1") == ["parent", "child"]
    store.close()


def _reserve_in_child(store: SQLiteStore) -> None:
    if not reserve(store, "c1", entry("child", T0 + timedelta(hours=1))).ok:
        raise SystemExit(1)


def test_a_retried_reservation_is_ok_and_records_nothing_more(store):
    first = entry("step-1")
    assert reserve(store, "c1", first, checks=[weekly(1)]).ok
    again = reserve(store, "c1", first, checks=[weekly(1)])
    assert again.ok
    assert ids(store, "c1") == ["step-1"]


def test_a_journey_step_entry_keeps_its_journey_run_and_step(store):
    sent = HistoryEntry("d1", "cart_email", "abandoned_cart", "commercial", "email", T0,
                        journey_id="cart_recovery", run_id="r1", step_id="reminder")
    assert reserve(store, "c1", sent).ok
    [back] = store.history("c1")
    assert (back.journey_id, back.run_id, back.step_id) == ("cart_recovery", "r1", "reminder")
    recorded = store.record_outcome(OutcomeReport("d1", "cart_email", "clicked", T0))
    assert recorded.entry.run_id == "r1"


def test_several_contacts_load_at_once_as_each_would_alone(store):
    store.put_contact(ContactRecord("c1", {"tier": "gold"}, {"email": True}))
    assert reserve(store, "c2", entry("d2")).ok
    found = store.load_many(["c1", "c2", "nobody", "}{"])
    assert list(found) == ["c1", "c2", "nobody", "}{"]
    for contact_id, snapshot in found.items():
        alone = store.load(contact_id)
        assert (snapshot.profile, snapshot.consents, snapshot.history, snapshot.known) == (
            alone.profile, alone.consents, alone.history, alone.known)
    assert store.load_many([]) == {}
