"""The ROI report's arithmetic (expected values computed by hand) and the
recorder that turns recorded decisions and outcomes into batched counters."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from engine.errors import StoreUnavailable
from engine.language.compiler import load_pack
from engine.model import DecisionRequest, HistoryEntry, OutcomeRecorded, OutcomeReport
from engine.reports.memory import MemoryReportStore
from engine.reports.model import ReportData, Tally
from engine.reports.recorder import ReportRecorder
from engine.reports.report import (
    InvalidRange,
    default_range,
    program_report,
    report_range,
)
from tests.conftest import ROOT

COSTS = {"unsubscribed": 40.0, "complained": 60.0}
SUNDAY, MONDAY = date(2026, 12, 6), date(2026, 12, 7)
RETAIL = load_pack(ROOT / "rules" / "retail.yaml")


def sample() -> ReportData:
    return ReportData(tallies={
        (SUNDAY, "winback", "winback_call", "call"):
            Tally(10, 35.0, 300.0, {"converted": 2, "unsubscribed": 1, "rejected": 4}),
        (MONDAY, "winback", "winback_email", "email"):
            Tally(1000, 2.0, 150.0, {"converted": 3, "unsubscribed": 2, "complained": 1}),
        (SUNDAY, "cart", "cart_email", "email"): Tally(500, 1.0),
        (MONDAY, "cross_sell", "cross_sell_block", "web"): Tally(100, 0.0, 20.0,
                                                                {"converted": 1}),
    }, contacts={("winback", "winback_call", "call"): 10}, program_contacts={"winback": 900})


def report() -> dict:
    return program_report("retail", COSTS, sample(),
                          report_range(date(2026, 12, 1), date(2026, 12, 15)))


def program(name: str) -> dict:
    return next(p for p in report()["programs"] if p["program"] == name)


def test_a_program_sums_its_actions_and_values_churn_at_the_pack_costs():
    winback = program("winback")
    assert (winback["messages"], winback["contacts"], winback["cost"]) == (1010, 900, 37.0)
    assert (winback["conversions"], winback["revenue"]) == (5, 450.0)
    assert (winback["unsubscriptions"], winback["complaints"]) == (3, 1)
    assert winback["churn_cost"] == 3 * 40 + 60  # 180
    assert winback["net_value"] == 450 - 37 - 180  # 233
    assert winback["roi"] == pytest.approx(233 / 37, abs=1e-6)
    assert winback["incremental_revenue"] is None


def test_each_action_and_channel_has_its_own_figures():
    call, email = program("winback")["actions"]
    assert (call["action"], call["channel"], call["contacts"]) == ("winback_call", "call", 10)
    assert (call["churn_cost"], call["net_value"]) == (40.0, 300 - 35 - 40)
    assert call["roi"] == pytest.approx(225 / 35, abs=1e-6)
    assert (email["churn_cost"], email["net_value"], email["roi"]) == (140.0, 8.0, 4.0)
    assert email["contacts"] is None  # not read: not made up


def test_roi_is_null_when_nothing_was_spent_and_negative_when_nothing_came_back():
    assert program("cross_sell")["roi"] is None and program("cross_sell")["net_value"] == 20.0
    assert (program("cart")["net_value"], program("cart")["roi"]) == (-1.0, -1.0)


def test_totals_cover_every_program():
    totals = report()["totals"]
    assert (totals["messages"], totals["cost"], totals["revenue"]) == (1610, 38.0, 470.0)
    assert totals["net_value"] == 470 - 38 - 180
    assert totals["roi"] == pytest.approx(252 / 38, abs=1e-6)


def test_net_value_per_week_starts_on_monday_and_lists_every_week_of_the_range():
    weeks = [(w["week"], w["net_value"]) for w in report()["weeks"] if w["program"] == "winback"]
    assert weeks == [("2026-11-30", 225.0), ("2026-12-07", 8.0), ("2026-12-14", 0.0)]


def test_without_costs_churn_costs_nothing():
    bare = program_report("retail", {}, sample(), report_range(SUNDAY, MONDAY))
    winback = next(p for p in bare["programs"] if p["program"] == "winback")
    assert (winback["churn_cost"], winback["net_value"]) == (0.0, 450 - 37)


def test_ranges_are_checked():
    with pytest.raises(InvalidRange, match="after"):
        report_range(MONDAY, SUNDAY)
    with pytest.raises(InvalidRange, match="at most 400 days"):
        report_range(date(2025, 1, 1), date(2026, 3, 1))
    assert report_range(SUNDAY, SUNDAY).start == SUNDAY  # empty, not wrong
    period = default_range(MONDAY)
    assert (period.start, period.end) == (date(2026, 11, 10), date(2026, 12, 8))


# --- the recorder --------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def entry(action: str = "winback_call", channel: str = "call",
          at: datetime = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)) -> HistoryEntry:
    action_plan = RETAIL.action(action)
    return HistoryEntry("d1", action, action_plan.program, action_plan.kind, channel, at)


def sent(recorder: ReportRecorder, *entries: HistoryEntry, contact: str = "c1") -> None:
    request = DecisionRequest(contact, entries[0].channel, entries[0].at)
    recorder.decision_recorded(RETAIL, request, entries)


def answered(recorder: ReportRecorder, outcome: str, value: float | None = None,
             sent_entry: HistoryEntry | None = None) -> None:
    sent_entry = sent_entry or entry()
    report = OutcomeReport("d1", sent_entry.action_id, outcome, sent_entry.at, value)
    recorder.outcome_recorded(RETAIL, OutcomeRecorded("c1", sent_entry, False), report)


def read(store, start=date(2026, 12, 1), end=date(2026, 12, 31)) -> ReportData:
    return store.read("retail", start, end)


def test_counts_stay_in_the_process_until_the_flush_interval_has_passed():
    store, clock = MemoryReportStore(), Clock()
    recorder = ReportRecorder(store, flush_s=5, monotonic=clock)
    sent(recorder, entry())
    answered(recorder, "converted", 120.0)
    assert read(store).tallies == {}
    assert sum(t.messages for t in recorder.pending("retail").values()) == 1
    clock.now = 5.0
    sent(recorder, entry(), contact="c2")
    key = (date(2026, 12, 7), "reactivation", "winback_call", "call")
    assert read(store).tallies[key] == Tally(2, 7.0, 120.0, {"converted": 1})
    assert read(store).contacts[("reactivation", "winback_call", "call")] == 2
    assert recorder.pending("retail") == {}


def test_flush_if_due_applies_what_an_idle_process_holds():
    store, clock = MemoryReportStore(), Clock()
    recorder = ReportRecorder(store, flush_s=1, monotonic=clock)
    sent(recorder, entry())
    recorder.flush_if_due()
    assert read(store).tallies == {}
    clock.now = 1.0
    recorder.flush_if_due()
    assert sum(t.messages for t in read(store).tallies.values()) == 1


def test_a_message_costs_its_channel_cost_and_only_conversions_bring_revenue():
    store = MemoryReportStore()
    recorder = ReportRecorder(store, flush_s=0)
    sent(recorder, entry())
    answered(recorder, "accepted", 999.0)  # a value on another outcome is not revenue
    answered(recorder, "converted")  # a conversion without a value counts, for 0
    answered(recorder, "unsubscribed")
    tally = read(store).tallies[(date(2026, 12, 7), "reactivation", "winback_call", "call")]
    assert (tally.messages, tally.cost, tally.revenue) == (1, 3.5, 0.0)
    assert tally.outcomes == {"accepted": 1, "converted": 1, "unsubscribed": 1}


def test_a_message_counts_on_its_day_in_the_pack_timezone():
    store = MemoryReportStore()
    recorder = ReportRecorder(store, flush_s=0)
    late = entry(at=datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc))  # 00:30 in Paris
    sent(recorder, late)
    answered(recorder, "converted", 50.0, late)  # on the day of the message it follows
    assert list(read(store).tallies) == [(date(2026, 12, 7), "reactivation", "winback_call", "call")]


class FailingFirst:
    """A real memory store behind a link that fails: the first ``failures`` calls
    raise, after applying the batch when ``applied`` (a timeout whose write went
    through)."""

    def __init__(self, failures: int, applied: bool) -> None:
        self.inner, self.failures, self.applied = MemoryReportStore(), failures, applied

    def add(self, pack, batch_id, increments, contacts):
        if self.failures:
            self.failures -= 1
            if self.applied:
                self.inner.add(pack, batch_id, increments, contacts)
            raise StoreUnavailable("redis store unavailable (reports_add): timeout")
        return self.inner.add(pack, batch_id, increments, contacts)

    def read(self, pack, start, end):
        return self.inner.read(pack, start, end)


@pytest.mark.parametrize("applied", [False, True], ids=["lost", "applied_then_timed_out"])
def test_a_batch_the_store_refused_is_sent_again_and_counted_once(applied):
    store = FailingFirst(failures=2, applied=applied)
    recorder = ReportRecorder(store, flush_s=0)
    sent(recorder, entry())  # refused
    sent(recorder, entry(), contact="c2")  # the first is retried first: refused again
    assert sum(t.messages for t in recorder.pending("retail").values()) == 2
    sent(recorder, entry(), contact="c3")
    assert recorder.pending("retail") == {}
    total = read(store).tallies[(date(2026, 12, 7), "reactivation", "winback_call", "call")]
    assert total.messages == 3
