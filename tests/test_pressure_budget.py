"""A weighted cross-channel pressure budget: the pack language, the decision with
its reason and eligible_again_at, the generated code and durable-rules against
the closures, and the stores' atomic check on four backends, with real
processes racing for the last points."""
from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest

from engine.decision.decide import decide, decide_with_closures
from engine.durable.backend import DurableBackend
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.model import ContactSnapshot, DecisionRequest, HistoryEntry, Reservation, WindowCheck
from store import store_from_url
from tests.test_store_contract import BACKENDS, PERSISTENT, _backend_id, _flush_redis

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
PACK = """
pack: budget
version: "1"
timezone: UTC
channels:
  email: {consent: opt_out}
  sms: {consent: opt_out}
  call: {consent: opt_out}
actions:
  - {id: offer, program: offers, kind: commercial, channels: [email, sms, call]}
  - {id: receipt, program: receipts, kind: service, channels: [sms],
     when: context.paid == true}
policies:
  pressure:
    - {id: weekly_budget, budget: 10, per: 7d, weights: {call: 5, sms: 3, email: 1}}
"""


def plan():
    return compile_pack(PACK.encode(), "budget.yaml")


def sent(channel: str, days_ago: float, kind: str = "commercial") -> HistoryEntry:
    return HistoryEntry(f"d-{channel}-{days_ago}", "offer", "offers", kind, channel,
                        NOW - timedelta(days=days_ago))


def ask(channel: str, *history: HistoryEntry, **context):
    request = DecisionRequest(contact_id="c1", channel=channel, at=NOW, explain=True,
                              context=context)
    return decide(plan(), ContactSnapshot("c1", history=tuple(history)), request, "d")


def test_a_call_and_an_sms_leave_room_for_an_email_but_not_another_sms():
    history = (sent("call", 6), sent("sms", 2))  # 5 + 3 points this week
    assert [a.action_id for a in ask("email", *history).actions] == ["offer"]  # 9 of 10
    refused = ask("sms", *history)  # 11 of 10
    assert refused.actions == ()
    exclusion = refused.excluded[0]
    assert exclusion.policy == "pressure" and exclusion.rule == "weekly_budget"
    assert "8 of 10 points used" in exclusion.reason and "sms costs 3" in exclusion.reason
    assert exclusion.eligible_again_at == NOW + timedelta(days=1)  # when the call leaves


def test_service_messages_neither_count_nor_are_refused():
    history = (sent("call", 1), sent("call", 2), sent("sms", 3, kind="service"))
    assert [a.action_id for a in ask("sms", *history, paid=True).actions] == ["receipt"]


def test_the_generated_code_and_durable_rules_agree_with_the_closures():
    compiled, durable = plan(), DurableBackend()
    for history in [(), (sent("call", 6),), (sent("call", 6), sent("sms", 2)),
                    (sent("sms", 1), sent("sms", 2), sent("sms", 3)), (sent("call", 8),)]:
        for channel in ("email", "sms", "call"):
            request = DecisionRequest(contact_id="c1", channel=channel, at=NOW)
            snapshot = ContactSnapshot("c1", history=history)
            expected = decide_with_closures(compiled, snapshot, request, "d")
            assert decide(compiled, snapshot, request, "d") == expected
            assert durable.decide(compiled, snapshot, request, "d").actions == expected.actions


def test_a_budget_needs_its_weights_and_known_channels():
    with pytest.raises(InvalidPack) as caught:
        compile_pack(PACK.replace("weights: {call: 5, sms: 3, email: 1}",
                                  "weights: {fax: 2}").encode(), "bad.yaml")
    assert any("unknown channel 'fax'" in p.message for p in caught.value.problems)
    with pytest.raises(InvalidPack) as caught:
        compile_pack(PACK.replace(", weights: {call: 5, sms: 3, email: 1}", "").encode(),
                     "bad.yaml")
    assert any("weights is missing" in p.message for p in caught.value.problems)


# --- the stores' atomic check -----------------------------------------------------------

BUDGET = WindowCheck("weekly_budget", "pressure", NOW - timedelta(days=7), 10,
                     channels=frozenset({"call", "sms", "email"}),
                     weights={"call": 5.0, "sms": 3.0, "email": 1.0})


@pytest.fixture(params=BACKENDS, ids=_backend_id)
def store(request, tmp_path):
    backend = request.param
    _flush_redis(backend, request)
    opened = backend.open(tmp_path, request)
    yield opened
    opened.close()


def test_every_store_weighs_the_budget_atomically(store):
    assert store.reserve(Reservation("c1", (sent("call", 3),), (BUDGET,))).ok
    assert store.reserve(Reservation("c1", (sent("sms", 2),), (BUDGET,))).ok  # 8
    refused = store.reserve(Reservation("c1", (sent("sms", 1),), (BUDGET,)))  # 11
    assert not refused.ok and refused.failed_checks == ("weekly_budget",)
    assert store.reserve(Reservation("c1", (sent("email", 1), sent("email", 0.5)),
                                     (BUDGET,))).ok  # 10
    assert len(store.history("c1")) == 4


def _race(url: str, number: int, start, results) -> None:
    store = store_from_url(url)
    start.wait(timeout=240)
    entry = HistoryEntry(f"race-{number}", "offer", "offers", "commercial", "sms", NOW)
    results.put(store.reserve(Reservation("racer", (entry,), (BUDGET,))).ok)
    store.close()


@pytest.mark.parametrize("backend", PERSISTENT, ids=_backend_id)
def test_processes_racing_for_the_budget_never_exceed_it(backend, tmp_path, request):
    _flush_redis(backend, request)
    url = backend.url(tmp_path, request)
    store_from_url(url).close()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(6), context.Queue()
    children = [context.Process(target=_race, args=(url, n, start, results)) for n in range(6)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=240)
    assert [c.exitcode for c in children] == [0] * 6
    won = [results.get(timeout=10) for _ in children]
    assert won.count(True) == 3  # 3 x 3 points fit in 10; a fourth sms would make 12
    assert len(store_from_url(url).history("racer")) == 3
