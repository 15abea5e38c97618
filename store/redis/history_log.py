"""A contact's history on Redis as one string: the records the Lua scripts share.

One record per entry, each after a ``"\\n"``, in recording order (see
``store/redis/lua/history_log.lua``): decision, action, program, kind (a digit for
the four known kinds), channel, placement, time in integer microseconds,
journey, run and step (and, for a learned propensity, the segment and the
probability of the choice), separated by ``"\\x1f"``; then one ``"\\x1e"``-prefixed
part per outcome (outcome, time, value as JSON or empty), in recording order.
Texts are written with ``%``, the separators and ``"\\x01"`` percent-escaped
(``%25``, ``%0A``...), so that any text round-trips.

A decision id made by ``decision_id_for`` (a 32-digit hex id, a dot, then
the contact id) finds its contact without any index; its record keeps only
``"\\x01"`` and the hex part, since the contact is the key's.

One string costs one Redis key per contact instead of one hash field and two
sorted set members per entry; at 50 to 200 entries that is about a fifth of
the memory (``benchmarks/redis_store.py``).
"""
from __future__ import annotations

import json
import re
from datetime import timedelta as _timedelta
from operator import attrgetter
from typing import Any

from engine.model import KINDS, HistoryEntry, Outcome
from store.redis.base import EPOCH as _EPOCH
from store.redis.base import from_micros

# What HistoryEntry.restore does, without its call and keyword arguments: the
# same instance state (tests/test_history_log.py holds them equal).
_new_entry = object.__new__
_set_state = object.__setattr__

US, RS = "\x1f", "\x1e"
EMBEDDED = "\x01"
MAX_DECISION_ID = 200
_KIND_CODES = {kind: str(code) for code, kind in enumerate(KINDS)}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
_HEX32 = re.compile(r"[0-9a-f]{32}")
_ESCAPES = {"%": "%25", "\n": "%0A", RS: "%1E", US: "%1F", EMBEDDED: "%01"}
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}
_ESCAPED = re.compile("[%\n\x1e\x1f\x01]")
_ESCAPE_CODE = re.compile("%(?:25|0A|1E|1F|01)")


def decision_id_for(contact_id: str, unique: str) -> str:
    """``unique`` (a 32-digit hex id) with the contact in it, when short enough."""
    if _HEX32.fullmatch(unique) and 33 + len(contact_id) <= MAX_DECISION_ID:
        return f"{unique}.{contact_id}"
    return unique


def contact_in(decision_id: str) -> str | None:
    """The contact a ``decision_id_for`` id carries, or None."""
    if len(decision_id) > 33 and decision_id[32] == "." and _HEX32.fullmatch(decision_id[:32]):
        return decision_id[33:]
    return None


def entry_key(decision_id: str, action_id: str, contact_id: str) -> str:
    """How the record of (decision, action) starts, without its leading newline."""
    return f"{_stored_decision(decision_id, contact_id)}{US}{_text(action_id)}"


def record(entry: HistoryEntry, contact_id: str, micros: int) -> str:
    """The record of a new entry (no outcome yet)."""
    fields = (entry.action_id, entry.program, _KIND_CODES.get(entry.kind, entry.kind),
              entry.channel, entry.placement, str(micros), entry.journey_id, entry.run_id,
              entry.step_id)
    if entry.segment is not None or entry.probability is not None:
        probability = "" if entry.probability is None else f"{entry.probability:.6g}"
        fields += (entry.segment, probability)
    return US.join((_stored_decision(entry.decision_id, contact_id), *map(_text, fields)))


def field_text(value: str) -> str:
    """A text as records store it (what the reserve script compares)."""
    return _text(value)


def kind_code(kind: str) -> str:
    """A kind as records store it."""
    return _KIND_CODES.get(kind) or _text(kind)


def parse_log(log: str, contact_id: str) -> tuple[HistoryEntry, ...]:
    """The entries of a log, oldest first (equal times in recording order)."""
    if not log:
        return ()
    entries = [parse_record(line, contact_id) for line in log.split("\n")[1:]]
    entries.sort(key=_ts)  # stable: equal times keep recording order
    return tuple(entries)


def parse_record(line: str, contact_id: str) -> HistoryEntry:
    """One entry, with its outcomes, from its record."""
    # Called for every entry of every load: written for speed (no outcome, no
    # escape and an embedded decision id are the common case).
    if RS in line:
        head, *parts = line.split(RS)
        outcomes = tuple([_outcome(part) for part in parts])
    else:
        head, outcomes = line, ()
    fields = head.split(US)
    if "%" in head:
        fields = [_untext(f) for f in fields]
    decision, action, program, kind, channel, placement, at, journey, run, step = fields[:10]
    segment = probability = None
    if len(fields) > 10:  # learned: segment and probability of the choice
        segment = fields[10] or None
        probability = float(fields[11]) if fields[11] else None
    if decision[:1] == EMBEDDED:
        decision = f"{decision[1:]}.{contact_id}"
    micros = int(at)
    entry = _new_entry(HistoryEntry)
    _set_state(entry, "__dict__", {
        "decision_id": decision, "action_id": action, "program": program,
        "kind": _CODE_KINDS.get(kind, kind), "channel": channel,
        "at": _EPOCH + _timedelta(0, 0, micros), "placement": placement or None,
        "outcomes": outcomes, "journey_id": journey or None, "run_id": run or None,
        "step_id": step or None, "segment": segment, "probability": probability,
        "ts": micros / 1_000_000,
        "failed": any(o.outcome == "failed" for o in outcomes) if outcomes else False})
    return entry


def value_text(value: Any) -> str:
    """An outcome's value as its record stores it."""
    return "" if value is None else json.dumps(value)


def _outcome(part: str) -> Outcome:
    name, at, value = part.split(US)
    micros = int(at)
    return Outcome.restore(name, from_micros(micros), None if value == "" else json.loads(value),
                           micros / 1_000_000)


def _stored_decision(decision_id: str, contact_id: str) -> str:
    if contact_in(decision_id) == contact_id:
        return EMBEDDED + decision_id[:32]
    return _text(decision_id)


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return _ESCAPED.sub(_escape, value) if _ESCAPED.search(value) else value


def _escape(match: re.Match) -> str:
    return _ESCAPES[match.group()]


def _untext(value: str) -> str:
    return _ESCAPE_CODE.sub(_unescape, value)


def _unescape(match: re.Match) -> str:
    return _UNESCAPES[match.group()]


_ts = attrgetter("ts")
