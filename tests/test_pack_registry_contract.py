"""The contract every PackRegistry keeps (memory, SQLite, Redis, Redis Cluster),
on real throwaway Redis servers; the last test races real processes."""
from __future__ import annotations

import multiprocessing
import queue
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.authoring.model import Actor, AuditEntry, PackMeta, PackTestSummary
from store import packs_from_url

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
ADMIN = Actor("admin", "key:0123abcd")


@pytest.fixture
def registry(url):
    opened = packs_from_url(url)
    yield opened
    if hasattr(opened, "close"):
        opened.close()


def meta(number: int, name: str = "retail") -> PackMeta:
    return PackMeta(f"sha256:{number:016x}", name, str(number), f"label {number}", ADMIN,
                    T0 + timedelta(minutes=number), PackTestSummary(True, 3, 0), ("a warning",), 42)


def entry(action: str, **what) -> AuditEntry:
    return AuditEntry(T0, ADMIN, action, what)


def add(registry, number: int, name: str = "retail") -> str:
    version = meta(number, name)
    assert registry.add(version, f"pack: {name}\nversion: '{number}'\n", entry("upload"))
    return version.hash


def test_a_stored_version_comes_back_with_its_metadata_and_source(registry):
    pack_hash = add(registry, 1)
    assert registry.get(pack_hash) == meta(1)
    assert registry.source(pack_hash) == "pack: retail\nversion: '1'\n"
    assert registry.get("sha256:ffffffffffffffff") is None
    assert registry.source("sha256:ffffffffffffffff") is None


def test_storing_a_hash_twice_keeps_the_first_version_and_audits_once(registry):
    add(registry, 1)
    again = PackMeta(**{**vars(meta(1)), "label": "other"})
    assert registry.add(again, "changed", entry("upload")) is False
    assert registry.get(again.hash).label == "label 1"
    assert registry.source(again.hash) == "pack: retail\nversion: '1'\n"
    assert [e.action for e in registry.audit()] == ["upload"]


def test_versions_come_back_oldest_first(registry):
    hashes = [add(registry, n, name) for n, name in ((3, "retail"), (1, "bank"), (2, "retail"))]
    assert [v.hash for v in registry.versions()] == hashes


def test_nothing_is_active_until_a_version_is_activated(registry):
    pack_hash = add(registry, 1)
    assert registry.active() is None
    assert registry.activate(pack_hash, entry("activate")) is True
    assert registry.active() == pack_hash


def test_activating_the_active_version_again_changes_nothing(registry):
    pack_hash = add(registry, 1)
    registry.activate(pack_hash, entry("activate"))
    assert registry.activate(pack_hash, entry("activate")) is False
    assert [e.action for e in registry.audit()] == ["activate", "upload"]


def test_only_if_none_activates_the_first_version_and_never_replaces_one(registry):
    first, second = add(registry, 1), add(registry, 2)
    assert registry.activate(first, entry("activate"), only_if_none=True) is True
    assert registry.activate(second, entry("activate"), only_if_none=True) is False
    assert registry.active() == first


def test_an_activation_audits_the_version_it_replaced(registry):
    first, second = add(registry, 1), add(registry, 2)
    registry.activate(first, entry("activate", hash=first))
    registry.activate(second, entry("activate", hash=second))
    newest, older = registry.audit(limit=2)
    assert newest.what == {"hash": second, "previous": first}
    assert older.what == {"hash": first, "previous": None}
    assert newest.actor == ADMIN and newest.at == T0


def test_rollbacks_undo_activations_one_at_a_time(registry):
    hashes = [add(registry, n) for n in (1, 2, 3)]
    for pack_hash in hashes:
        registry.activate(pack_hash, entry("activate"))
    assert registry.rollback(entry("rollback"), hashes[2]) == hashes[1]
    assert registry.active() == hashes[1]
    assert registry.audit(limit=1)[0].what == {"from": hashes[2], "to": hashes[1]}
    assert registry.rollback(entry("rollback"), hashes[1]) == hashes[0]
    assert registry.rollback(entry("rollback"), hashes[0]) is None
    assert registry.active() == hashes[0]


def test_a_rollback_of_a_version_no_longer_active_changes_nothing(registry):
    first, second = add(registry, 1), add(registry, 2)
    registry.activate(first, entry("activate"))
    registry.activate(second, entry("activate"))
    assert registry.rollback(entry("rollback"), first) is None
    assert registry.active() == second
    assert registry.audit(limit=1)[0].action == "activate"


def test_the_audit_log_pages_newest_first_by_seq(registry):
    for number in range(5):
        registry.record(entry("erase_contact", contact=f"sha256:{number}"))
    first_page = registry.audit(limit=2)
    assert [e.what["contact"] for e in first_page] == ["sha256:4", "sha256:3"]
    assert first_page[0].seq > first_page[1].seq
    rest = registry.audit(limit=10, before=first_page[-1].seq)
    assert [e.what["contact"] for e in rest] == ["sha256:2", "sha256:1", "sha256:0"]
    assert registry.audit(limit=10, before=rest[-1].seq) == []


def test_a_persistent_registry_reopened_has_everything(url, registry):
    if url == "memory://":
        pytest.skip("memory:// keeps nothing")
    pack_hash = add(registry, 1)
    registry.activate(pack_hash, entry("activate"))
    reopened = packs_from_url(url)
    assert reopened.active() == pack_hash and reopened.get(pack_hash) == meta(1)
    assert [e.action for e in reopened.audit()] == ["activate", "upload"]


def _race(url: str, number: int, start, results) -> None:
    pack_hash = f"sha256:{number:016x}"
    try:
        registry = packs_from_url(url)
        registry.add(meta(number), "source", entry("upload"))
        start.wait(timeout=240)
        results.put((pack_hash, registry.activate(pack_hash, entry("activate"),
                                                  only_if_none=True)))
    except Exception as exc:  # reported to the test instead of lost with the process
        results.put((pack_hash, f"error: {exc!r}"))


def _collect(results, processes, deadline: float) -> list:
    """One result per process; a process that died without one fails the test at once
    (a child that cannot even import this module exits with code 1)."""
    outcomes = []
    while len(outcomes) < len(processes):
        try:
            outcomes.append(results.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            assert not dead, f"processes exited without a result: exit codes {dead}"
            assert time.monotonic() < deadline, f"only {len(outcomes)} results in time"
    return outcomes


def test_processes_starting_at_once_activate_exactly_one_version(url, tmp_path: Path):
    if url == "memory://":
        pytest.skip("memory:// lives in one process")
    packs_from_url(url).close()  # the database exists before the processes race
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_race, args=(url, n, start, results))
                 for n in range(1, 5)]
    for process in processes:
        process.start()
    outcomes = _collect(results, processes, deadline=time.monotonic() + 240)
    assert not [o for o in outcomes if isinstance(o[1], str)], outcomes
    for process in processes:
        process.join(timeout=30)
    winners = [pack_hash for pack_hash, won in outcomes if won]
    assert len(winners) == 1
    assert packs_from_url(url).active() == winners[0]
