"""The durable backend gives the compiled backend's decisions: a differential test.

Hypothesis writes small packs (YAML text, through the real loader), contacts
with values of every type, histories with outcomes and requests; both
backends decide, and must return the same actions in the same order with the
same scores, exclude the same candidates for the same policy, and derive the
same facts. Differences found are kept below as named regression tests.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.backends import CompiledBackend
from engine.durable import DurableBackend
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.memory import MemoryStore
from engine.model import ContactRecord, DecisionRequest, HistoryEntry, OutcomeReport, Reservation
from tests.conftest import at

NOW = at("2026-11-23T10:00:00Z")
CHANNELS = {
    "email": {"cost": 0.002},
    "sms": {"cost": 0.05, "quiet_hours": "21:00-08:00"},
    "call": {"cost": 3.5, "consent": "opt_out", "capacity_per_day": 2,
             "quiet_hours": "12:00-14:00"},
    "web": {"cost": 0, "inbound": True},
}
ATTRS = ("contact.a", "contact.b", "contact.s", "contact.flag", "contact.tags",
         "contact.nested.x", "contact.missing", "context.x")
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0, 1e-05, 1e16]),
    st.sampled_from(["", "a", "b", "ab", "3", "1", "true", "é", "Z"]),
    st.lists(st.sampled_from(["a", "b", 1]), max_size=2),
)
LITERALS = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 2.0, 1e-05]),
                     st.sampled_from(['"a"', '"b"', '""', '"3"', "true", "false", "null"]))
OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def _operands(facts: list[str]) -> st.SearchStrategy[str]:
    paths = list(ATTRS) + [f"facts.{f}" for f in facts]
    return st.one_of(
        st.sampled_from(paths),
        st.sampled_from(["days_since(contact.d)", "coalesce(contact.a, 0)", "len(contact.s)",
                         "contact.a + 1", "contact.b * 2", "lower(contact.s)",
                         'history.count(channel="email", within="7d")',
                         'history.count(action="a0")']),
    )


def _leaf(facts: list[str]) -> st.SearchStrategy[str]:
    operand = _operands(facts)
    return st.one_of(
        st.builds(lambda o, op, lit: f"{o} {op} {lit}", operand, OPS, LITERALS),
        st.builds(lambda lit, op, o: f"{lit} {op} {o}", LITERALS, OPS, operand),
        st.builds(lambda a, op, b: f"{a} {op} {b}", operand, OPS, operand),
        operand,
        st.builds(lambda o, neg: f"{o} {'not in' if neg else 'in'} [\"a\", \"b\", \"3\"]",
                  operand, st.booleans()),
        st.builds(lambda o, item: f"{item} in {o}", operand, st.sampled_from(["1", '"a"'])),
        st.builds(lambda o: f"-1 <= {o} < 2", operand),
    )


def _condition(facts: list[str]) -> st.SearchStrategy[str]:
    return st.recursive(
        _leaf(facts),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
            st.builds(lambda a: f"not ({a})", inner),
        ),
        max_leaves=4,
    )


@st.composite
def packs(draw) -> str:
    facts: list[str] = []
    fact_rules = []
    for index in range(draw(st.integers(0, 3))):
        name = f"f{index}"
        fact_rules.append({"id": f"rule{index}", "when": draw(_condition(facts)),
                           "set": {name: draw(st.sampled_from([True, "x", 2, 0]))}})
        facts.append(name)
    actions = []
    for index in range(draw(st.integers(1, 5))):
        action = {
            "id": f"a{index}", "program": draw(st.sampled_from(["p1", "p2"])),
            "kind": draw(st.sampled_from(["commercial", "relational", "service",
                                          "transactional"])),
            "channels": draw(st.lists(st.sampled_from(list(CHANNELS)), min_size=1, max_size=3,
                                      unique=True)),
            "priority": draw(st.integers(0, 100)), "value": draw(st.integers(0, 50)),
            "propensity": draw(st.one_of(st.sampled_from([0.1, 0.5, 1]),
                                         st.just("coalesce(contact.a, 0.2)"))),
        }
        if draw(st.booleans()):
            action["when"] = draw(_condition(facts))
        if draw(st.integers(0, 3)) == 0:
            action["repeat"] = {"max": draw(st.integers(1, 2)), "within": "7d"}
        if draw(st.integers(0, 3)) == 0:
            action["group"] = "g"
        if draw(st.integers(0, 3)) == 0:
            action["placements"] = ["home", "cart"]
        if draw(st.integers(0, 4)) == 0:
            action["valid"] = draw(st.sampled_from([{"from": "2026-11-20"},
                                                    {"until": "2026-11-22"}]))
        if draw(st.integers(0, 4)) == 0:
            action["respect_opt_out"] = True
        actions.append(action)
    policies = {
        "pressure": draw(st.lists(st.sampled_from([
            {"id": "weekly", "kinds": ["commercial"], "max": 2, "per": "7d"},
            {"id": "gap", "channels": ["email", "sms"], "min_gap": "24h"},
            {"id": "p1_daily", "programs": ["p1"], "max": 1, "per": "1d", "calendar": True},
        ]), unique_by=lambda r: r["id"], max_size=3)),
        "suppress": draw(st.lists(st.sampled_from([
            {"id": "refused", "after": "rejected", "same_action_for": "30d"},
            {"id": "complained", "after": "complained", "kinds": ["commercial"], "for": "90d"},
        ]), unique_by=lambda r: r["id"], max_size=2)),
        "arbitration": "propensity * value * priority / 100 - cost",
    }
    doc = {"pack": "generated", "version": "1", "timezone": "Europe/Paris",
           "channels": CHANNELS, "facts": fact_rules, "actions": actions, "policies": policies}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def situations(draw, action_ids: list[str]):
    profile = {name.split(".")[1]: draw(VALUES) for name in ATTRS
               if name.startswith("contact.") and name != "contact.missing" and draw(st.booleans())}
    if draw(st.booleans()):
        profile["nested"] = {"x": draw(VALUES)}
    if draw(st.booleans()):
        profile["d"] = draw(st.sampled_from(["2026-11-01", "2026-06-01", "garbage", 5]))
    consents = draw(st.dictionaries(st.sampled_from(list(CHANNELS)), st.booleans()))
    history = draw(st.lists(st.tuples(
        st.sampled_from(action_ids), st.sampled_from(["email", "sms", "call"]),
        st.integers(1, 24 * 40), st.lists(st.sampled_from(["rejected", "complained", "failed",
                                                           "opened"]), max_size=1)),
        max_size=5))
    request = {
        "channel": draw(st.sampled_from(list(CHANNELS))),
        "placement": draw(st.sampled_from([None, "home", "cart", "other"])),
        "context": {"x": draw(VALUES)} if draw(st.booleans()) else {},
        "limit": draw(st.integers(1, 3)),
        "hours": draw(st.integers(0, 23)),
        "full": draw(st.booleans()),
    }
    return profile, consents, history, request


def _snapshot(plan, profile, consents, history):
    store = MemoryStore()
    store.put_contact(ContactRecord("c1", profile, consents))
    for number, (action_id, channel, hours_ago, outcomes) in enumerate(history):
        action = plan.action(action_id)
        when = NOW - timedelta(hours=hours_ago)
        entry = HistoryEntry(f"h{number}", action.id, action.program, action.kind, channel, when)
        store.reserve(Reservation("c1", (entry,)))
        for outcome in outcomes:
            store.record_outcome(OutcomeReport(f"h{number}", action.id, outcome,
                                               when + timedelta(minutes=1)))
    return store.load("c1")


def _summary(decision):
    return {
        "actions": [(a.action_id, a.score) for a in decision.actions],
        "excluded": [(e.action_id, e.policy, e.rule) for e in decision.excluded],
        "facts": decision.facts, "fired": decision.fired,
        "reservation": decision.reservation,
    }


DURABLE = DurableBackend()
COMPILED = CompiledBackend()


def assert_same_decision(pack_text: str, profile, consents, history, request) -> None:
    """Both backends decide the same situation; their answers must be equal."""
    plan = compile_pack(pack_text.encode(), "generated.yaml")
    snapshot = _snapshot(plan, profile, consents, history)
    decision_request = DecisionRequest(
        contact_id="c1", channel=request["channel"],
        at=NOW + timedelta(hours=request["hours"]), placement=request["placement"],
        context=request["context"], limit=request["limit"], explain=True)
    full = frozenset({request["channel"]}) if request["full"] else frozenset()
    expected = COMPILED.decide(plan, snapshot, decision_request, "d1", full)
    got = DURABLE.decide(plan, snapshot, decision_request, "d1", full)
    assert _summary(got) == _summary(expected)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_both_backends_decide_alike_on_generated_packs(data):
    text = data.draw(packs(), label="pack")
    try:
        plan = compile_pack(text.encode(), "generated.yaml")
    except InvalidPack:
        return  # the generator can write packs the loader refuses (e.g. facts.f0 unset)
    profile, consents, history, request = data.draw(situations([a.id for a in plan.actions]))
    assert_same_decision(text, profile, consents, history, request)


# --- differences found, kept as regression tests ---------------------------------

REGRESSION_PACK = """
pack: regression
version: "1"
timezone: Europe/Paris
channels:
  email: {{cost: 0}}
