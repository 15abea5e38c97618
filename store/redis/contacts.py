"""A ContactStore on Redis or Redis Cluster, shared by every API machine.

Every key of one contact carries the same hash tag (``nba:{<contact>}:...``),
so the Lua scripts in ``store/redis/lua/`` run on one node of a cluster:

- ``load.lua`` reads profile, consents and history in one round trip;
- ``reserve.lua`` checks every window cap and records the new entries in one
  atomic round trip, trimming entries no policy reads any more;
- ``outcome.lua`` attaches an outcome once (idempotent) and revokes consent
  on ``unsubscribed``.

A contact's history is one string, its log (``store/redis/history_log.py``). Decision
ids made by ``decision_id_for`` carry their contact, so that an outcome finds
it without any index; other ids (journey steps', callers' own) are indexed
under ``nba:decision:<id>``. Contacts stored in the earlier layout (a hash of
JSON entries and two sorted sets) are migrated by the scripts when first read
or written.

Channel capacity counters are shared by all contacts. On a single Redis they
are checked and claimed inside the same reserve script. On a cluster they
live in their own hash slot (``nba:{capacity}:...``): they are claimed first,
then the contact is reserved, and the claim is given back if the contact's
checks fail. A crash between the two steps can only leave a unit claimed,
never send past a cap.

Connection, timeouts, retries and the circuit breaker are shared with the
journey store (store/redis/base.py): an unreachable Redis costs one fast
StoreUnavailable, not a stall per request.
"""

from __future__ import annotations

import contextlib
import functools
import json
from datetime import timedelta
from typing import Any, Mapping

from engine.errors import StoreUnavailable
from engine.model import (
    ContactRecord,
    ContactSnapshot,
    HistoryEntry,
    OutcomeRecorded,
    OutcomeReport,
    Reservation,
    ReservationResult,
)
from store.redis import history_log
from store.redis.base import RedisBackend, hash_tag
from store.redis.base import micros as _micros

CAPACITY_TTL_S = 3 * 86_400
# The old layout's keys ("hist", "out", "times", "touch", "seq") are read only to
# migrate a contact into its log (store/redis/lua/history_log.lua).
OLD_KEYS = ("hist", "out", "times", "touch", "seq")
CONTACT_KEYS = ("profile", "consents", "seen", "log") + OLD_KEYS


