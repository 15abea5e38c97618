"""The contract every ExperimentStore keeps (memory, SQLite, Redis, Redis Cluster),
on real throwaway Redis servers; the last test applies batches from real processes."""
from __future__ import annotations

import multiprocessing
from datetime import date, datetime, timezone

import pytest

from engine.learning.tracking import ArmCounts, ArmDay, ExperimentBatch
from store import experiments_from_url

AT = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def members(url):
    opened = experiments_from_url(url)
    yield opened
    opened.close()


def test_a_unit_joins_once_and_keeps_its_first_arm(members):
    members.apply(ExperimentBatch(exposures=[("x", "c1", "a"), ("x", "c2", "b"),
                                             ("x", "c1", "b")]), AT)
    members.apply(ExperimentBatch(exposures=[("x", "c1", "b")]), AT)
    assert members.arms("x") == {"a": ArmCounts(1), "b": ArmCounts(1)}
    assert members.arm_of("x", "c1") == "a" and members.arm_of("x", "nobody") is None
    assert members.arms("other") == {}


def test_a_member_converts_once_with_its_revenue_and_strangers_do_not(members):
    members.apply(ExperimentBatch(exposures=[("x", "c1", "a")]), AT)
    members.apply(ExperimentBatch(conversions=[("x", "c1", None, 30.0), ("x", "c1", None, 99.0),
                                               ("x", "stranger", None, 10.0)]), AT)
    assert members.arms("x") == {"a": ArmCounts(1, 1, 30.0)}


def test_a_conversion_with_an_arm_joins_first(members):
    members.apply(ExperimentBatch(conversions=[("split", "run-1", "one_day", 0.0)]), AT)
    assert members.arms("split") == {"one_day": ArmCounts(1, 1, 0.0)}


def test_churn_counts_for_members_only(members):
    members.apply(ExperimentBatch(exposures=[("x", "c1", "b")],
                                  churn=[("x", "c1", "unsubscribed"), ("x", "c1", "complained"),
                                         ("x", "stranger", "unsubscribed")]), AT)
    assert members.arms("x") == {"b": ArmCounts(1, 0, 0.0, 1, 1)}


def test_every_goal_event_of_a_member_counts_on_its_day_with_the_growth_of_its_square(members):
    monday, tuesday = date(2026, 11, 30), date(2026, 12, 1)
    members.apply(ExperimentBatch(exposures=[("x", "c1", "a"), ("x", "c2", "a"),
                                             ("x", "c3", "b")], day=monday), AT)
    members.apply(ExperimentBatch(conversions=[("x", "c1", None, 30.0), ("x", "c3", None, 5.0),
                                               ("x", "stranger", None, 99.0)], day=monday), AT)
    members.apply(ExperimentBatch(conversions=[("x", "c1", None, 20.0)], day=tuesday), AT)
    assert members.arm_days("x") == {
        ("a", monday): ArmDay(joined=2, goal_events=1, goal_revenue=30.0, goal_square=900.0),
        ("b", monday): ArmDay(1, 1, 5.0, 25.0),
        # c1 went from 30 to 50: its square grew by 2500 - 900
        ("a", tuesday): ArmDay(0, 1, 20.0, 1600.0)}
    # the first conversion alone counts as the arm's conversion and revenue
    assert members.arms("x")["a"] == ArmCounts(2, 1, 30.0)
    assert members.arm_days("other") == {}


def test_a_batch_is_applied_once_by_its_id_and_without_a_day_counts_on_the_utc_date(members):
    batch = ExperimentBatch(exposures=[("x", "c1", "a")], conversions=[("x", "c1", None, 8.0)],
                            churn=[("x", "c1", "unsubscribed")])
    assert members.apply(batch, AT) is True
    assert members.apply(batch, AT) is False  # a retry after a timeout
    assert members.arms("x") == {"a": ArmCounts(1, 1, 8.0, 1, 0)}
    assert members.arm_days("x") == {("a", AT.date()): ArmDay(1, 1, 8.0, 64.0)}


def test_units_with_any_text_round_trip(members):
    unit = "contact {with} %braces\x1fand separators"
    members.apply(ExperimentBatch(exposures=[("x", unit, "a")]), AT)
    assert members.arm_of("x", unit) == "a"


def _join_many(url: str, start: int) -> None:
    store = experiments_from_url(url)
    for number in range(60):  # overlapping units: each joins once whoever sends it
        unit = f"c{(start + number) % 100}"
        store.apply(ExperimentBatch(exposures=[("race", unit, "a")],
                                    conversions=[("race", unit, None, 1.0)]), AT)
    store.close()


def test_processes_applying_at_once_count_each_unit_once(url):
    if url == "memory://":
        pytest.skip("memory:// lives in one process")
    experiments_from_url(url).close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_join_many, args=(url, n * 20)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * 4
    # starts 0, 20, 40, 60 with 60 units each cover c0..c99 with overlaps: 100 units
    assert experiments_from_url(url).arms("race") == {"a": ArmCounts(100, 100, 100.0)}
