"""How the Redis journey store writes its records: the due queue's shards and
members, a contact's journey hash fields, the payload of the contact's script
and the pending publications of a commit (see store/redis/journeys.py)."""

from __future__ import annotations

import json
import uuid
import zlib
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from engine.journeys import codec
from engine.journeys.model import (
    DueTimer,
    JourneyState,
    OutboxMessage,
    Run,
    RunChange,
    watch_timer_key,
)
from engine.journeys.ports import MAX_EVENTS_PER_CONTACT
from store.redis.base import from_micros, micros

SHARDS = 16
SEP = "\x1f"


@cache
def shard_tags() -> tuple[str, ...]:
    """The hash tags of the due-queue shards: shard n's is the first ``due:<n>.<i>``
    whose slot lies in the n-th of SHARDS equal ranges of the slot space."""
    width = REDIS_CLUSTER_HASH_SLOTS // SHARDS
    tags = []
    for shard in range(SHARDS):
        i = 0
        while key_slot(f"due:{shard}.{i}".encode()) // width != shard:
            i += 1
        tags.append(f"due:{shard}.{i}")
    return tuple(tags)


def shard_of(contact_id: str) -> int:
    """The due-queue shard of a contact's timers (stable across processes)."""
    return zlib.crc32(contact_id.encode()) % SHARDS


def member(contact_id: str, key: str) -> str:
    return contact_id.replace("%", "%25").replace(SEP, "%1F") + SEP + key


def member_parts(member: str) -> tuple[str, str]:
    contact, _, key = member.partition(SEP)
    return unquote(contact), key


def due_timer(member: str, due: str) -> DueTimer:
    contact_id, key = member_parts(member)
    return DueTimer(contact_id, key, from_micros(due))


def pairs(flat: list) -> list[tuple[Any, Any]]:
    return list(zip(flat[::2], flat[1::2], strict=True))


def due_order(timer: DueTimer) -> tuple[datetime, str, str]:
    return timer.due_at, timer.contact_id, timer.key


def journey_state_of(contact_id: str, fields: dict[str, str]) -> JourneyState:
    """A contact's runs and watches from the fields of its journey hash."""
    runs, watches = [], {}
    for field, value in fields.items():
        kind, _, name = field.partition(":")
        if kind == "r":
            runs.append(restore_run(contact_id, name, value))
        elif kind == "w":
            watches[name] = from_micros(value)
    runs.sort(key=lambda r: (r.entered_at, r.run_id))
    return JourneyState(contact_id, tuple(runs), watches)


def timer_keys(contact_id: str, fields: dict[str, str]) -> list[str]:
    """The due-queue keys of a contact's runs and watches (what erasure removes)."""
    keys = []
    for field, value in fields.items():
        if field.startswith("r:"):
            run = restore_run(contact_id, field[2:], value)
            if run.due_at is not None:
                keys.append(run.timer_key)
        elif field.startswith("w:"):
            keys.append(watch_timer_key(field[2:], from_micros(int(value))))
    return keys


def run_text(run: Run, contact_id: str) -> str:
    """The stored text of a run: its compact form (engine/journeys/codec.py),
    without the ids the field and the key give."""
    if run.contact_id != contact_id:
        return run.dump()
    return codec.pack(run)


def restore_run(contact_id: str, run_id: str, text: str) -> Run:
    """A run from its stored text: compact, or JSON (Run.dump, as written before)."""
    return codec.unpack(text, run_id, contact_id)


def contact_payload(change: RunChange) -> str:
    """ARGV of journey_contact.lua (times as strings: Lua would round big numbers)."""
    event, record = change.event, pending_record(change)
    payload: dict[str, Any] = {
        "max": MAX_EVENTS_PER_CONTACT,
        "u": [[u.run.run_id, -1 if u.expected_seq is None else u.expected_seq,
               run_text(u.run, change.contact_id)] for u in change.runs],
        "d": list(change.delete_runs),
        "w": [[journey_id, "" if due is None else str(micros(due))]
              for journey_id, due in change.watches.items()],
        "p": record, "pf": filed_under(change) if record else []}
    if event is not None:
        payload["e"] = [event.event_id, str(micros(event.at)), event.dump()]
    return json.dumps(payload, separators=(",", ":"))


def filed_under(change: RunChange) -> list[str]:
    """The runs whose ``requeue`` publishes this change's messages again."""
    runs = {u.run.run_id for u in change.runs}
    runs |= {m.run_id for m in change.messages if m.run_id is not None}
    return sorted(runs) or [""]


def pending_record(change: RunChange) -> str:
    """The pending publication of a change: its messages and cancels ("" if none)."""
    if not (change.messages or change.cancel):
        return ""
    # Ready score 0: a queued message is ready at once (the worker queued it when
    # its step was due, on its own clock, which may be a simulated one).
    messages = [[m.channel, m.message_id, "0", str(micros(m.created_at)),
                 replace(m, state="ready", attempts=0).dump()] for m in change.messages]
    return json.dumps({"id": uuid.uuid4().hex[:12], "f": filed_under(change),
                       "m": messages, "c": [list(pair) for pair in change.cancel]},
                      separators=(",", ":"))


def by_channel(record: dict) -> dict[str, tuple[list, list]]:
    """A record's messages (id, due, created, body) and cancelled ids per channel."""
    channels: dict[str, tuple[list, list]] = {}
    for channel, *fields in record["m"]:
        channels.setdefault(channel, ([], []))[0].append(fields)
    for channel, message_id in record["c"]:
        channels.setdefault(channel, ([], []))[1].append(message_id)
    return channels


def messages_of(flat: list, state: str) -> list[OutboxMessage]:
    """Messages from {id, body, attempts, last error} quadruples of journey_outbox.lua."""
    found = []
    for _, body, tries, error in zip(*[iter(flat)] * 4, strict=True):
        if body is None:
            continue
        message = OutboxMessage.restore(body)
        found.append(replace(message, state=state, attempts=int(tries or 0),
                             last_error=message.last_error if error is None else error))
    return found
