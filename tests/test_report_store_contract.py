"""The contract every ReportStore keeps (memory, SQLite, Redis, Redis Cluster),
on real throwaway Redis servers; the last test adds from real processes at once."""
from __future__ import annotations

import multiprocessing
import uuid
from datetime import date

import pytest

from engine.reports.model import Tally
from store import reports_from_url

D1, D2, D3 = date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)


@pytest.fixture
def reports(url):
    opened = reports_from_url(url)
    yield opened
    opened.close()


def about(counted: int, expected: int, read) -> bool:
    """Exact on memory and SQLite; within 3 % (almost 4 standard errors of a
    HyperLogLog) on Redis."""
    if read.contacts_method == "exact":
        return counted == expected
    return abs(counted - expected) <= 0.03 * expected


def batch() -> str:
    return uuid.uuid4().hex


def test_added_counters_come_back_summed_per_day_and_row(reports):
    row = (D1, "winback", "winback_call", "call")
    reports.add("retail", batch(), {row: Tally(2, 7.0, 0.0, {"rejected": 1})}, {})
    reports.add("retail", batch(), {row: Tally(1, 3.5, 120.5, {"converted": 1}),
                                    (D2, "winback", "winback_call", "call"): Tally(1, 3.5)}, {})
    read = reports.read("retail", D1, D3)
    assert read.tallies[row] == Tally(3, 10.5, 120.5, {"rejected": 1, "converted": 1})
    assert read.tallies[(D2, "winback", "winback_call", "call")] == Tally(1, 3.5)
    assert reports.read("bank", D1, D3).tallies == {}


def test_the_range_includes_its_first_day_and_excludes_its_last(reports):
    for day in (D1, D2, D3):
        reports.add("p", batch(), {(day, "prog", "a", "email"): Tally(1, 0.002)}, {})
    assert sorted(k[0] for k in reports.read("p", D2, D3).tallies) == [D2]
    assert reports.read("p", D2, D2).tallies == {}


def test_a_batch_applied_twice_counts_once(reports):
    once = batch()
    row = (D1, "prog", "a", "sms")
    assert reports.add("p", once, {row: Tally(1, 0.05)}, {row: frozenset({"c1"})}) is True
    assert reports.add("p", once, {row: Tally(1, 0.05)}, {row: frozenset({"c1"})}) is False
    assert reports.read("p", D1, D2).tallies[row] == Tally(1, 0.05)


def test_distinct_contacts_count_a_contact_once_over_days_and_actions(reports):
    email = (D1, "cart", "cart_email", "email")
    email_again = (D2, "cart", "cart_email", "email")
    sms = (D2, "cart", "cart_sms", "sms")
    reports.add("p", batch(), {email: Tally(3), email_again: Tally(2), sms: Tally(1)},
                {email: frozenset({"c1", "c2", "c3"}), email_again: frozenset({"c1", "c4"}),
                 sms: frozenset({"c2"})})
    read = reports.read("p", D1, D3)
    assert read.contacts[("cart", "cart_email", "email")] == 4
    assert read.contacts[("cart", "cart_sms", "sms")] == 1
    assert read.program_contacts == {"cart": 4}
    assert reports.read("p", D2, D3).contacts[("cart", "cart_email", "email")] == 2


def test_many_contacts_in_one_batch_are_counted(reports):
    row = (D1, "prog", "a", "email")
    ids = frozenset(f"contact-{n}" for n in range(2000))
    reports.add("p", batch(), {row: Tally(2000, 4.0)}, {row: ids})
    read = reports.read("p", D1, D2)
    assert read.tallies[row].messages == 2000
    assert about(read.contacts[("prog", "a", "email")], 2000, read)


def _add_many(url: str, times: int) -> None:
    store = reports_from_url(url)
    row = (D1, "race", "a", "email")
    for number in range(times):
        store.add("race", uuid.uuid4().hex,
                  {row: Tally(1, 0.25, 2.0, {"converted": 1})}, {row: frozenset({f"c{number}"})})
    store.close()


def test_processes_adding_at_once_lose_no_increment(url):
    if url == "memory://":
        pytest.skip("memory:// lives in one process")
    reports_from_url(url).close()  # the schema exists before the processes race
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_many, args=(url, 50)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * 4
    read = reports_from_url(url).read("race", D1, D2)
    total = read.tallies[(D1, "race", "a", "email")]
    assert (total.messages, total.outcomes) == (200, {"converted": 200})
    assert (total.cost, total.revenue) == (pytest.approx(50.0), pytest.approx(400.0))
    assert read.contacts[("race", "a", "email")] == 50  # the same 50 ids in every process


def test_a_range_with_more_rows_than_one_call_can_take_is_counted(reports):
    # 1,200 (day, action) rows of one program: the union is over more keys than Lua
    # unpacks at once (Redis merges them in chunks).
    days = [date(2026, 1, 1) + (D2 - D1) * n for n in range(300)]
    increments, contacts = {}, {}
    for index, day in enumerate(days):
        for action in ("a", "b", "c", "d"):
            row = (day, "prog", action, "email")
            increments[row] = Tally(1)
            contacts[row] = frozenset({f"c{index % 150}"})
    reports.add("p", batch(), increments, contacts)
    read = reports.read("p", days[0], days[-1] + (D2 - D1))
    assert about(read.program_contacts["prog"], 150, read)
    assert about(read.contacts[("prog", "a", "email")], 150, read)
