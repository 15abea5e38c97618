"""What only the Redis store does: trimming, idempotent retries, hash tags."""
from __future__ import annotations

import subprocess
from dataclasses import replace
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


# --- the history log, decision ids with their contact, and the earlier layout ----


def _old_layout(store, contact_id: str) -> None:
    """Two entries and two outcomes written as the store wrote them before its log:
    a hash of JSON entries, two sorted sets, a hash of outcomes and a counter."""
    client = store._redis()
    keys = store._keys(contact_id)
    at0, at1 = (int((T0 - timedelta(days=d)).timestamp() * 1_000_000) for d in (3, 1))
    client.hset(keys["hist"], mapping={
        "old0\x1fpromo": '{"s":1,"d":"old0","a":"promo","p":"winter_sale","k":"commercial",'
                         f'"c":"email","l":null,"t":"{at0}"}}',
        "old1\x1fwelcome": '{"s":2,"d":"old1","a":"welcome","p":"welcome","k":"relational",'
                           f'"c":"sms","l":"home","t":"{at1}","j":"wj","r":"wj.1","sp":"s1"}}',
    })
    client.zadd(keys["times"], {"old0\x1fpromo": at0, "old1\x1fwelcome": at1})
    client.zadd(keys["touch"], {"old0\x1fpromo": at0 + 5, "old1\x1fwelcome": at1})
    client.hset(keys["out"], mapping={
        "old0\x1fpromo\x1fconverted": f"[{at0 + 5},12345678.125,4]",
        "old0\x1fpromo\x1fopened": f"[{at0 + 2},null,3]",
    })
    client.set(keys["seq"], 4)
    client.set(f"{store.prefix}:decision:old0", contact_id)


def test_a_contact_in_the_earlier_layout_is_migrated_with_all_its_history(store):
    _old_layout(store, "c1")
    [first, second] = store.history("c1")
    assert (first.decision_id, first.kind, first.placement, second.placement) == \
        ("old0", "commercial", None, "home")
    assert [(o.outcome, o.value) for o in first.outcomes] == [("opened", None),
                                                              ("converted", 12345678.125)]
    assert (second.journey_id, second.run_id, second.step_id) == ("wj", "wj.1", "s1")
    assert store._redis().exists(*(store._keys("c1")[k] for k in ("hist", "out", "times"))) == 0
    recorded = store.record_outcome(OutcomeReport("old0", "promo", "clicked", T0))
    assert [o.outcome for o in recorded.entry.outcomes] == ["opened", "converted", "clicked"]


def test_an_outcome_migrates_a_contact_it_finds_in_the_earlier_layout(store):
    _old_layout(store, "c1")
    assert store.record_outcome(OutcomeReport("old0", "promo", "opened", T0)).duplicate
    assert [e.decision_id for e in store.history("c1")] == ["old0", "old1"]


def test_decision_ids_made_by_the_store_find_their_contact_without_an_index(store):
    decision_id = store.decision_id_for("c-9", "0123456789abcdef0123456789abcdef")
    assert decision_id == "0123456789abcdef0123456789abcdef.c-9"
    store.reserve(Reservation("c-9", (entry(decision_id, T0),)))
    assert list(store._redis().scan_iter(f"{store.prefix}:decision:*")) == []
    recorded = store.record_outcome(OutcomeReport(decision_id, "promo", "opened", T0))
    assert recorded.contact_id == "c-9" and recorded.entry.decision_id == decision_id
    assert store.history("c-9")[0].decision_id == decision_id
    assert store.record_outcome(OutcomeReport(decision_id.replace("c-9", "c-8"), "promo",
                                              "opened", T0)) is None


@pytest.mark.parametrize("text", ["a\nb", "a\x1fb", "a\x1eb", "a\x01b", "100%", "%1F", "%"])
def test_any_text_round_trips_through_the_history_log(store, text):
    recorded = HistoryEntry(text, text, text, "commercial", text, T0, placement=text,
                            journey_id=text, run_id=text, step_id=text)
    cap = WindowCheck("weekly", "pressure", T0 - timedelta(days=7), 1, channels=frozenset({text}),
                      programs=frozenset({text}), actions=frozenset({text}))
    assert store.reserve(Reservation("c1", (recorded,), (cap,))).ok
    assert store.history("c1") == (recorded,)
    assert not store.reserve(Reservation("c1", (replace(recorded, decision_id="d2"),), (cap,))).ok
    found = store.record_outcome(OutcomeReport(text, text, "unsubscribed", T0))
    assert found.entry.outcomes[0].outcome == "unsubscribed" and found.consent_revoked == text
    assert store.get_contact("c1").consents == {text: False}


def test_migrated_texts_are_escaped_like_new_ones(store):
    client = store._redis()
    keys = store._keys("c1")
    at = int(T0.timestamp() * 1_000_000)
    client.hset(keys["hist"], "d%\x1fa", '{"s":1,"d":"d%\\n","a":"a","p":"p\\u001f","k":"service",'
                                        f'"c":"email","l":"100%","t":"{at}"}}')
    [migrated] = store.history("c1")
    assert (migrated.decision_id, migrated.program, migrated.placement) == ("d%\n", "p\x1f", "100%")


class Monitor:
    """The commands clients send to some Redis servers, read with redis-cli MONITOR
    (commands that scripts run inside them are left out)."""

    MARK = "end-of-monitored-calls"

    def __init__(self, nodes) -> None:
        self.nodes = nodes
        self.watchers = [subprocess.Popen(["redis-cli", "-p", str(node.port), "MONITOR"],
                                          stdout=subprocess.PIPE, text=True) for node in nodes]
        for watcher in self.watchers:
            assert watcher.stdout.readline().strip() == "OK"

    def commands(self) -> list[str]:
        """The client commands seen since the start, then stop watching."""
        seen = []
        for node, watcher in zip(self.nodes, self.watchers, strict=True):
            node.cli("ECHO", self.MARK)
            for line in watcher.stdout:
                if self.MARK in line:
                    break
                if " lua] " not in line:
                    seen.append(line.split("] ", 1)[1].split(" ", 1)[0].strip('"').upper())
            watcher.terminate()
            watcher.wait()
            watcher.stdout.close()
        return seen


@pytest.mark.parametrize("server", ["redis_server", "redis_cluster"])
def test_a_decision_costs_two_round_trips_and_its_outcome_one(request, server):
    from engine.model import ContactRecord, DecisionRequest
    from engine.service import ActivePack, DecisionService
    from tests.conftest import PACKS

    servers = request.getfixturevalue(server)
    nodes = getattr(servers, "nodes", [servers])
    opened = store_from_url(servers.url)
    service = DecisionService(opened, ActivePack(load_pack(PACKS / "minimal.yaml")))
    for contact in ("warm", "c1"):
        opened.put_contact(ContactRecord(contact, {}, {"email": True}))
    ask = DecisionRequest("warm", "email", T0 + timedelta(days=6))
    warm = service.decide(ask, service.new_decision_id("warm"))  # scripts loaded, slots learnt
    opened.record_outcome(OutcomeReport(warm.decision_id, warm.decision.actions[0].action_id,
                                        "opened", T0))
    monitor = Monitor(nodes)
    result = service.decide(replace(ask, contact_id="c1"), service.new_decision_id("c1"))
    action = result.decision.actions[0].action_id
    assert opened.record_outcome(OutcomeReport(result.decision_id, action, "opened", T0))
    assert result.recorded and monitor.commands() == ["EVALSHA"] * 3
    opened.close()
