"""What only the Redis journey store does: the multi-step commit and its crash
repair, the sharded due queue, outbox retention, hash tags, memory per run."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import StoreUnavailable
from engine.journeys.memory import MemoryJourneyStore
from engine.journeys.model import (
    ContactEvent,
    DueTimer,
    OutboxMessage,
    Run,
    RunChange,
    RunUpdate,
)
from store import journeys_from_url
from store.redis.journeys import SHARDS, shard_of

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["redis", "redis_cluster"])
def servers(request):
    if request.param == "redis":
        found = request.getfixturevalue("redis_server")
        found.cli("FLUSHALL")
    else:
        found = request.getfixturevalue("redis_cluster")
        found.flush()
    return found


@pytest.fixture
def js(servers):
    store = journeys_from_url(servers.url)
    yield store
    store.close()


def run(run_id: str = "r1", contact: str = "c1", seq: int = 0, due: datetime = T0,
        **fields) -> Run:
    return Run(run_id, "cart_recovery", contact, "reminder", "active", seq, T0, T0, due,
               **fields)


def timer(r: Run) -> DueTimer:
    return DueTimer(r.contact_id, r.timer_key, r.due_at)


def message(message_id: str, contact: str = "c1", channel: str = "email",
            due: datetime = T0, created: datetime = T0) -> OutboxMessage:
    return OutboxMessage(message_id, channel, contact, "cart_email", {"items": [], "n": 0.1},
                         f"d-{message_id}", "cart_recovery", "r1", "reminder", due, created)


def sent(store, channel: str = "email", at: datetime = T0) -> list[str]:
    return [m.message_id for m in store.lease_outbox(channel, at, 100, 60)]


# -- the commit in steps, and its repair --------------------------------------------


def crash_after_the_contacts_part(store, change: RunChange) -> None:
    """Steps 1 and 2 of commit, then nothing: as if the process died there."""
    store._pipelined("commit", lambda pipe: store._prepare(change, pipe))
    assert store._contact_step(change)[0] == 2


def test_a_crash_after_the_contacts_part_is_repaired_by_requeue_exactly_once(js):
    r = run()
    js.commit(RunChange("c1", runs=(RunUpdate(r, None),), timers=(timer(r),)))
    moved = r.evolve(step_id="sms", due_at=T0 + MINUTE)
    crash_after_the_contacts_part(js, RunChange(
        "c1", runs=(RunUpdate(moved, 0),), timers=(timer(moved),), done=(timer(r),),
        messages=(message("m1"),)))
    assert js.journey_state("c1").runs == (moved,)
    assert js.outbox_messages("email", "ready", 10) == []
    # The old timer is still queued: when it fires, the run is at another seq.
    assert [t.key for t in js.claim_due(T0, 10, 60)] == ["run:r1:0"]
    js.requeue("c1", "r1")
    js.requeue("c1", "r1")
    [queued] = js.outbox_messages("email", "ready", 10)
    assert (queued.message_id, queued.content) == ("m1", {"items": [], "n": 0.1})
    assert sent(js) == ["m1"]


def test_requeue_after_an_ack_does_not_bring_the_message_back(js):
    change = RunChange("c1", runs=(RunUpdate(run(), None),), messages=(message("m1"),))
    crash_after_the_contacts_part(js, change)
    js.requeue("c1", "r1")
    assert sent(js) == ["m1"] and js.ack_outbox("email", ["m1"]) == ["m1"]
    js._contact_step(RunChange("c1", messages=(message("m1"),)))  # filed again, as a crash would
    js.requeue("c1", "r1")
    assert sent(js, at=T0 + 5 * MINUTE) == []
    assert [m.message_id for m in js.outbox_messages("email", "acked", 10)] == ["m1"]
    assert js.outbox_messages("email", "ready", 10) == []


def test_the_runs_next_commit_publishes_what_a_crash_kept_back(js):
    r = run()
    crash_after_the_contacts_part(js, RunChange("c1", runs=(RunUpdate(r, None),),
                                                messages=(message("m1"),)))
    moved = r.evolve(step_id="sms")
    assert js.commit(RunChange("c1", runs=(RunUpdate(moved, 0),),
                               messages=(message("m2"),))).ok
    assert sent(js) == ["m1", "m2"]
    js.requeue("c1", "r1")
    assert sent(js, at=T0 + 5 * MINUTE) == ["m1", "m2"]  # leases ended; nothing queued twice


def test_a_commit_that_loses_the_race_never_moves_the_winners_timer(js):
    r = run()
    js.commit(RunChange("c1", runs=(RunUpdate(r, None),)))
    winner, loser = r.evolve(due_at=T0 + MINUTE), r.evolve(due_at=T0 + 9 * MINUTE)
    losing = RunChange("c1", runs=(RunUpdate(loser, 0),), timers=(timer(loser),))
    js._pipelined("commit", lambda pipe: js._prepare(losing, pipe))  # the loser's step 1 first
    assert js.commit(RunChange("c1", runs=(RunUpdate(winner, 0),), timers=(timer(winner),))).ok
    assert js.commit(losing).conflicts == ("r1",)
    [claimed] = js.claim_due(T0 + 9 * MINUTE, 10, 60)
    assert (claimed.key, claimed.due_at) == ("run:r1:1", T0 + MINUTE)


def test_a_change_with_a_naive_time_writes_nothing(js):
    from store.errors import NaiveTimestamp

    r = run()
    naive = ContactEvent("e1", "c1", "cart_abandoned", datetime(2026, 11, 16, 9, 0))
    with pytest.raises(NaiveTimestamp):
        js.commit(RunChange("c1", event=naive, runs=(RunUpdate(r, None),), timers=(timer(r),)))
    assert js.pending_timers() == 0 and js.journey_state("c1").runs == ()


# -- the due queue ----------------------------------------------------------------------


def test_timers_spread_over_every_shard_and_are_claimed_in_global_order(js):
    for n in range(64):
        r = run(f"r{n}", contact=f"c{n}", due=T0 + (n * 37 % 64) * MINUTE)
        js.commit(RunChange(r.contact_id, runs=(RunUpdate(r, None),), timers=(timer(r),)))
    assert len({shard_of(f"c{n}") for n in range(64)}) == SHARDS
    claimed = js.claim_due(T0 + 64 * MINUTE, 64, 60)
    assert [t.due_at for t in claimed] == [T0 + n * MINUTE for n in range(64)]


def test_the_due_shards_spread_evenly_over_the_masters_of_a_cluster(redis_cluster):
    from collections import Counter

    from redis.cluster import RedisCluster

    store = journeys_from_url(redis_cluster.url)
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
    owners = Counter(client.get_node_from_key(store._shard_keys(n)[0]).port
                     for n in range(SHARDS))
    client.close()
    assert len(owners) == len(redis_cluster.nodes)
    assert max(owners.values()) - min(owners.values()) <= 1


def test_leased_timers_do_not_hide_the_due_ones_behind_them(js):
    for n in range(30):
        r = run(f"r{n}", contact="same", due=T0 - n * MINUTE)
        js.commit(RunChange("same", runs=(RunUpdate(r, None),), timers=(timer(r),)))
    first = js.claim_due(T0, 10, 60)
    second = js.claim_due(T0, 10, 60)
    assert len(first) == len(second) == 10
    assert not {t.key for t in first} & {t.key for t in second}
    assert max(t.due_at for t in first) <= min(t.due_at for t in second)


def test_scripts_the_server_lost_are_loaded_again(js, servers):
    r = run()
    js.commit(RunChange("c1", runs=(RunUpdate(r, None),), timers=(timer(r),)))
    for node in getattr(servers, "nodes", [servers]):
        node.cli("SCRIPT", "FLUSH")
    assert [t.key for t in js.claim_due(T0, 10, 60)] == ["run:r1:0"]


# -- outboxes -----------------------------------------------------------------------------


def test_an_acked_body_expires_after_a_week_and_its_id_is_never_queued_again(js):
    assert js.commit(RunChange("c1", messages=(message("m1"),))).ok
    assert sent(js) == ["m1"] and js.ack_outbox("email", ["m1"]) == ["m1"]
    assert sent(js, at=T0 + timedelta(days=8)) == []
    assert js.outbox_messages("email", "acked", 10) == []
    assert js.commit(RunChange("c1", messages=(message("m1"),))).ok
    assert sent(js, at=T0 + timedelta(days=9)) == []
    assert js.ack_outbox("email", ["m1"]) == ["m1"]


def test_equal_times_keep_the_order_the_memory_store_gives(js):
    memory = MemoryJourneyStore()
    messages = (message("b", created=T0 - MINUTE), message("a"), message("c", created=T0 - MINUTE))
    for store in (memory, js):
        for n in (3, 1, 2):
            store.commit(RunChange("c1", event=ContactEvent(f"e{n}", "c1", "viewed", T0)))
        store.commit(RunChange("c1", messages=messages))
    assert js.events("c1") == memory.events("c1")
    assert sent(js) == sent(memory) == ["b", "c", "a"]


# -- keys, erasure, errors ---------------------------------------------------------------------


@pytest.mark.parametrize("contact", ["{x}", "}{", "a\x1fb", "%1F", "ünï cødé", "x" * 300])
def test_any_contact_id_keeps_its_journey_keys_together_and_reads_back(js, contact):
    r = run(contact=contact, branches={"split": "a"})
    event = ContactEvent("e1", contact, "viewed", T0)
    assert js.commit(RunChange(contact, event=event, runs=(RunUpdate(r, None),),
                               timers=(timer(r),), watches={"winback": T0},
                               messages=(message("m1", contact=contact),))).ok
    assert js.journey_state(contact).runs == (r,) and js.events(contact) == (event,)
    [claimed] = js.claim_due(T0, 10, 60)
    assert (claimed.contact_id, claimed.key) == (contact, r.timer_key)
    assert js.erase_contact(contact)
    assert js.pending_timers() == 0 and js.lease_outbox("email", T0, 10, 60) == []


def test_erasure_reaches_every_channel_and_leaves_other_contacts_alone(js):
    for contact in ("c1", "c2"):
        assert js.commit(RunChange(contact, messages=tuple(
            replace(message(f"{contact}-{channel}", contact=contact), channel=channel)
            for channel in ("email", "sms", "push")))).ok
    assert js.erase_contact("c1")
    for channel in ("email", "sms", "push"):
        assert sent(js, channel) == [f"c2-{channel}"]
    assert js.commit(RunChange("c1", messages=(message("c1-email", contact="c1"),))).ok
    assert sent(js, "email", at=T0 + 5 * MINUTE) == ["c2-email"]


def test_an_unreachable_redis_is_reported_unavailable_not_raised_raw():
    dead = journeys_from_url("redis://127.0.0.1:1/0", {"retries": 0})
    with pytest.raises(StoreUnavailable, match="redis store unavailable"):
        dead.journey_state("c1")
    with pytest.raises(StoreUnavailable):
        dead.claim_due(T0, 10, 60)
    assert not dead.ping()


# -- memory ----------------------------------------------------------------------------------


def waiting_run(n: int) -> Run:
    """A run as the machine leaves it in a one-day wait step, times from a live clock."""
    contact = f"contact-{n:07d}"
    run_id = "cart_recovery." + hashlib.sha256(contact.encode()).hexdigest()[:16]
    at = T0 + timedelta(microseconds=123_457 + n)
    return Run(run_id, "cart_recovery", contact, "wait_a_day", "active", 1, at, at,
               at + timedelta(days=1), pack_hash="sha256:0123456789abcdef")


def used_memory(server) -> int:
    info = server.cli("INFO", "memory")
    return int(next(line.split(":")[1] for line in info.splitlines()
                    if line.startswith("used_memory:")))


def test_a_waiting_run_costs_under_400_bytes_of_redis_memory(redis_server, capsys):
    redis_server.cli("FLUSHALL")
    store = journeys_from_url(redis_server.url)
    store.commit(RunChange("warm", runs=(RunUpdate(run(contact="warm"), None),),
                           timers=(timer(run(contact="warm")),)))  # scripts loaded
    count, before = 2000, used_memory(redis_server)
    for n in range(count):
        r = waiting_run(n)
        assert store.commit(RunChange(r.contact_id, runs=(RunUpdate(r, None),),
                                      timers=(timer(r),))).ok
    per_run = (used_memory(redis_server) - before) / count
    contact_key = redis_server.cli("MEMORY", "USAGE", "nba:{contact-0000001}:j").strip()
    with capsys.disabled():
        print(f"\nredis memory per waiting run: {per_run:.0f} bytes (used_memory growth over "
              f"{count} runs; the contact's hash alone: {contact_key} bytes)")
    # The compact run keeps the contact's hash a listpack under Redis's defaults.
    assert redis_server.cli("OBJECT", "ENCODING", "nba:{contact-0000001}:j").strip() == "listpack"
    assert store.journey_state("contact-0000001").runs == (waiting_run(1),)
    store.close()
    assert per_run < 400


def test_runs_stored_as_json_by_an_earlier_version_still_read_and_move(js):
    """Records written before the compact form (Run.dump JSON) keep working: read,
    compare-and-set on their seq, and rewritten compactly."""
    r = waiting_run(7)
    key, field = f"nba:{{{r.contact_id}}}:j", f"r:{r.run_id}"
    js._redis().hset(key, field, r.dump(ids=False))
    assert js.journey_state(r.contact_id).runs == (r,)
    moved = r.evolve(step_id="reminder", due_at=r.due_at + MINUTE)
    assert not js.commit(RunChange(r.contact_id, runs=(RunUpdate(moved, 5),))).ok
    assert js.commit(RunChange(r.contact_id, runs=(RunUpdate(moved, r.seq),))).ok
    assert not js._redis().hget(key, field).startswith("{")
    assert js.journey_state(r.contact_id).runs == (moved,)