class RedisStore(RedisBackend):
    """Contact state in Redis (``redis://``) or Redis Cluster (``redis+cluster://``)."""

    SCRIPTS = ("load", "reserve", "capacity", "outcome", "contact")

    def __init__(self, url: str, *, max_history_days: float = 730, **options: Any) -> None:
        """``options``: the connection and resilience settings of RedisBackend."""
        super().__init__(url, **options)
        self.max_history = timedelta(days=max_history_days)

    # -- keys -----------------------------------------------------------------

    def _keys(self, contact_id: str) -> dict[str, str]:
        tag = hash_tag(contact_id)
        return {name: f"{self.prefix}:{{{tag}}}:{name}" for name in CONTACT_KEYS}

    def contact_ids(self) -> list[str]:
        """Every contact with a recorded history: a SCAN of the history keys (of every
        primary of a cluster), for offline tools such as the evaluator."""
        pattern = f"{self.prefix}:{{*}}:log"

        def scan() -> list[str]:
            found = set()
            for key in self._redis().scan_iter(match=pattern, count=1000):
                tag = key[len(self.prefix) + 2:-len("}:log")]
                found.add(tag.replace("%7B", "{").replace("%7D", "}").replace("%25", "%"))
            return sorted(found)

        return self._run("contact_ids", scan)

    def _decision_key(self, decision_id: str) -> str:
        return f"{self.prefix}:decision:{decision_id}"

    def _capacity_key(self, key: str) -> str:
        return f"{self.prefix}:{{capacity}}:{key}"

    # -- reads ----------------------------------------------------------------

    def contact_records(self, limit: int) -> list[ContactRecord]:
        """Up to ``limit`` stored contacts (profile and consents), found by SCAN over
        every node (a cluster's too), in id order: for simulations, not for traffic."""
        def ids() -> list[str]:
            found: set[str] = set()
            for part in ("profile", "consents"):
                for key in self._redis().scan_iter(match=f"{self.prefix}:{{*}}:{part}",
                                                   count=1000):
                    found.add(_contact_of(key, self.prefix, part))
            return sorted(found)[:limit]

        records = (self.get_contact(c) for c in self._run("scan_contacts", ids))
        return [record for record in records if record is not None]

    def decision_id_for(self, contact_id: str, unique: str) -> str:
        """A new decision's id: ``unique`` with the contact in it, when it fits."""
        return history_log.decision_id_for(contact_id, unique)

    def load(self, contact_id: str) -> ContactSnapshot:
        """Profile, consents and history of one contact, in one round trip."""
        reply = self._run("load", lambda: self._load_reply(contact_id))
        profile, consents, seen, history = _snapshot_parts(reply, contact_id)
        return ContactSnapshot(contact_id, profile, consents, history,
                               known=bool(seen) or bool(history))

    def load_many(self, contact_ids: list[str]) -> dict[str, ContactSnapshot]:
        """``load`` of several contacts in one pipeline (one round trip per node)."""
        calls = [("load", self._load_keys(c), []) for c in contact_ids]
        replies = self._run_scripts("load", calls)
        found = {}
        for contact_id, reply in zip(contact_ids, replies, strict=True):
            profile, consents, seen, history = _snapshot_parts(reply, contact_id)
            found[contact_id] = ContactSnapshot(contact_id, profile, consents, history,
                                                known=bool(seen) or bool(history))
        return found

    def _load_keys(self, contact_id: str) -> list[str]:
        k = self._keys(contact_id)
        return [k[name] for name in CONTACT_KEYS]

    def _load_reply(self, contact_id: str) -> list:
        return self._script("load")(keys=self._load_keys(contact_id))

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        """All kept entries of a contact, oldest first."""
        return self.load(contact_id).history

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        """The stored profile and consents, or None."""
        profile, consents, seen, history = _snapshot_parts(
            self._run("get_contact", lambda: self._load_reply(contact_id)), contact_id)
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
        keys = [k["log"], k["seen"]] + [k[name] for name in OLD_KEYS]
        claims = _claims(reservation) if with_shared else []
        index = ([self._decision_key(d) for d in _indexed(reservation)]
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
        if commit and _indexed(reservation):
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
        for decision_id in _indexed(reservation):
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
        contact = reservation.contact_id
        return json.dumps({
            "commit": 1 if commit else 0,
            "contact": contact,
            "entries": [{"key": history_log.entry_key(e.decision_id, e.action_id, contact),
                         "record": history_log.record(e, contact, _micros(e.at))}
                        for e in reservation.entries],
            "floor": str(min((_micros(c.since) for c in checks), default=0)),
            "checks": [{"rule": c.rule, "since": str(_micros(c.since)), "limit": c.limit,
                        "new": sum(c.weight(e) for e in reservation.entries if c.matches(e)),
                        "weights": None if c.weights is None else
                        {history_log.field_text(k): v for k, v in c.weights.items()},
                        **_filters(c.kinds, c.channels, c.programs, c.actions)}
                       for c in checks],
            "capacity": claims,
            "nidx": index_keys,
            "index_ttl": self._index_ttl(),
            "keep_since": "" if keep_since is None else str(_micros(keep_since)),
        }, separators=(",", ":"))

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        """Attach an outcome once; ``unsubscribed`` also revokes the channel's consent.
        One round trip for a decision id that carries its contact, two otherwise
        (the index, then the contact's script)."""
        at = _micros(report.at)
        contact_id = history_log.contact_in(report.decision_id)
        reply = [0] if contact_id is None else self._outcome_call(contact_id, report, at)
        if reply[0] == 0:
            contact_id = self._run("find_decision", lambda: self._redis().get(
                self._decision_key(report.decision_id)))
            if contact_id is None:
                return None
            reply = self._outcome_call(contact_id, report, at)
        if reply[0] == 0:
            return None
        entry = history_log.parse_record(reply[1], contact_id)
        revoked = entry.channel if reply[0] == 1 and report.outcome == "unsubscribed" else None
        return OutcomeRecorded(contact_id, entry, duplicate=reply[0] == 2, consent_revoked=revoked)

    def _outcome_call(self, contact_id: str, report: OutcomeReport, at: int) -> list:
        k = self._keys(contact_id)
        key = history_log.entry_key(report.decision_id, report.action_id, contact_id)
        return self._run("record_outcome", lambda: self._script("outcome")(
            keys=[k["log"], k["consents"]] + [k[name] for name in OLD_KEYS],
            args=[key, report.outcome, at, history_log.value_text(report.value)]))

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
        decisions = {e.decision_id for e in self.history(contact_id)
                     if history_log.contact_in(e.decision_id) != contact_id}
        removed = self._run("delete_contact", lambda: self._redis().delete(*k.values()))
        if decisions:
            self._run("delete_contact", lambda: [self._redis().delete(self._decision_key(d))
                                                 for d in decisions])
        return bool(removed)


# -- encoding -------------------------------------------------------------------

def _indexed(reservation: Reservation) -> set[str]:
    """The decision ids of ``reservation`` that need the index to be found."""
    return {e.decision_id for e in reservation.entries
            if history_log.contact_in(e.decision_id) != reservation.contact_id}


def _pairs(flat: list) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _contact_of(key: str, prefix: str, part: str) -> str:
    """The contact id in ``<prefix>:{<tag>}:<part>`` (the tag unescaped)."""
    tag = key[len(prefix) + 2:-len(part) - 2]
    return tag.replace("%7D", "}").replace("%7B", "{").replace("%25", "%")


def _profile(flat: list) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in _pairs(flat).items()}


def _consents(flat: list) -> dict[str, bool]:
    return {channel: value == "1" for channel, value in _pairs(flat).items()}


def _snapshot_parts(reply: list, contact_id: str
                    ) -> tuple[dict, dict, int, tuple[HistoryEntry, ...]]:
    profile_json, consents_flat, seen, log = reply
    return (json.loads(profile_json), _consents(consents_flat), seen,
            history_log.parse_log(log, contact_id))


@functools.lru_cache(maxsize=4096)
def _filters(kinds: frozenset[str], channels: frozenset[str], programs: frozenset[str],
             actions: frozenset[str]) -> dict[str, list[str]]:
    """A window check's filters as records store them, sorted (what reserve.lua
    compares). Computed once per filter: a pack's rules repeat them in every
    reservation. The lists are shared: never change them."""
    return {"kinds": sorted(history_log.kind_code(k) for k in kinds),
            "channels": sorted(map(history_log.field_text, channels)),
            "programs": sorted(map(history_log.field_text, programs)),
            "actions": sorted(map(history_log.field_text, actions))}


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