actions:
  - id: a0
    program: p
    kind: service
    channels: [email]
    when: {when}
"""


@pytest.mark.parametrize("when, profile", [
    pytest.param("contact.a == 5", {"a": "5"}, id="a text is not equal to a number"),
    pytest.param("contact.a == true", {"a": 1}, id="one is not true"),
    pytest.param('contact.a < "5"', {"a": 3}, id="numbers and texts are not ordered"),
    pytest.param("contact.a != 5", {}, id="a missing value differs from five"),
    pytest.param("contact.a > contact.b", {"a": 2}, id="no comparison with a missing value"),
    pytest.param("contact.a == contact.b", {"a": 1}, id="one is not equal to missing"),
    pytest.param("contact.a > 0.00001", {"a": 1e-06}, id="floats in exponent notation"),
    pytest.param("contact.a >= 10000000000000000.0", {"a": 1e16}, id="large floats"),
    pytest.param("not contact.a", {"a": ""}, id="an empty text is false"),
    pytest.param("contact.a", {"a": [1]}, id="a non-empty list is true"),
    pytest.param('contact.a not in ["x"]', {"a": 1}, id="not in holds only for texts"),
    # An always-true part became an empty "$and", on which durable-rules loops forever.
    pytest.param("not (null >= contact.s)", {}, id="a condition true whatever the contact"),
    pytest.param("contact.a or not (null >= contact.s)", {"a": 0}, id="an always-true branch"),
])
def test_loose_typing_of_durable_rules_does_not_leak(when, profile):
    assert_same_decision(REGRESSION_PACK.format(when=yaml.safe_dump(when).split("\n")[0]),
                         profile, {}, [], {"channel": "email", "placement": None,
                                           "context": {}, "limit": 1, "hours": 0,
                                           "full": False})
