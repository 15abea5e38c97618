"""Incremental revenue against a holdout: the computation with figures worked out
by hand, which holdout measures which program, and the tracker's batches per
day, sent again with the same id after a failure."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pytest

from engine.language.compiler import compile_pack
from engine.learning.experiments import CONTROL, TREATMENT
from engine.learning.incremental import (
    ArmPeriod,
    HoldoutBaselines,
    arm_period,
    covering_holdout,
    incremental_revenue,
)
from engine.learning.memory import MemoryExperimentStore
from engine.learning.tracking import ArmDay, ExperimentTracker
from engine.reports.model import ReportData, Tally
from engine.reports.report import ReportRange, program_report

MONDAY, TUESDAY, WEDNESDAY = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)
PACK = """
pack: trial
version: "1"
timezone: Europe/Paris
channels:
  email: {}
actions:
  - {id: receipt, program: receipts, kind: service, channels: [email], priority: 90}
  - {id: promo, program: promotion, kind: commercial, channels: [email], priority: 50}
  - {id: winback, program: reactivation, kind: commercial, channels: [email], priority: 40}
  - {id: tips, program: onboarding, kind: relational, channels: [email], priority: 30}
experiments:
  - id: everyone
    holdout: {share: 0.02}
    goal: {event: order_placed, value: total}
  - id: wide
    holdout: {share: 0.1, programs: [promotion, reactivation]}
    goal: {event: order_placed, value: total}
  - id: promo_only
    holdout: {share: 0.1, programs: [promotion]}
    goal: {event: order_placed, value: total}
"""


def test_the_figure_and_its_interval_worked_out_by_hand():
    # Treatment: 100 contacts, 20 of them ordered 50 once: 10 per contact, sum of
    # squares 20 * 2500. Control: 40 contacts, 4 ordered 50: 5 per contact.
    treatment = ArmPeriod(units=100, goal_events=20, revenue=1000.0, square=50_000.0)
    control = ArmPeriod(units=40, goal_events=4, revenue=200.0, square=10_000.0)
    found = incremental_revenue(treatment, control)
    assert found.revenue == 500.0  # (10 - 5) * 100
    # variances (50000 - 1000**2/100) / 99 = 404.0404 and (10000 - 200**2/40) / 39 = 230.7692;
    # standard error 100 * sqrt(404.0404/100 + 230.7692/40) = 313.2034
    assert found.low == pytest.approx(500 - 1.959964 * 313.2034, abs=1e-3)  # -113.867
    assert found.high == pytest.approx(1113.867, abs=1e-3)
    assert found.reason is None


@pytest.mark.parametrize("control, reason", [
    (ArmPeriod(29, 5, 100.0, 2000.0), "the control group has 29 contacts; at least 30"),
    (ArmPeriod(500, 0, 0.0, 0.0), "no goal event from the control group"),
])
def test_a_control_group_too_small_or_without_orders_gives_no_figure_but_a_reason(control,
                                                                                  reason):
    found = incremental_revenue(ArmPeriod(1000, 50, 5000.0, 600_000.0), control)
    assert found.revenue is None and found.low is None and reason in found.reason


def test_a_period_counts_units_joined_before_its_end_and_revenue_of_its_days_only():
    days = {("treatment", MONDAY): ArmDay(joined=10, goal_events=1, goal_revenue=30.0,
                                          goal_square=900.0),
            ("treatment", TUESDAY): ArmDay(2, 1, 20.0, 1600.0),  # the same contact: 30 then 50
            ("treatment", WEDNESDAY): ArmDay(5, 3, 90.0, 2700.0),
            ("control", TUESDAY): ArmDay(4, 0, 0.0, 0.0)}
    tuesday = arm_period(days, "treatment", TUESDAY, WEDNESDAY)
    assert tuesday == ArmPeriod(units=12, goal_events=1, revenue=20.0, square=1600.0)
    # The contact's revenue of the period is 20 (400 squared); the bound 50**2 - 30**2 is
    # more: the variance is over-estimated, never under.
    assert tuesday.square >= 20.0 ** 2
    assert arm_period(days, "control", MONDAY, TUESDAY) == ArmPeriod()
    assert arm_period(days, "treatment", MONDAY, date(2026, 12, 3)).revenue == 140.0


def test_a_program_is_measured_by_its_narrowest_holdout_else_the_one_covering_all():
    plan = compile_pack(PACK.encode(), "trial.yaml")
    assert covering_holdout(plan, "promotion").id == "promo_only"
    assert covering_holdout(plan, "reactivation").id == "wide"
    assert covering_holdout(plan, "onboarding").id == "everyone"
    assert covering_holdout(plan, "receipts") is None  # service messages are never held out


def _joined(count: int, revenue: float, orders: int) -> ArmDay:
    """``count`` contacts joined, ``orders`` of them ordered ``revenue`` once."""
    return ArmDay(count, orders, revenue * orders, revenue ** 2 * orders)


class DailyCounters:
    """The daily arm counters of a store, as given (the stores' own contract is
    tests/test_experiment_store_contract.py)."""

    def __init__(self, days):
        self.days = days
        self.reads: list[str] = []

    def arm_days(self, experiment_id: str):
        self.reads.append(experiment_id)
        return self.days.get(experiment_id, {})


def test_the_report_gives_each_program_its_holdout_figure_or_the_reason_there_is_none():
    plan = compile_pack(PACK.encode(), "trial.yaml")
    store = DailyCounters({"wide": {(TREATMENT, MONDAY): _joined(100, 50.0, 20),
                                    (CONTROL, MONDAY): _joined(40, 50.0, 4)},
                           "everyone": {(TREATMENT, MONDAY): _joined(300, 10.0, 30),
                                        (CONTROL, MONDAY): _joined(6, 10.0, 1)}})
    tallies = {(MONDAY, program, action, "email"): Tally(5, 0.5, 0.0)
               for program, action in (("reactivation", "winback"), ("onboarding", "tips"),
                                       ("receipts", "receipt"), ("gone", "old"))}
    report = program_report("trial", {}, ReportData(tallies), ReportRange(MONDAY, TUESDAY),
                            HoldoutBaselines(plan, store))
    rows = {p["program"]: p for p in report["programs"]}
    assert (rows["reactivation"]["holdout"], rows["reactivation"]["incremental_revenue"]) == \
        ("wide", 500.0)
    assert rows["reactivation"]["incremental_low"] < 500 < rows["reactivation"]["incremental_high"]
    assert rows["onboarding"]["incremental_revenue"] is None
    assert "6 contacts; at least 30" in rows["onboarding"]["incremental_reason"]
    assert "service or transactional" in rows["receipts"]["incremental_reason"]
    assert "not in the active pack" in rows["gone"]["incremental_reason"]
    assert rows["receipts"]["actions"][0]["incremental_revenue"] is None
    wide = next(h for h in report["holdouts"] if h["experiment"] == "wide")
    assert wide["programs"] == ["reactivation"] and wide["covers"] == ["promotion",
                                                                        "reactivation"]
    assert wide["treatment"] == {"units": 100, "goal_events": 20, "revenue": 1000.0,
                                 "revenue_per_unit": 10.0}
    assert [h["experiment"] for h in report["holdouts"]] == ["everyone", "wide"]
    assert report["totals"]["incremental_revenue"] is None
    assert sorted(store.reads) == ["everyone", "wide"]  # each holdout read once


class FailingOnce(MemoryExperimentStore):
    """Applies the first batch, then raises, as a store whose answer timed out would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def apply(self, batch, at):
        applied = super().apply(batch, at)
        if not self.failed:
            self.failed = True
            raise TimeoutError("the answer was lost")
        return applied


