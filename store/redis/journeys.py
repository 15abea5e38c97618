"""A JourneyStore on Redis or Redis Cluster (see engine/journeys/ports.py).

Key layout (``nba`` is the prefix; ``{...}`` the hash tag that picks the slot):

- ``nba:{<contact>}:j``, a hash holding the contact's journeys:
  ``r:<run id>`` -> the run in its compact form (engine/journeys/codec.py, without
  run_id and contact_id, which the field and the key already say; a typical
  waiting run fits the 64 bytes that keep the hash a listpack), ``w:<journey id>`` -> watch due time,
  ``p:<run id>`` -> pending publications (below), ``n`` -> event arrival counter.
  Erasure finds the contact's timers from its runs and watches (their keys are
  ``Run.timer_key`` and ``watch_timer_key``).
  One hash rather than one per kind: each extra key costs a waiting run ~130 bytes.
- ``nba:{<contact>}:ev`` (event id -> JSON) and ``:evt`` (sorted by time): the
  MAX_EVENTS_PER_CONTACT most recent events; ``:msgs``: the contact's queued
  message ids (``<channel> SEP <id>``), for erasure.
- ``nba:{due:<n>.<i>}`` for n = 0..15: the due queue, sharded by the contact id
  (crc32), member ``<contact> SEP <timer key>``, score the due time in
  microseconds; ``...:lease`` beside each holds the claimed members by lease
  end. ``i`` puts shard n in the n-th sixteenth of the cluster's slots, so
  the shards spread evenly over the masters (which own slot ranges).
- ``nba:{outbox:<channel>}:*``: bodies, states, attempts, errors, the ready
  queue and one index per state (store/redis/lua/journey_outbox.lua).
- ``nba:{counts:<journey>}``: a journey's counters.

A commit touches several slots, so it goes in steps, each one atomic:
(1) index the timers and messages under their contacts and add the timers to
their shards if absent (``ZADD NX``: a commit that loses the race below never
moves the winner's timer); (2) the contact's script: event dedupe and a
compare-and-set of every run's seq, then the event, runs, watches and a
"pending publication" record of the messages and cancels, filed under the
runs; (3) queue the pending records' messages in their outboxes (idempotent)
and apply their cancels; (4) set the timers' due times and remove the ``done``
timers; (5) clear the published records; (6) increment the counters.

A crash or an error between steps leaves at worst: a timer no committed run
owns (the worker drops it as stale when it fires), pending messages (the
worker calls ``requeue`` when the run's old timer, still queued because step 4
did not run, comes back; the run's next commit publishes them too), or
counters short by one. Counters are approximate: a retried increment whose
first attempt was applied counts twice. A step-2 call retried after a timeout
that was in fact applied answers as a conflict or a duplicate event, and the
same healing applies. A rejected commit may leave the timers it added in (1).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from redis import exceptions as rx

from engine.journeys.model import (
    CommitResult,
    ContactEvent,
    DueTimer,
    JourneyState,
    OutboxMessage,
    RunChange,
)
from store.redis import journey_records as encoding
from store.redis.base import RedisBackend, ScriptCall, from_micros, hash_tag, micros
from store.redis.journey_records import SEP, SHARDS, shard_of, shard_tags

CLAIM_ROUNDS = 3  # claims lost to another worker are made up for this many times
ACKED_KEEP = timedelta(days=7)  # then an acked body goes (its id stays, never queued again)
STATES = ("ready", "leased", "acked", "failed", "cancelled")
OUTBOX_KEYS = ("body", "state", "tries", "error", "queue", *(f"s:{s}" for s in STATES))
DUPLICATE, CONFLICT = 0, 1


class RedisJourneyStore(RedisBackend):
    """Events, runs, the due queue and outboxes in Redis or Redis Cluster."""

    SCRIPTS = ("journey_events", "journey_contact", "journey_finish", "journey_peek",
               "journey_claim", "journey_schedule", "journey_outbox", "journey_count")

    def __init__(self, url: str, *, max_history_days: float = 730, **options: Any) -> None:
        """The options of RedisStore; ``max_history_days`` is accepted and unused
        (a contact keeps its MAX_EVENTS_PER_CONTACT most recent events)."""
        super().__init__(url, **options)

    # -- keys ---------------------------------------------------------------------

    def _contact_key(self, contact_id: str, name: str) -> str:
        return f"{self.prefix}:{{{hash_tag(contact_id)}}}:{name}"

    def _shard_keys(self, shard: int) -> list[str]:
        queue = f"{self.prefix}:{{{shard_tags()[shard]}}}"
        return [queue, f"{queue}:lease"]

    def _outbox_keys(self, channel: str) -> list[str]:
        base = f"{self.prefix}:{{outbox:{hash_tag(channel)}}}"
        return [f"{base}:{name}" for name in OUTBOX_KEYS]

    def _counts_key(self, journey_id: str) -> str:
        return f"{self.prefix}:{{counts:{hash_tag(journey_id)}}}"

    # -- events -------------------------------------------------------------------

    def events(self, contact_id: str) -> tuple[ContactEvent, ...]:
        keys = [self._contact_key(contact_id, "ev"), self._contact_key(contact_id, "evt")]
        texts = self._run("events", lambda: self._script("journey_events")(keys=keys))
        return tuple(ContactEvent.restore(text) for text in texts if text is not None)

    def has_event(self, contact_id: str, event_id: str) -> bool:
        key = self._contact_key(contact_id, "ev")
        return bool(self._run("has_event", lambda: self._redis().hexists(key, event_id)))

    # -- runs ---------------------------------------------------------------------

    def journey_state(self, contact_id: str) -> JourneyState:
        key = self._contact_key(contact_id, "j")
        fields = self._run("journey_state", lambda: self._redis().hgetall(key))
        return encoding.journey_state_of(contact_id, fields)

    def journey_states(self, contact_ids: list[str]) -> dict[str, JourneyState]:
        """Every contact's hash in one pipeline (one round trip per node)."""
        replies = self._pipelined("journey_state", lambda pipe: [
            pipe.hgetall(self._contact_key(c, "j")) for c in contact_ids])
        return {c: encoding.journey_state_of(c, fields)
                for c, fields in zip(contact_ids, replies, strict=True)}

    def commit(self, change: RunChange) -> CommitResult:
        """Apply ``change`` in the steps the module docstring describes."""
        if change.empty:
            return CommitResult(True)
        payload = encoding.contact_payload(change)  # first: a naive time fails before any write
        reply = self._prepare_then_contact(change, payload)
        if reply[0] == DUPLICATE:
            return CommitResult(False, duplicate_event=True)
        if reply[0] == CONFLICT:
            return CommitResult(False, conflicts=tuple(reply[1]))
        records = list(reply[1])
        # Steps 3 to 6 are idempotent: one round trip. Clearing the pending records
        # must follow their publication: on one node a pipeline runs in order; a
        # cluster pipeline does not across nodes, so there it goes after.
        after = self._publish_calls(records) + self._settle_calls(change) + \
            self._count_calls(change.counts)
        finish = self._finish_calls(change.contact_id, records)
        if self.cluster:
            self._run_scripts("commit", after)
            self._run_scripts("commit", finish)
        else:
            self._run_scripts("commit", after + finish)
        return CommitResult(True)

    def _prepare(self, change: RunChange, pipe: Any) -> None:
        """Step 1: index messages under their contacts; queue timers not yet in their
        shard (a timer already there keeps its due time until step 4)."""
        for timer in change.timers:
            pipe.zadd(self._shard_keys(shard_of(timer.contact_id))[0],
                      {encoding.member(timer.contact_id, timer.key): micros(timer.due_at)}, nx=True)
        for message in change.messages:
            pipe.hset(self._contact_key(message.contact_id, "msgs"),
                      message.channel + SEP + message.message_id, "")

    def _prepare_then_contact(self, change: RunChange, payload: str) -> list:
        """Steps 1 and 2: on a cluster, two round trips; on one node, one pipeline
        (its commands run in order, so step 1 still comes first)."""
        if not (change.timers or change.messages):
            return self._contact_step(change, payload)
        if self.cluster:
            self._pipelined("commit", lambda pipe: self._prepare(change, pipe))
            return self._contact_step(change, payload)
        keys = [self._contact_key(change.contact_id, name) for name in ("j", "ev", "evt")]

        def call() -> list:
            pipe = self._pipeline()
            self._prepare(change, pipe)
            pipe.execute_command("EVALSHA", self._script("journey_contact").sha, len(keys),
                                 *keys, payload)
            replies = list(pipe.execute(raise_on_error=False))
            if isinstance(replies[-1], rx.NoScriptError):  # the server lost the script
                return self._script("journey_contact")(keys=keys, args=[payload])
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies[-1]

        return self._run("commit", call)

    def _contact_step(self, change: RunChange, payload: str | None = None) -> list:
        """Step 2: the contact's script; its reply is {status, conflicts or records}."""
        keys = [self._contact_key(change.contact_id, name) for name in ("j", "ev", "evt")]
        args = [payload or encoding.contact_payload(change)]
        return self._run("commit", lambda: self._script("journey_contact")(keys=keys, args=args))

    def _publish_calls(self, records: list[str]) -> list[ScriptCall]:
        """Step 3: queue the records' messages and apply their cancels (idempotent)."""
        calls: list[ScriptCall] = []
        for text in records:
            for channel, (messages, cancels) in encoding.by_channel(json.loads(text)).items():
                args = ["queue", len(messages), *(v for m in messages for v in m), *cancels]
                calls.append(("journey_outbox", self._outbox_keys(channel), args))
        return calls

    def _settle_calls(self, change: RunChange) -> list[ScriptCall]:
        """Step 4: the timers' due times (replacing older ones), then remove ``done``."""
        shards: dict[int, tuple[list, list]] = {}
        for timer in change.timers:
            pairs = shards.setdefault(shard_of(timer.contact_id), ([], []))[0]
            pairs += [encoding.member(timer.contact_id, timer.key), micros(timer.due_at)]
        for timer in change.done:
            shards.setdefault(shard_of(timer.contact_id), ([], []))[1].append(
                encoding.member(timer.contact_id, timer.key))
        return [("journey_schedule", self._shard_keys(shard), [len(pairs) // 2, *pairs, *done])
                for shard, (pairs, done) in shards.items()]

    def _finish_calls(self, contact_id: str, records: list[str]) -> list[ScriptCall]:
        """Step 5: clear the published records."""
        if not records:
            return []
        return [("journey_finish", [self._contact_key(contact_id, "j")],
                 [len(records), *records])]

    def _count_calls(self, counts: tuple[tuple[str, str], ...]) -> list[ScriptCall]:
        """Step 6: increment the counters (approximate: see the module docstring)."""
        by_journey: dict[str, list[str]] = {}
        for journey_id, counter in counts:
            by_journey.setdefault(journey_id, []).append(counter)
        return [("journey_count", [self._counts_key(journey_id)], counters)
                for journey_id, counters in by_journey.items()]

    def requeue(self, contact_id: str, run_id: str) -> None:
        """Publish the run's pending records a crash kept back, then clear them."""
        key = self._contact_key(contact_id, "j")
        filed = self._run("requeue", lambda: self._redis().hget(key, "p:" + run_id))
        if filed:
            records = filed.split("\n")
            self._run_scripts("requeue", self._publish_calls(records))
            self._run_scripts("requeue", self._finish_calls(contact_id, records))

    # -- the due queue ------------------------------------------------------------

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[DueTimer]:
        """The globally earliest due timers: each shard's earliest unleased ones are
        read, the earliest ``limit`` of all claimed atomically per shard."""
        now_us = micros(now)
        until = now_us + round(lease_s * 1_000_000)
        claimed: list[DueTimer] = []
        for _ in range(CLAIM_ROUNDS):
            wanted = limit - len(claimed)
            picked = self._earliest_due(now_us, wanted) if wanted > 0 else []
            if not picked:
                break
            won = self._claim(picked, now_us, until)
            claimed += won
            if len(won) == len(picked):
                break
        return sorted(claimed, key=encoding.due_order)

    def _earliest_due(self, now_us: int, limit: int) -> list[tuple[int, str]]:
        calls: list[ScriptCall] = [("journey_peek", self._shard_keys(shard), [now_us, limit])
                                   for shard in range(SHARDS)]
        replies = self._run_scripts("claim_due", calls)
        found = [(shard, member, int(due)) for shard, flat in enumerate(replies)
                 for member, due in encoding.pairs(flat)]
        found.sort(key=lambda item: (item[2], *encoding.member_parts(item[1])))
        return [(shard, member) for shard, member, _ in found[:limit]]

    def _claim(self, picked: list[tuple[int, str]], now_us: int, until: int) -> list[DueTimer]:
        by_shard: dict[int, list[str]] = {}
        for shard, member in picked:
            by_shard.setdefault(shard, []).append(member)
        calls: list[ScriptCall] = [("journey_claim", self._shard_keys(shard),
                                    [now_us, until, *members])
                                   for shard, members in by_shard.items()]
        replies = self._run_scripts("claim_due", calls)
        return [encoding.due_timer(member, due) for flat in replies
                for member, due in encoding.pairs(flat)]

    def oldest_due(self) -> datetime | None:
        firsts = self._pipelined("oldest_due", lambda pipe: [
            pipe.zrange(self._shard_keys(shard)[0], 0, 0, withscores=True)
            for shard in range(SHARDS)])
        return min((from_micros(int(f[0][1])) for f in firsts if f), default=None)

    def pending_timers(self) -> int:
        return sum(self._pipelined("pending_timers", lambda pipe: [
            pipe.zcard(self._shard_keys(shard)[0]) for shard in range(SHARDS)]))

    # -- outboxes -----------------------------------------------------------------

    def _outbox(self, operation: str, channel: str, *args: Any) -> Any:
        keys = self._outbox_keys(channel)
        return self._run(f"{operation}_outbox", lambda: self._script("journey_outbox")(
            keys=keys, args=[operation, *args]))

    def lease_outbox(self, channel: str, now: datetime, limit: int,
                     lease_s: float) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        now_us = micros(now)
        reply = self._outbox("lease", channel, now_us, limit,
                             now_us + round(lease_s * 1_000_000), micros(now - ACKED_KEEP))
        return encoding.messages_of(reply, "leased")

    def ack_outbox(self, channel: str, message_ids: list[str]) -> list[str]:
        return list(self._outbox("ack", channel, *message_ids)) if message_ids else []

    def retry_outbox(self, channel: str, message_id: str, at: datetime, error: str) -> None:
        self._outbox("retry", channel, message_id, micros(at), error)

    def fail_outbox(self, channel: str, message_id: str, error: str) -> None:
        self._outbox("fail", channel, message_id, error)

    def outbox_messages(self, channel: str, state: str, limit: int) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        return encoding.messages_of(self._outbox("list", channel, state, limit), state)

    # -- statistics and erasure ---------------------------------------------------

    def journey_counts(self, journey_id: str) -> dict[str, int]:
        key = self._counts_key(journey_id)
        counts = self._run("journey_counts", lambda: self._redis().hgetall(key))
        return {name: int(value) for name, value in counts.items()}

    def erase_contact(self, contact_id: str) -> bool:
        """Timers and messages first (found through the contact's indexes), then the
        contact's keys: an erasure cut short is finished by the next one."""
        keys = {name: self._contact_key(contact_id, name) for name in ("j", "ev", "evt", "msgs")}
        fields, queued = self._pipelined("erase_contact", lambda pipe: [
            pipe.hgetall(keys["j"]), pipe.hkeys(keys["msgs"])])
        found = any(field.startswith(("r:", "w:")) for field in fields)
        found |= self._erase_timers(contact_id, encoding.timer_keys(contact_id, fields))
        found |= self._erase_messages(queued)
        found |= bool(self._run("erase_contact", lambda: self._redis().delete(
            keys["ev"], keys["evt"])))
        self._run("erase_contact", lambda: self._redis().delete(keys["j"], keys["msgs"]))
        return found

    def _erase_timers(self, contact_id: str, timer_keys: list[str]) -> bool:
        if not timer_keys:
            return False
        shard, lease = self._shard_keys(shard_of(contact_id))
        members = [encoding.member(contact_id, key) for key in timer_keys]
        removed, _ = self._pipelined("erase_contact", lambda pipe: [
            pipe.zrem(shard, *members), pipe.zrem(lease, *members)])
        return bool(removed)

    def _erase_messages(self, queued: list[str]) -> bool:
        by_channel: dict[str, list[str]] = {}
        for entry in queued:
            channel, _, message_id = entry.partition(SEP)
            by_channel.setdefault(channel, []).append(message_id)
        calls: list[ScriptCall] = [("journey_outbox", self._outbox_keys(channel),
                                    ["erase", *ids]) for channel, ids in by_channel.items()]
        return sum(self._run_scripts("erase_contact", calls)) > 0
