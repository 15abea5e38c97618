"""A compact text form of a run, for a store that keeps millions of waiting runs
in memory (Redis), where every byte of a run is paid per contact.

``pack`` writes the run's fields in a fixed order, separated by ``|``, with
empty fields for what is absent and the empty tail dropped::

    seq and state | step | entered | step entered | due | decision | channel |
    pack hash | branches | sent | message | deferred since | end | ended |
    task | attempt | not before | journey

- The seq comes first, then the state's letter (``a``, ``w``, ``e``), so that a
  Lua script reads the seq with ``^%d+`` (the JSON form starts with ``{``, so
  a script tells the two apart by the first byte).
- Numbers are in base 62 (``0-9a-zA-Z``). ``entered`` is microseconds since
  2026-01-01 UTC; the other times are offsets from ``entered`` in seconds
  (``-`` before it; ``.`` and microseconds when not whole seconds).
  ``step entered`` is empty while the run is still in its first step.
- ``decision`` is the number N of the usual ``<run id>.<N>``; ``message`` is
  empty when it is the decision's id, ``~`` when there is none.
- ``pack hash``: the 16 hex digits of ``sha256:...`` in base64url (11 chars).
- ``branches``: ``step=branch`` pairs joined by ``,``.
- ``journey`` is empty when the run id is ``<journey>.<digest>``, as
  ``run_id_for`` makes it.

A run that does not fit (a field that is not a plain token, an unusual
decision id or pack hash) is written as ``Run.dump`` JSON; ``unpack`` reads
both. Why this matters on Redis: a hash stays in its compact listpack encoding
while every value is at most ``hash-max-listpack-value`` (64 bytes by
default); the JSON of a typical waiting run is about 150.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from engine.journeys.model import Run

SEP = "|"
_TOKEN = re.compile(r"^[A-Za-z0-9_.:\-]*$")  # nothing that holds | , = or ~
_HASH = re.compile(r"^sha256:[0-9a-f]{16}$")
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_STATES = {"active": "a", "waiting": "w", "ended": "e"}
_STATE_NAMES = {code: state for state, code in _STATES.items()}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {digit: value for value, digit in enumerate(_DIGITS)}
_HEAD = re.compile(r"^(\d+)([awe])$")
_NO_MESSAGE = "~"


class Unpackable(ValueError):
    """A run ``pack`` cannot write compactly (it is written as JSON instead)."""


def pack(run: Run) -> str:
    """The compact form of ``run`` (ids left out: the store keys it by them), or
    its JSON when it does not fit."""
    try:
        return _pack(run)
    except Unpackable:
        return run.dump(ids=False)


def unpack(text: str, run_id: str, contact_id: str) -> Run:
    """The run that ``pack`` (either form) wrote."""
    if text.startswith("{"):
        return Run.restore(text, run_id=run_id, contact_id=contact_id)
    fields = text.split(SEP)
    fields += [""] * (len(_ORDER) - len(fields))
    raw = dict(zip(_ORDER, fields, strict=True))
    head = _HEAD.match(raw["head"])
    if head is None:
        raise ValueError(f"not a packed run: {text[:80]!r}")
    entered = _EPOCH + timedelta(microseconds=_signed(raw["entered"]))
    return Run(
        run_id=run_id, journey_id=raw["journey"] or run_id.rsplit(".", 1)[0],
        contact_id=contact_id, step_id=raw["step"] or None, state=_STATE_NAMES[head[2]],
        seq=int(head[1]), entered_at=entered,
        step_entered_at=_after(entered, raw["step_entered"]) or entered,
        due_at=_after(entered, raw["due"]), end=raw["end"] or None,
        ended_at=_after(entered, raw["ended"]),
        decision_id=f"{run_id}.{int(raw['decision'])}" if raw["decision"] else None,
        message_id=_message(raw["message"], run_id, raw["decision"]),
        channel=raw["channel"] or None, sent_at=_after(entered, raw["sent"]),
        deferred_since=_after(entered, raw["deferred"]),
        branches=dict(pair.split("=", 1) for pair in raw["branches"].split(",") if pair),
        pack_hash=_hash_text(raw["hash"]), task_id=raw["task"] or None,
        attempt=int(raw["attempt"]) if raw["attempt"] else None,
        not_before=_after(entered, raw["not_before"]))


_ORDER = ("head", "step", "entered", "step_entered", "due", "decision", "channel", "hash",
          "branches", "sent", "message", "deferred", "end", "ended", "task", "attempt",
          "not_before", "journey")


def _pack(run: Run) -> str:
    entered = run.entered_at
    if not isinstance(run.seq, int) or isinstance(run.seq, bool) or run.seq < 0:
        raise Unpackable(f"a seq a script cannot read: {run.seq!r}")
    fields = [
        f"{run.seq}{_STATES[run.state]}", _token(run.step_id),
        _signed_text((entered - _EPOCH) // timedelta(microseconds=1)),
        "" if run.step_entered_at == entered else _offset(entered, run.step_entered_at),
        _offset(entered, run.due_at), _decision(run), _token(run.channel),
        _hash_field(run.pack_hash), _branches(run.branches), _offset(entered, run.sent_at),
        _message_field(run), _offset(entered, run.deferred_since), _token(run.end),
        _offset(entered, run.ended_at), _token(run.task_id),
        "" if run.attempt is None else str(int(run.attempt)),
        _offset(entered, run.not_before), _journey(run)]
    while fields and fields[-1] == "":
        fields.pop()
    return SEP.join(fields)


def _token(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value or not _TOKEN.match(value):
        raise Unpackable(f"not a plain token: {value!r}")
    return value


def _journey(run: Run) -> str:
    if run.run_id.rsplit(".", 1)[0] == run.journey_id and "." in run.run_id:
        return ""
    return _token(run.journey_id)


def _decision(run: Run) -> str:
    if run.decision_id is None:
        return ""
    number = run.decision_id.removeprefix(f"{run.run_id}.")
    if number == run.decision_id or not (number.isascii() and number.isdigit()) \
            or str(int(number)) != number:
        raise Unpackable(f"an unusual decision id: {run.decision_id!r}")
    return number


def _message_field(run: Run) -> str:
    if run.message_id == run.decision_id:
        return ""
    if run.message_id is None:
        return _NO_MESSAGE
    raise Unpackable(f"a message id that is not the decision's: {run.message_id!r}")


def _message(field: str, run_id: str, decision: str) -> str | None:
    if field == _NO_MESSAGE or not decision:
        return None
    return f"{run_id}.{int(decision)}"


def _hash_field(pack_hash: str | None) -> str:
    if pack_hash is None:
        return ""
    if not isinstance(pack_hash, str) or not _HASH.match(pack_hash):
        raise Unpackable(f"an unusual pack hash: {pack_hash!r}")
    digest = bytes.fromhex(pack_hash.removeprefix("sha256:"))
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hash_text(field: str) -> str | None:
    if not field:
        return None
    return "sha256:" + base64.urlsafe_b64decode(field + "=").hex()


def _branches(branches: Any) -> str:
    pairs = []
    for step, branch in dict(branches).items():
        pairs.append(f"{_token(step)}={_token(branch)}")
    return ",".join(pairs)


def _offset(entered: datetime, moment: datetime | None) -> str:
    return "" if moment is None else _span_text(moment - entered)


def _after(entered: datetime, field: str) -> datetime | None:
    return entered + _span(field) if field else None


def _span_text(span: timedelta) -> str:
    """``[-]seconds[.micros]`` in base 62 (exact to the microsecond)."""
    micros = span // timedelta(microseconds=1)
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    seconds, rest = divmod(micros, 1_000_000)
    return sign + _base62(seconds) + (f".{_base62(rest)}" if rest else "")


def _span(text: str) -> timedelta:
    sign, text = (-1, text[1:]) if text.startswith("-") else (1, text)
    seconds, _, rest = text.partition(".")
    micros = _number(seconds) * 1_000_000 + (_number(rest) if rest else 0)
    return timedelta(microseconds=sign * micros)


def _signed_text(number: int) -> str:
    return "-" + _base62(-number) if number < 0 else _base62(number)


def _signed(text: str) -> int:
    return -_number(text[1:]) if text.startswith("-") else _number(text)


def _base62(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 62)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def _number(text: str) -> int:
    value = 0
    for digit in text:
        value = value * 62 + _VALUES[digit]
    return value
