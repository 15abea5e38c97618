"""Rolling and calendar windows, in the pack's or the contact's timezone."""
from __future__ import annotations

from datetime import timedelta

from engine.plan import PressureRule
from engine.timeutil import zone
from tests.conftest import at

PARIS = zone("Europe/Paris")


def rule(**fields) -> PressureRule:
    return PressureRule(id="r", kinds=frozenset({"commercial"}), **fields)


def test_a_rolling_window_starts_exactly_one_period_before_the_decision():
    weekly = rule(max=3, per=timedelta(days=7))
    assert weekly.window_start(at("2026-11-22T10:00:00Z"), PARIS) == at("2026-11-15T10:00:00Z")
    assert weekly.expires_at(at("2026-11-16T08:00:00Z"), PARIS) == at("2026-11-23T08:00:00Z")


def test_a_calendar_day_window_starts_at_local_midnight():
    daily = rule(max=1, per=timedelta(days=1), calendar="days")
    # 00:30 in Paris on the 22nd is 23:30 UTC on the 21st
    assert daily.window_start(at("2026-11-21T23:30:00Z"), PARIS) == at("2026-11-21T23:00:00Z")
    assert daily.expires_at(at("2026-11-22T09:00:00Z"), PARIS) == at("2026-11-22T23:00:00Z")


def test_a_calendar_week_window_starts_on_monday_in_local_time():
    weekly = rule(max=2, per=timedelta(weeks=1), calendar="weeks")
    sunday = at("2026-11-22T10:00:00Z")
    assert weekly.window_start(sunday, PARIS) == at("2026-11-15T23:00:00Z")  # Monday 16th, 00:00
    assert weekly.expires_at(sunday, PARIS) == at("2026-11-22T23:00:00Z")


def test_several_calendar_days_include_today_and_the_days_before():
    three_days = rule(max=2, per=timedelta(days=3), calendar="days")
    assert three_days.window_start(at("2026-11-22T10:00:00Z"), PARIS) == at("2026-11-19T23:00:00Z")


def test_calendar_days_follow_daylight_saving_changes():
    daily = rule(max=1, per=timedelta(days=1), calendar="days")
    # Paris moves to summer time on 2026-03-29: midnight is 23:00 UTC before, 22:00 after
    assert daily.window_start(at("2026-03-29T12:00:00Z"), PARIS) == at("2026-03-28T23:00:00Z")
    assert daily.window_start(at("2026-03-30T12:00:00Z"), PARIS) == at("2026-03-29T22:00:00Z")


def test_a_minimum_gap_is_a_window_of_one():
    gap = rule(min_gap=timedelta(hours=24))
    assert gap.limit == 1
    assert gap.window_start(at("2026-11-22T10:00:00Z"), PARIS) == at("2026-11-21T10:00:00Z")
