"""What only the Redis store does: trimming, idempotent retries, hash tags."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.language.compiler import load_pack
from engine.model import HistoryEntry, OutcomeReport, Reservation, WindowCheck
from store import store_from_url
from tests.conftest import ROOT

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["redis", "redis_cluster"])
def store(request):
    servers = request.getfixturevalue(f"{request.param}_server" if request.param == "redis"
                                      else request.param)
    if request.param == "redis":
        servers.cli("FLUSHALL")
    else:
        servers.flush()
    opened = store_from_url(servers.url)
    yield opened
    opened.close()


def entry(decision_id: str, at: datetime, action: str = "promo") -> HistoryEntry:
    return HistoryEntry(decision_id, action, "winter_sale", "commercial", "email", at)


def test_entries_older_than_the_packs_horizon_are_trimmed_when_the_contact_is_next_reserved(store):
    store.reserve(Reservation("c1", (entry("old", T0 - timedelta(days=400)),)))
    store.reserve(Reservation("c1", (entry("kept", T0 - timedelta(days=100)),)))
    store.reserve(Reservation("c1", (entry("new", T0),), keep_since=T0 - timedelta(days=365)))
    assert [e.decision_id for e in store.history("c1")] == ["kept", "new"]


def test_an_old_entry_with_a_recent_outcome_is_kept_because_suppression_reads_it(store):
    store.reserve(Reservation("c1", (entry("old", T0 - timedelta(days=400)),)))
    store.record_outcome(OutcomeReport("old", "promo", "complained", T0 - timedelta(days=10)))
    store.reserve(Reservation("c1", (entry("new", T0),), keep_since=T0 - timedelta(days=365)))
    assert [e.decision_id for e in store.history("c1")] == ["old", "new"]


def test_without_a_horizon_history_is_kept_for_the_configured_maximum(redis_server):
    redis_server.cli("FLUSHALL")
    store = store_from_url(redis_server.url, {"max_history_days": 30})
    store.reserve(Reservation("c1", (entry("old", T0 - timedelta(days=31)),)))
    store.reserve(Reservation("c1", (entry("new", T0),)))
    assert [e.decision_id for e in store.history("c1")] == ["new"]
    store.close()


def test_the_default_packs_read_a_year_of_history_at_most():
    for pack in ("retail.yaml", "bank.yaml"):
        assert load_pack(ROOT / "rules" / pack).history_horizon == timedelta(days=365)


def test_a_retried_reservation_that_was_already_applied_is_not_applied_twice(store):
    cap = WindowCheck("weekly", "pressure", T0 - timedelta(days=7), 1)
    reservation = Reservation("c1", (entry("d1", T0),), (cap,))
    assert store.reserve(reservation).ok
    # As if the reply had been lost and the call sent again.
    assert store.reserve(reservation).ok
    assert [e.decision_id for e in store.history("c1")] == ["d1"]
    assert not store.reserve(Reservation("c1", (entry("d2", T0),), (cap,))).ok


@pytest.mark.parametrize("contact_id", ["{x}", "}{", "a}b{c", "%7B", "ünï cødé", "x" * 300])
def test_any_contact_id_keeps_all_its_keys_in_one_slot(store, contact_id):
    cap = WindowCheck("weekly", "pressure", T0 - timedelta(days=7), 2)
    for n in range(3):
        store.reserve(Reservation(contact_id, (entry(f"d{n}", T0),), (cap,)))
    store.record_outcome(OutcomeReport("d0", "promo", "opened", T0))
    snapshot = store.load(contact_id)
    assert [e.decision_id for e in snapshot.history] == ["d0", "d1"]
    assert [o.outcome for o in snapshot.history[0].outcomes] == ["opened"]
    assert store.delete_contact(contact_id) and store.get_contact(contact_id) is None


def test_an_unreachable_redis_is_reported_unavailable_not_raised_raw(store):
    from engine.errors import StoreUnavailable

    dead = store_from_url("redis://127.0.0.1:1/0", {"retries": 0})
    with pytest.raises(StoreUnavailable, match="redis store unavailable"):
        dead.load("c1")
    assert not dead.ping()


def test_a_full_redis_refuses_writes_and_the_store_reports_it_unavailable(redis_server):
    """maxmemory with noeviction, as the README recommends: writes fail closed."""
    from engine.errors import StoreUnavailable

    redis_server.cli("FLUSHALL")
    store = store_from_url(redis_server.url, {"retries": 0})
    store.reserve(Reservation("c1", (entry("d0", T0),)))
    try:
        redis_server.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_server.cli("CONFIG", "SET", "maxmemory", "1")
        with pytest.raises(StoreUnavailable, match="maxmemory"):
            store.reserve(Reservation("c1", (entry("d1", T0),)))
    finally:
        redis_server.cli("CONFIG", "SET", "maxmemory", "0")
    assert [e.decision_id for e in store.history("c1")] == ["d0"]
    store.close()
