"""The contract every ShadowStore keeps (memory, SQLite, Redis, Redis Cluster), on
real throwaway Redis servers; the last test counts from real concurrent processes."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest

from engine.authoring.model import Actor
from engine.authoring.shadow import MAX_EXAMPLES, ShadowRun
from store import shadows_from_url

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
AUTHOR = Actor("author", "key:0123abcd")


def run(candidate: str = "sha256:aaaaaaaaaaaaaaaa", run_id: str = "r1") -> ShadowRun:
    return ShadowRun(run_id, candidate, "sha256:bbbbbbbbbbbbbbbb", 0.1, T0,
                     T0 + timedelta(minutes=1), AUTHOR)


@pytest.fixture
def shadows(url, tmp_path):
    (tmp_path / "db").mkdir(exist_ok=True)
    opened = shadows_from_url(url)
    yield opened
    if hasattr(opened, "close"):
        opened.close()


def test_nothing_is_shadowed_at_first(shadows):
    assert shadows.current() is None and shadows.last_run("sha256:aaaaaaaaaaaaaaaa") is None


def test_a_started_run_is_current_and_a_new_one_replaces_it(shadows):
    shadows.start(run())
    assert shadows.current() == run()
    other = run("sha256:cccccccccccccccc", "r2")
    shadows.start(other)
    assert shadows.current() == other and shadows.last_run(run().candidate) == run()


def test_counts_add_up_and_examples_stop_at_the_cap(shadows):
    shadows.start(run())
    for n in range(MAX_EXAMPLES + 3):
        shadows.count("r1", {"compared": 1, "differing": n % 2}, {"n": n})
    counts, examples = shadows.counters("r1")
    assert counts == {"compared": MAX_EXAMPLES + 3, "differing": (MAX_EXAMPLES + 3) // 2}
    assert [e["n"] for e in examples] == list(range(MAX_EXAMPLES))
    assert shadows.counters("unknown") == ({}, [])


def test_a_stopped_run_ends_when_stopped_and_is_no_longer_current(shadows):
    shadows.start(run())
    assert shadows.stop("sha256:cccccccccccccccc", T0) is False
    assert shadows.stop(run().candidate, T0 + timedelta(seconds=10)) is True
    assert shadows.current() is None
    assert shadows.last_run(run().candidate).ends_at == T0 + timedelta(seconds=10)
    assert shadows.stop(run().candidate, T0 + timedelta(seconds=20)) is False


def test_a_restarted_candidate_starts_from_zero(shadows):
    shadows.start(run())
    shadows.count("r1", {"compared": 5}, None)
    shadows.start(run(run_id="r2"))
    assert shadows.counters("r2") == ({}, [])
    assert shadows.last_run(run().candidate).run_id == "r2"


def _count_many(url: str, times: int) -> None:
    opened = shadows_from_url(url)
    for _ in range(times):
        opened.count("r1", {"compared": 1, "channel:email:compared": 1}, {"x": 1})


def test_concurrent_processes_lose_no_count(url, shadows):
    if url == "memory://":
        pytest.skip("memory:// lives in one process")
    shadows.start(run())
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count_many, args=(url, 50)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    counts, examples = shadows.counters("r1")
    assert counts == {"compared": 150, "channel:email:compared": 150}
    assert len(examples) == MAX_EXAMPLES
