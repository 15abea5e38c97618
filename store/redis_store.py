"""A ContactStore on Redis or Redis Cluster, shared by every API machine.

Every key of one contact carries the same hash tag (``nba:{<contact>}:...``),
so the Lua scripts in ``store/lua/`` run on one node of a cluster:

- ``load.lua`` reads profile, consents and history in one round trip;
- ``reserve.lua`` checks every window cap and records the new entries in one
  atomic round trip, trimming entries no policy reads any more;
- ``outcome.lua`` attaches an outcome once (idempotent) and revokes consent
  on ``unsubscribed``.

Channel capacity counters are shared by all contacts. On a single Redis they
are checked and claimed inside the same reserve script. On a cluster they
live in their own hash slot (``nba:{capacity}:...``): they are claimed first,
then the contact is reserved, and the claim is given back if the contact's
checks fail. A crash between the two steps can only leave a unit claimed,
never send past a cap.

Calls have explicit socket timeouts, a bounded number of immediate retries
and a circuit breaker (store/breaker.py): an unreachable Redis costs one fast
StoreUnavailable, not a stall per request.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

import redis
from redis import exceptions as rx

from engine.errors import StoreUnavailable
from engine.model import (
    OUTCOMES,
    ContactRecord,
    ContactSnapshot,
    HistoryEntry,
    Outcome,
    OutcomeRecorded,
    OutcomeReport,
    Reservation,
    ReservationResult,
)
from store.breaker import CircuitBreaker, CircuitOpen
from store.errors import NaiveTimestamp

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
SEP = "\x1f"
CAPACITY_TTL_S = 3 * 86_400
CONTACT_KEYS = ("profile", "consents", "seen", "hist", "times", "touch", "out", "seq")
TRANSIENT = (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, rx.ReadOnlyError,
             rx.ClusterDownError, rx.TryAgainError, rx.MasterDownError, rx.OutOfMemoryError)
# Replies that mean "Redis cannot serve this now", not "this call is wrong".
UNAVAILABLE_REPLIES = ("OOM", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY",
                       "BUSY", "MISCONF", "NOREPLICAS", "MASTER_DOWN")


class RedisStore:
    """Contact state in Redis (``redis://``) or Redis Cluster (``redis+cluster://``)."""

    def __init__(self, url: str, *, timeout_ms: float = 50, connect_timeout_ms: float = 50,
                 retries: int = 1, breaker_failures: int = 3, breaker_reset_s: float = 1.0,
                 max_history_days: float = 730, prefix: str = "nba",
                 on_circuit_change: Callable[[str], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.cluster = url.startswith("redis+cluster://")
        self.timeout_s = timeout_ms / 1000
        self.connect_timeout_s = connect_timeout_ms / 1000
        self.retries = max(0, retries)
        self.max_history = timedelta(days=max_history_days)
        self.prefix = prefix
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset_s,
                                      on_change=on_circuit_change)
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._client_pid: int | None = None
        self._scripts: dict[str, Any] = {}
        self.on_error = on_error

    # -- connection and resilience --------------------------------------------

    def _redis(self) -> Any:
        """The client of this process, created on first use (never before a fork)."""
        pid = os.getpid()
        if self._client is None or self._client_pid != pid:
            with self._client_lock:
                if self._client is None or self._client_pid != pid:
                    client = self._connect()
                    self._scripts = {name: client.register_script(_lua(name))
                                     for name in ("load", "reserve", "capacity", "outcome",
                                                  "contact")}
                    self._client_pid = pid
                    self._client = client
        return self._client

    def _connect(self) -> Any:
        options = dict(socket_timeout=self.timeout_s,
                       socket_connect_timeout=self.connect_timeout_s,
                       decode_responses=True, health_check_interval=0)
        if self.cluster:
            parts = urlsplit(self.url)
            from redis.cluster import RedisCluster

            return RedisCluster(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                                password=parts.password, cluster_error_retry_attempts=1,
                                **options)
        return redis.Redis.from_url(self.url, **options)

    def _run(self, operation: str, call: Callable[[], T]) -> T:
        """``call`` under the breaker, retried on transient errors; StoreUnavailable if it fails."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise StoreUnavailable(f"redis store unavailable ({operation}): {exc}") from exc
        last: Exception | None = None
        for _ in range(self.retries + 1):
            try:
                result = call()
            except TRANSIENT as exc:
                last = exc
                continue
            except rx.ResponseError as exc:
                if not str(exc).startswith(UNAVAILABLE_REPLIES):
                    self.breaker.succeeded()  # Redis answered: it is up, the call was wrong
                    raise
                last = exc
                continue
            self.breaker.succeeded()
            return result
        self.breaker.failed()
        if self.on_error is not None:
            self.on_error(operation)
        raise StoreUnavailable(f"redis store unavailable ({operation}): {last}") from last

    def _script(self, name: str) -> Any:
        self._redis()
        return self._scripts[name]

    # -- keys -----------------------------------------------------------------

    def _keys(self, contact_id: str) -> dict[str, str]:
        tag = contact_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")
        return {name: f"{self.prefix}:{{{tag}}}:{name}" for name in CONTACT_KEYS}

    def _decision_key(self, decision_id: str) -> str:
        return f"{self.prefix}:decision:{decision_id}"

    def _capacity_key(self, key: str) -> str:
        return f"{self.prefix}:{{capacity}}:{key}"

    # -- reads ----------------------------------------------------------------

    def load(self, contact_id: str) -> ContactSnapshot:
        """Profile, consents and history of one contact, in one round trip."""
        reply = self._run("load", lambda: self._load_reply(contact_id))
        profile, consents, seen, history = _snapshot_parts(reply)
        return ContactSnapshot(contact_id, profile, consents, history,
                               known=bool(seen) or bool(history))

    def _load_reply(self, contact_id: str) -> list:
        k = self._keys(contact_id)
        return self._script("load")(
            keys=[k["profile"], k["consents"], k["seen"], k["hist"], k["out"]])

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        """All kept entries of a contact, oldest first."""
        return self.load(contact_id).history

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        """The stored profile and consents, or None."""
        profile, consents, seen, history = _snapshot_parts(
            self._run("get_contact", lambda: self._load_reply(contact_id)))
        if not seen:
            return None
        return ContactRecord(contact_id, profile, consents)

    # -- writes ---------------------------------------------------------------

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        """Check every cap and, if all hold and ``commit``, record it atomically."""
        for entry in reservation.entries:
            _micros(entry.at)
        if self.cluster:
            return self._reserve_in_two_steps(reservation, commit)
        reply = self._run("reserve", lambda: self._reserve_contact(reservation, commit, True))
        return _reservation_result(reply)

    def _reserve_contact(self, reservation: Reservation, commit: bool, with_shared: bool) -> list:
        k = self._keys(reservation.contact_id)
        keys = [k["hist"], k["times"], k["touch"], k["out"], k["seq"], k["seen"]]
        claims = _claims(reservation) if with_shared else []
        index = ([self._decision_key(d) for d in {e.decision_id for e in reservation.entries}]
                 if with_shared and commit and not self.cluster else [])
        keys += [self._capacity_key(c["key"]) for c in claims] + index
        payload = self._reservation_json(reservation, commit, claims, len(index))
        return self._script("reserve")(keys=keys, args=[payload])

    def _reserve_in_two_steps(self, reservation: Reservation, commit: bool) -> ReservationResult:
        """Cluster: capacity (its own slot), decision index, then the contact's script."""
        claims = _claims(reservation)
        full = claims and self._run("claim_capacity", lambda: self._capacity_call(
            claims, "claim" if commit else "check"))
        if full:
            checked = _reservation_result(self._run(
                "reserve", lambda: self._reserve_contact(reservation, False, False)))
            return ReservationResult(ok=False, failed_checks=checked.failed_checks,
                                     full_channels=frozenset(full))
        if commit:
            self._run("index_decision", lambda: self._index_decisions(reservation))
        try:
            reply = self._run("reserve", lambda: self._reserve_contact(reservation, commit, False))
        except StoreUnavailable:
            if commit and claims:
                self._release(claims)
            raise
        result = _reservation_result(reply)
        if commit and claims and not result.ok:
            self._release(claims)
        return result

    def _capacity_call(self, claims: list[dict], mode: str) -> list:
        keys = [self._capacity_key(c["key"]) for c in claims]
        return self._script("capacity")(keys=keys, args=[json.dumps(
            {"mode": mode, "claims": claims})])

    def _release(self, claims: list[dict]) -> None:
        # If this fails the unit stays claimed: fewer sends, never more.
        with contextlib.suppress(StoreUnavailable):
            self._run("release_capacity", lambda: self._capacity_call(claims, "release"))

    def _index_decisions(self, reservation: Reservation) -> None:
        client = self._redis()
        for decision_id in {e.decision_id for e in reservation.entries}:
            client.set(self._decision_key(decision_id), reservation.contact_id,
                       ex=self._index_ttl())

    def _index_ttl(self) -> int:
        return int(self.max_history.total_seconds()) + 86_400

    def _reservation_json(self, reservation: Reservation, commit: bool, claims: list[dict],
                          index_keys: int) -> str:
        checks = reservation.checks
        keep_since = reservation.keep_since
        if keep_since is None and reservation.entries:
            keep_since = reservation.entries[0].at - self.max_history
        return json.dumps({
            "commit": 1 if commit else 0,
            "contact": reservation.contact_id,
            "entries": [{"field": _field(e.decision_id, e.action_id), "at": str(_micros(e.at)),
                         "value": _entry_json(e)} for e in reservation.entries],
            "floor": str(min((_micros(c.since) for c in checks), default=0)),
            "checks": [{"rule": c.rule, "since": str(_micros(c.since)), "limit": c.limit,
                        "new": sum(1 for e in reservation.entries if c.matches(e)),
                        "kinds": sorted(c.kinds), "channels": sorted(c.channels),
                        "programs": sorted(c.programs), "actions": sorted(c.actions)}
                       for c in checks],
            "capacity": claims,
            "nidx": index_keys,
            "index_ttl": self._index_ttl(),
            "keep_since": "" if keep_since is None else str(_micros(keep_since)),
            "outcomes": list(OUTCOMES),
        }, separators=(",", ":"))

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        """Attach an outcome once; ``unsubscribed`` also revokes the channel's consent."""
        at = _micros(report.at)
        contact_id = self._run("find_decision", lambda: self._redis().get(
            self._decision_key(report.decision_id)))
        if contact_id is None:
            return None
        k = self._keys(contact_id)
        reply = self._run("record_outcome", lambda: self._script("outcome")(
            keys=[k["hist"], k["out"], k["touch"], k["consents"], k["seq"]],
            args=[_field(report.decision_id, report.action_id), report.outcome, at,
                  json.dumps(report.value), *OUTCOMES]))
        if reply[0] == 0:
            return None
        outcomes = [(name, raw) for name, raw in zip(OUTCOMES, reply[2:], strict=True) if raw]
        entry = _entry(reply[1], _outcomes(outcomes))
        revoked = entry.channel if reply[0] == 1 and report.outcome == "unsubscribed" else None
        return OutcomeRecorded(contact_id, entry, duplicate=reply[0] == 2, consent_revoked=revoked)

    def put_contact(self, record: ContactRecord) -> ContactRecord:
        """Replace the profile and consents."""
        return self._write_contact("put", record.contact_id, record.profile, record.consents)

    def patch_contact(self, contact_id: str, profile: Mapping[str, Any],
                      consents: Mapping[str, bool]) -> ContactRecord:
        """Merge top-level attributes and consents into the stored ones."""
        return self._write_contact("patch", contact_id, profile, consents)

    def _write_contact(self, mode: str, contact_id: str, profile: Mapping[str, Any],
                       consents: Mapping[str, bool]) -> ContactRecord:
        k = self._keys(contact_id)
        args: list[Any] = [mode, len(profile)]
        for name, value in profile.items():
            args += [name, json.dumps(value)]
        for channel, given in consents.items():
            args += [channel, "1" if given else "0"]
        reply = self._run(f"{mode}_contact", lambda: self._script("contact")(
            keys=[k["profile"], k["consents"], k["seen"]], args=args))
        return ContactRecord(contact_id, _profile(reply[0]), _consents(reply[1]))

    def delete_contact(self, contact_id: str) -> bool:
        """Erase profile, consents, history and the decision index entries."""
        k = self._keys(contact_id)
        fields = self._run("delete_contact", lambda: self._redis().hkeys(k["hist"]))
        decisions = {field.split(SEP, 1)[0] for field in fields}
        removed = self._run("delete_contact", lambda: self._redis().delete(*k.values()))
        if decisions:
            self._run("delete_contact", lambda: [self._redis().delete(self._decision_key(d))
                                                 for d in decisions])
        return bool(removed)

    def ping(self) -> bool:
        """True when Redis answers (through the breaker: an open circuit is not ready)."""
        try:
            return bool(self._run("ping", lambda: self._redis().ping()))
        except StoreUnavailable:
            return False

    @property
    def circuit_state(self) -> str:
        return self.breaker.state

    def close(self) -> None:
        """Release this process's connections."""
        with self._client_lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None


# -- encoding -------------------------------------------------------------------

def _lua(name: str) -> str:
    return resources.files("store").joinpath("lua", f"{name}.lua").read_text()


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise NaiveTimestamp(f"timestamp {moment.isoformat()} has no timezone")
    return (moment - EPOCH) // MICROSECOND


def _at(micros: int | str) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def _field(decision_id: str, action_id: str) -> str:
    return f"{decision_id}{SEP}{action_id}"


def _entry_json(entry: HistoryEntry) -> str:
    raw = {"d": entry.decision_id, "a": entry.action_id, "p": entry.program, "k": entry.kind,
           "c": entry.channel, "l": entry.placement, "t": str(_micros(entry.at))}
    if entry.run_id is not None:  # a journey step's entry
        raw.update(j=entry.journey_id, r=entry.run_id, sp=entry.step_id)  # "s" is the sequence
    return json.dumps(raw, separators=(",", ":"))


def _entry(raw: str, outcomes: tuple[Outcome, ...]) -> HistoryEntry:
    return _restore(json.loads(raw), outcomes)


def _restore(e: dict[str, Any], outcomes: tuple[Outcome, ...]) -> HistoryEntry:
    """The entry from its decoded JSON (see _entry_json and reserve.lua)."""
    micros = int(e["t"])
    return HistoryEntry.restore(e["d"], e["a"], e["p"], e["k"], e["c"], _at(micros), e["l"],
                                outcomes, micros / 1_000_000, e.get("j"), e.get("r"),
                                e.get("sp"))


def _outcomes(pairs: list[tuple[str, str]]) -> tuple[Outcome, ...]:
    """Outcomes from (name, '[at, value, seq]') pairs, in the order they were recorded."""
    parsed = [(json.loads(raw), name) for name, raw in pairs]
    parsed.sort(key=lambda item: item[0][2])
    return tuple(Outcome(name, _at(at), value) for (at, value, _), name in parsed)


def _pairs(flat: list) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _profile(flat: list) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in _pairs(flat).items()}


def _consents(flat: list) -> dict[str, bool]:
    return {channel: value == "1" for channel, value in _pairs(flat).items()}


def _snapshot_parts(reply: list) -> tuple[dict, dict, int, tuple[HistoryEntry, ...]]:
    profile_flat, consents_flat, seen, values, out_flat = reply
    by_entry: dict[str, list[tuple[str, str]]] = {}
    for field, raw in _pairs(out_flat).items():
        entry_field, _, name = field.rpartition(SEP)
        by_entry.setdefault(entry_field, []).append((name, raw))
    keyed = []
    for e in json.loads(values):
        recorded = by_entry.get(_field(e["d"], e["a"])) if by_entry else None
        entry = _restore(e, _outcomes(recorded) if recorded else ())
        keyed.append((entry.ts, e["s"], entry))
    keyed.sort(key=_by_time_then_sequence)
    return (_profile(profile_flat), _consents(consents_flat), seen,
            tuple(entry for _, _, entry in keyed))


def _by_time_then_sequence(item: tuple) -> tuple[int, int]:
    return item[0], item[1]


def _claims(reservation: Reservation) -> list[dict]:
    counted: dict[str, dict] = {}
    for claim in reservation.capacity:
        slot = counted.setdefault(claim.key, {"key": claim.key, "channel": claim.channel,
                                              "limit": claim.limit, "claims": 0,
                                              "ttl": CAPACITY_TTL_S})
        slot["claims"] += 1
    return list(counted.values())


def _reservation_result(reply: list) -> ReservationResult:
    ok, failed, full, _already = reply
    return ReservationResult(ok=bool(ok), failed_checks=tuple(failed),
                             full_channels=frozenset(full))
