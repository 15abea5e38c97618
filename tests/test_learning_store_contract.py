"""The contract every LearningStore keeps (memory, SQLite, Redis, Redis Cluster),
on real throwaway Redis servers; the last test adds from real processes at once."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone

import pytest

from engine.learning.posterior import Counts
from store import learning_from_url

AT = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def counts(url):
    opened = learning_from_url(url)
    yield opened
    opened.close()


def test_added_counts_come_back_summed_per_action_and_segment(counts):
    counts.add("retail:h1", {("a", ""): Counts(1.5, 0.5, 1, 0),
                             ("a", "lifecycle=vip"): Counts(1.5, 0.0, 1, 0)}, AT)
    counts.add("retail:h1", {("a", ""): Counts(2.25, 1.0, 2, 1)}, AT)
    read = counts.read("retail:h1")
    assert read[("a", "")] == Counts(3.75, 1.5, 3, 1)
    assert read[("a", "lifecycle=vip")] == Counts(1.5, 0.0, 1, 0)
    assert counts.read("other:h1") == {}


def test_warm_since_is_set_once_when_the_thresholds_are_reached(counts):
    counts.add("p", {("a", ""): Counts(99.0, 5.0, 99, 5)}, AT)
    assert counts.read("p")[("a", "")].warm_at is None
    counts.add("p", {("a", ""): Counts(1.0, 0.0, 1, 0)}, AT.replace(hour=10))
    counts.add("p", {("a", ""): Counts(1.0, 0.0, 1, 0)}, AT.replace(hour=11))
    assert counts.read("p")[("a", "")].warm_at == AT.replace(hour=10)


def test_segments_with_any_text_round_trip(counts):
    segment = "city=Saint-Étienne {x},tier=none"
    counts.add("p", {("a", segment): Counts(1.0, 1.0, 1, 1)}, AT)
    assert counts.read("p") == {("a", segment): Counts(1.0, 1.0, 1, 1)}


def _add_many(url: str, times: int) -> None:
    store = learning_from_url(url)
    for _ in range(times):
        store.add("race", {("a", ""): Counts(0.5, 0.25, 1, 1)}, AT)
    store.close()


def test_processes_adding_at_once_lose_no_increment(url):
    if url == "memory://":
        pytest.skip("memory:// lives in one process")
    learning_from_url(url).close()  # the schema exists before the processes race
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_many, args=(url, 50)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * 4
    total = learning_from_url(url).read("race")[("a", "")]
    assert (total.exposures, total.successes) == (200, 200)
    assert total.scaled_exposures == pytest.approx(100.0)