class _Event:
    def __init__(self, contact_id: str, total: float):
        self.type, self.contact_id, self.data = "order_placed", contact_id, {"total": total}


class _Decision:
    def __init__(self, arms):
        self.experiments, self.actions = arms, ()


def test_the_tracker_sends_a_failed_batch_again_counted_once_and_keeps_days_apart():
    plan = compile_pack(PACK.encode(), "trial.yaml")
    clock = [datetime(2026, 11, 30, 22, 30, tzinfo=timezone.utc)]  # 23:30 in Paris
    store = FailingOnce()
    tracker = ExperimentTracker(store, lambda: clock[0], flush_s=3600, refresh_s=3600)
    tracker.decided(plan, "c1", _Decision({"everyone": TREATMENT}), recorded=True)
    tracker.event_ingested(plan, _Event("c1", 30.0))
    clock[0] += timedelta(hours=1)  # 00:30 in Paris: Tuesday
    tracker.event_ingested(plan, _Event("c1", 20.0))
    tracker.flush()  # Monday's batch went through but raised: both are kept
    tracker.flush()
    assert store.arm_days("everyone") == {(TREATMENT, MONDAY): ArmDay(1, 1, 30.0, 900.0),
                                          (TREATMENT, TUESDAY): ArmDay(0, 1, 20.0, 1600.0)}
    assert math.isclose(store.arms("everyone")[TREATMENT].revenue, 30.0)


class Down(MemoryExperimentStore):
    """A store that cannot be reached until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up, self.tries = False, 0

    def apply(self, batch, at):
        self.tries += 1
        if not self.up:
            raise ConnectionError("the store is down")
        return super().apply(batch, at)


def test_an_outage_keeps_a_few_batches_not_one_per_flush_and_loses_nothing():
    plan = compile_pack(PACK.encode(), "trial.yaml")
    clock = [datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)]
    store = Down()
    tracker = ExperimentTracker(store, lambda: clock[0], flush_s=3600, refresh_s=3600)
    for number in range(50):
        tracker.decided(plan, f"c{number}", _Decision({"everyone": TREATMENT}), recorded=True)
        tracker.event_ingested(plan, _Event(f"c{number}", 10.0))
        tracker.flush()
    assert len(tracker._ready) <= 2  # the batch tried first, and one merged for the day
    store.up = True
    tracker.flush()
    assert store.arms("everyone")[TREATMENT].units == 50
    assert store.arm_days("everyone")[(TREATMENT, TUESDAY)] == ArmDay(50, 50, 500.0, 5000.0)
