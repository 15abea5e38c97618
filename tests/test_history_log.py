"""The Redis history log's records read back as the entries that were recorded."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.model import HistoryEntry, Outcome
from store.redis import history_log
from store.redis.base import micros

T0 = datetime(2026, 11, 16, 9, 0, 0, 123456, tzinfo=timezone.utc)
EMBEDDED_ID = history_log.decision_id_for("c1", "0123456789abcdef0123456789abcdef")


def _record_with_outcomes(entry: HistoryEntry) -> str:
    line = history_log.record(entry, "c1", micros(entry.at))
    for outcome in entry.outcomes:
        line += "".join((history_log.RS, outcome.outcome, history_log.US,
                         str(micros(outcome.at)), history_log.US,
                         history_log.value_text(outcome.value)))
    return line


@pytest.mark.parametrize("entry", [
    HistoryEntry(EMBEDDED_ID, "promo", "winback", "commercial", "email", T0),
    HistoryEntry("their-own-id", "promo", "winback", "service", "sms", T0, placement="home"),
    HistoryEntry(EMBEDDED_ID, "a%\n", "p\x1f", "custom-kind", "c\x1e", T0,
                 journey_id="j", run_id="r", step_id="s"),
    HistoryEntry(EMBEDDED_ID, "promo", "winback", "relational", "email", T0,
                 outcomes=(Outcome("delivered", T0 + timedelta(seconds=1)),
                           Outcome("converted", T0 + timedelta(hours=2), 12.5))),
    HistoryEntry("d-2", "promo", "winback", "transactional", "email", T0,
                 outcomes=(Outcome("failed", T0 + timedelta(seconds=3)),)),
], ids=["embedded id", "own id and placement", "escaped texts and journey", "outcomes",
        "failed"])
def test_a_record_reads_back_as_the_entry_it_was_written_from(entry):
    found = history_log.parse_record(_record_with_outcomes(entry), "c1")
    assert found == entry
    assert vars(found) == vars(entry)  # ts and failed included, as __post_init__ sets them
    assert (found.ts, found.failed) == (entry.at.timestamp(), entry.failed)


def test_a_log_reads_back_oldest_first_with_equal_times_in_recording_order():
    entries = [HistoryEntry(f"d{n}", f"a{n}", "p", "commercial", "email",
                            T0 - timedelta(hours=n % 3)) for n in range(6)]
    log = "".join("\n" + _record_with_outcomes(e) for e in entries)
    found = history_log.parse_log(log, "c1")
    assert [e.decision_id for e in found] == ["d2", "d5", "d1", "d4", "d0", "d3"]
    assert history_log.parse_log("", "c1") == ()
