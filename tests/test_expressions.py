from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.decision.history import HistoryView
from engine.errors import ExpressionSyntaxError
from engine.language.expressions import compile_expression
from engine.language.vocabulary import Scope
from engine.model import HistoryEntry, Outcome

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def entry(action: str, channel: str, day: int, *outcomes: str) -> HistoryEntry:
    at = datetime(2026, 11, day, 9, 0, tzinfo=timezone.utc)
    return HistoryEntry("d", action, "promotion", "commercial", channel, at,
                        outcomes=tuple(Outcome(o, at) for o in outcomes))


def evaluate(source: str, contact=None, facts=None, history=(), names=()):
    scope = Scope(contact or {}, {"page": "home"}, facts or {}, HistoryView(history, NOW), NOW,
                  timezone.utc)
    return compile_expression(source, names).evaluate(scope)


@pytest.mark.parametrize("source, expected", [
    ("contact.total_spend >= 1000", True),
    ("contact.total_spend > 5000", False),
    ('contact.segment == "gold"', True),
    ('contact.segment in ["gold", "silver"]', True),
    ('contact.segment not in ["gold"]', False),
    ("contact.scores.appetence * 100 == 25", True),
    ("1 < contact.total_spend < 3000", True),
    ("not contact.cart_recovered", True),
    ('context.page == "home" and contact.total_spend > 0', True),
    ("days_since(contact.last_order_at) > 90", True),
    ("days_to_anniversary(contact.birthday)", 3),
    ("len(contact.segment)", 4),
    ('lower("ABC") == "abc"', True),
    ("coalesce(contact.missing, 7)", 7),
    ("max(1, 5, 3)", 5),
])
def test_expressions_compute_what_rule_authors_expect(source, expected):
    contact = {"total_spend": 2400, "segment": "gold", "scores": {"appetence": 0.25},
               "cart_recovered": False, "last_order_at": "2026-06-01",
               "birthday": "1990-11-25"}
    assert evaluate(source, contact) == expected


@pytest.mark.parametrize("source", [
    'contact.age == "30"', "contact.flag == 1", 'contact.age < "40"', "contact.missing > 1",
    "contact.missing < 1", "contact.age + contact.missing > 0",
])
def test_no_silent_coercion_and_missing_values_make_comparisons_false(source):
    assert evaluate(source, {"age": 30, "flag": True}) is False


def test_a_missing_attribute_equals_null():
    assert evaluate("contact.missing == null", {}) is True
    assert evaluate("contact.present != null", {"present": 0}) is True


def test_history_functions_count_recent_entries_and_skip_failed_deliveries():
    history = (entry("promo", "email", 10), entry("promo", "email", 20),
               entry("promo", "email", 21, "failed"), entry("promo", "sms", 21, "rejected"))
    assert evaluate('history.count(channel="email")', history=history) == 2
    assert evaluate('history.count(channel="email", within="7d")', history=history) == 1
    assert evaluate('history.count(outcome="rejected")', history=history) == 1
    last = evaluate('history.last(channel="sms")', history=history)
    assert last == datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
    assert evaluate('history.last(channel="push")', history=history) is None


def test_arbitration_names_are_only_known_where_declared():
    assert evaluate("propensity * value", names=("propensity", "value")) is None
    with pytest.raises(ExpressionSyntaxError, match="unknown name 'propensity'"):
        compile_expression("propensity * 2")


@pytest.mark.parametrize("source, message", [
    ('__import__("os").system("true")', "unknown function"),
    ("contact.__class__", "underscore"),
    ('open("/etc/passwd")', "unknown function"),
    ("[x for x in contact.items]", "comprehension"),
    ("lambda: 1", "lambda"),
    ('contact["a"]', "dotted paths"),
    ("2 ** 64", "operator"),
    ("contact.a is None", "comparison"),
    ('history.count(within="7 days")', "not a duration"),
    ('history.count("email")', "keyword arguments"),
    ("history.drop()", "unknown history method"),
    ("contact.a >", "not a valid expression"),
    ("days_since()", "takes 1 argument"),
    ("total_spend > 5", "unknown name 'total_spend'; use contact.total_spend"),
])
def test_anything_outside_the_language_is_refused_when_the_pack_loads(source, message):
    with pytest.raises(ExpressionSyntaxError, match=message):
        compile_expression(source)
