"""A JSON Schema of the pack language, for editors (VS Code YAML, JetBrains).

Every object's keys come from the very tuples the validator checks a pack
against (``TOP_KEYS``, ``ACTION_KEYS``, ``STEP_KEYS``...), and the expression
descriptions from the vocabulary registry; this module adds only the type of
each key. A key the validator accepts but this module gives no type makes
``pack_schema()`` raise ``SchemaGap``, so the schema cannot fall behind the
language silently. The validator stays the authority: the schema catches
typos, wrong types and unknown keys while typing, not every rule (references
between ids, expressions, cycles).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from engine.agenda import language as agenda_language
from engine.journeys.language import (
    DATA_TYPES,
    EVENT_KEYS,
    JOURNEY_KEYS,
    STEP_KEYS,
    TRANSITION_KEYS,
    TRIGGER_KEYS,
)
from engine.journeys.plan import SKIPPED, TIMEOUT
from engine.language import compiler, pack_tests
from engine.language import policies_compiler as policies
from engine.language.checks import IDENTIFIER
from engine.language.vocabulary import export_vocabulary
from engine.learning.experiments import (
    EXPERIMENT_KEYS,
    GOAL_KEYS,
    HOLDOUT_KEYS,
    VARIANT_KEYS,
)
from engine.learning.language import LEARNING_KEYS
from engine.learning.model import EXPLORATIONS
from engine.model import KINDS, OUTCOMES

SCHEMA_ID = "https://nba.invalid/schemas/rule-pack.json"
DURATION = r"^\s*[1-9][0-9]*\s*(m|h|d|w)\s*$"
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class SchemaGap(Exception):
    """A key the validator accepts that the schema gives no type."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _described(fragment: Mapping[str, Any], text: str) -> dict[str, Any]:
    return {**fragment, "description": text}


def _list_of(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": dict(item)}


def _names() -> dict[str, Any]:
    return {"anyOf": [_ref("id"), _list_of(_ref("id"))]}


def _object(keys: Iterable[str], types: Mapping[str, Any], required: Iterable[str] = (),
            where: str = "") -> dict[str, Any]:
    """A closed object of exactly the validator's ``keys``, each with its type."""
    keys = tuple(keys)
    missing = [key for key in keys if key not in types]
    if missing:
        raise SchemaGap(f"no type for {', '.join(missing)} in {where or 'an object'}")
    return {"type": "object", "additionalProperties": False,
            "properties": {key: types[key] for key in keys}, "required": list(required)}


def _map_of(value: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "propertyNames": _ref("id"), "additionalProperties": dict(value)}


def _expression_text() -> str:
    vocabulary = export_vocabulary()
    return ("an expression of the pack language (never evaluated as Python): read "
            + ", ".join(vocabulary["roots"]) + "; call " + ", ".join(vocabulary["functions"]))


COMMON: dict[str, Any] = {
    "description": {"type": "string"}, "id": _ref("id"), "name": {"type": "string"},
}


def _definitions() -> dict[str, Any]:
    text = _expression_text()
    return {
        "id": {"type": "string", "pattern": IDENTIFIER.pattern,
               "description": "a letter, then letters, digits, _ or - (at most 100)"},
        "duration": {"type": "string", "pattern": DURATION,
                     "description": "a number and a unit: 30m, 24h, 7d, 2w"},
        "moment": {"type": "string", "description": "a date (2026-11-01) or an ISO "
                                                    "date-time (2026-11-01T09:00:00Z)"},
        "expression": {"type": ["string", "number"], "description": text},
        "condition": {"type": ["string", "number", "boolean"],
                      "description": text + "; or true (always), false (never)"},
        "channel": _channel(), "fact": _fact(), "action": _action(),
        "pressure": _pressure(), "suppress": _suppress(), "journey": _journey(),
        "step": _step(), "test": _test(),
    }


def _channel() -> dict[str, Any]:
    deliver = _object(compiler.DELIVER_KEYS, {
        "webhook": {"type": "string", "pattern": "^https?://"},
        "secret_env": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,99}$"},
        "max_attempts": {"type": "integer", "minimum": 1}}, ("webhook", "secret_env"),
        "deliver")
    return _object(compiler.CHANNEL_KEYS, {
        **COMMON, "cost": {"type": "number", "minimum": 0},
        "quiet_hours": {"type": "string", "pattern": r"^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$"},
        "capacity_per_day": {"type": "integer", "minimum": 1},
        "consent": {"enum": ["opt_in", "opt_out"]}, "inbound": {"type": "boolean"},
        "deliver": deliver}, where="channels")


def _fact() -> dict[str, Any]:
    return _object(compiler.FACT_KEYS, {**COMMON, "when": _ref("condition"),
                                        "set": {"type": "object", "minProperties": 1}},
                   compiler.FACT_REQUIRED, "facts")


def _action() -> dict[str, Any]:
    return _object(compiler.ACTION_KEYS, {
        **COMMON, "program": _ref("id"), "kind": {"enum": list(KINDS)},
        "channels": _list_of(_ref("id")), "placements": _list_of(_ref("id")),
        "when": _ref("condition"), "priority": {"type": "number", "minimum": 0, "maximum": 100},
        "value": {"type": "number"},
        "propensity": _described(_ref("expression"), "a number, an expression, or learned(p) "
                                 "(p: the prior mean of the learned success rate)"),
        "success": _described({"enum": list(OUTCOMES)}, "the outcome a learned propensity "
                              "learns from (default: learning.success)"),
        "valid": _object(("from", "until"), {"from": _ref("moment"), "until": _ref("moment")},
                         where="valid"),
        "repeat": _object(("max", "within"), {"max": {"type": "integer", "minimum": 1},
                                              "within": _ref("duration")}, ("max", "within")),
        "group": _ref("id"), "respect_opt_out": {"type": "boolean"},
        "content": {"type": "object", "additionalProperties": {"type": "object"}},
    }, compiler.ACTION_REQUIRED, "actions")


def _targets() -> dict[str, Any]:
    return {"kinds": _names(), "channels": _names(), "programs": _names()}


def _pressure() -> dict[str, Any]:
    return _object(policies.PRESSURE_KEYS, {
        **COMMON, **_targets(), "max": {"type": "integer", "minimum": 1},
        "per": _ref("duration"), "calendar": {"type": "boolean"},
        "min_gap": _ref("duration"),
        "budget": _described({"type": "number", "exclusiveMinimum": 0},
                             "a weighted budget per `per`: each contact counts its channel's "
                             "weight"),
        "weights": {"type": "object", "propertyNames": _ref("id"),
                    "additionalProperties": {"type": "number", "minimum": 0}},
    }, policies.PRESSURE_REQUIRED, "policies.pressure")


def _suppress() -> dict[str, Any]:
    return _object(policies.SUPPRESS_KEYS, {
        **COMMON, **_targets(), "after": {"anyOf": [{"enum": list(OUTCOMES)},
                                                    _list_of({"enum": list(OUTCOMES)})]},
        **{scope: _ref("duration") for scope in policies.SUPPRESS_SCOPES}},
        policies.SUPPRESS_REQUIRED, "policies.suppress")


def _journey() -> dict[str, Any]:
    trigger = _object(TRIGGER_KEYS, {"event": _ref("id"), "no_event": _ref("id"),
                                     "for": _ref("duration"), "date": {"type": "string"},
                                     "at": {"type": "string", "pattern": CLOCK}}, where="trigger")
    return _object(JOURNEY_KEYS, {
        **COMMON, "program": _ref("id"), "trigger": trigger, "when": _ref("condition"),
        "reentry": _object(("after",), {"after": _ref("duration")}, ("after",)),
        "exit_on": _list_of(_ref("id")), "steps": _list_of(_ref("step"))},
        ("id", "program", "trigger", "steps"), "journeys")


def _routing_rule() -> dict[str, Any]:
    return _object(agenda_language.RULE_KEYS, {
        "description": {"type": "string"}, "when": _ref("condition"), "team": _ref("id"),
        "match": {"enum": list(agenda_language.MATCHES)},
        "skills": _list_of(_ref("expression"))}, ("team",), "routing")


def _task() -> dict[str, Any]:
    return _object(agenda_language.TASK_KEYS, {
        "team": _ref("id"), "action": _ref("id"), "channel": _ref("id"),
        "due": _ref("duration"), "duration": _ref("duration"),
        "attempts": {"type": "integer", "minimum": 1, "maximum": agenda_language.MAX_ATTEMPTS},
        "result_within": _ref("duration")}, ("team", "action"), "task")


def _step() -> dict[str, Any]:
    transition = _object(TRANSITION_KEYS, {
        "on": {"enum": [*OUTCOMES, TIMEOUT, SKIPPED]},
        "on_event": _ref("id"), "within": _ref("duration"), "goto": _ref("id")}, ("goto",),
        "then")
    return _object(STEP_KEYS, {
        **COMMON, "wait": {"anyOf": [_ref("duration"), _object(
            ("until",), {"until": {"type": "string", "pattern": CLOCK}}, ("until",))]},
        "when": _ref("condition"), "set": {"type": "object"},
        "send": _object(("channel", "actions"), {"channel": _ref("id"),
                                                 "actions": _list_of(_ref("id"))}, ("channel",)),
        "then": _list_of(transition), "next": _ref("id"),
        "split": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "branches": {"type": "object", "additionalProperties": _ref("id")},
        "end": _ref("id"), "max_delay": _ref("duration"), "task": _task(),
        "consent": {"type": "object", "additionalProperties": {"type": "boolean"}}},
        ("id",), "steps")


def _test() -> dict[str, Any]:
    keys = dict.fromkeys(pack_tests.TEST_KEYS + pack_tests.JOURNEY_TEST_KEYS)
    request = _object(pack_tests.REQUEST_KEYS, {
        "channel": _ref("id"), "placement": {"type": ["string", "null"]},
        "context": {"type": "object"}, "profile": {"type": "object"},
        "limit": {"type": "integer", "minimum": 1}}, ("channel",), "tests.request")
    return _object(keys, {
        **COMMON, "at": _ref("moment"), "until": _ref("moment"),
        "contact": {"type": "object", "required": ["id"]},
        "history": _list_of(_object(pack_tests.HISTORY_KEYS, {
            "action": _ref("id"), "channel": _ref("id"), "at": _ref("moment"),
            "outcomes": _list_of({"enum": list(OUTCOMES)}), "placement": {"type": "string"}},
            ("action", "channel", "at"), "tests.history")),
        "request": request, "timeline": _list_of({"type": "object", "required": ["at"]}),
        "agents": _list_of({"type": "object", "required": ["id", "name", "team",
                                                            "working_hours"]}),
        "expect": {"type": "object"}}, ("name",), "tests")


def _experiment() -> dict[str, Any]:
    goal = _object(GOAL_KEYS, {"outcome": {"enum": list(OUTCOMES)}, "event": _ref("id"),
                               "value": _ref("id")}, where="goal")
    return _object(EXPERIMENT_KEYS, {
        "id": _ref("id"), "description": {"type": "string"},
        "holdout": _object(HOLDOUT_KEYS, {
            "share": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
            "programs": _list_of(_ref("id"))}, ("share",), "holdout"),
        "action": _ref("id"),
        "variants": _map_of(_object(VARIANT_KEYS, {
            "share": {"type": "number", "exclusiveMinimum": 0},
            "content": {"type": "object", "additionalProperties": {"type": "object"}}},
            ("content",), "variants")),
        "journey": _ref("id"), "split": _ref("id"), "goal": goal,
        "auto_optimise": {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": 10}]},
    }, ("id", "goal"), "experiments")


def pack_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07, which editors support best) of a rule pack."""
    events = _map_of(_object(EVENT_KEYS, {
        "description": {"type": "string"},
        "data": {"type": "object", "additionalProperties": {"enum": list(DATA_TYPES)}},
        "set": {"type": "object"}}, where="events"))
    top = _object(compiler.TOP_KEYS, {
        "pack": _ref("id"), "version": {"type": "string", "minLength": 1},
        "timezone": {"type": "string", "description": "an IANA zone, like Europe/Paris"},
        "description": {"type": "string"}, "channels": _map_of(_ref("channel")),
        "facts": _list_of(_ref("fact")), "actions": _list_of(_ref("action")),
        "policies": _object(("pressure", "suppress", "arbitration", "min_score"), {
            "pressure": _list_of(_ref("pressure")), "suppress": _list_of(_ref("suppress")),
            "arbitration": _described(_ref("expression"), "the score: propensity, value, "
                                      "priority, cost, risk.unsubscribe, risk.complaint, "
                                      "costs.<outcome>, contact.*, context.*, facts.*"),
            "min_score": _described({"type": "number"}, "candidates scoring below are not "
                                    "chosen")}, where="policies"),
        "fallbacks": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": _ref("id")}},
        "events": events, "events_strict": {"type": "boolean"},
        "journeys": _list_of(_ref("journey")), "tests": _list_of(_ref("test")),
        "routing": _map_of(_list_of(_routing_rule())),
        "experiments": _list_of(_experiment()),
        "learning": _object(LEARNING_KEYS, {
            "success": {"enum": list(OUTCOMES)},
            "prior_weight": {"type": "number", "exclusiveMinimum": 0},
            "half_life": _ref("duration"),
            "segment_by": _list_of({"type": "string", "pattern": r"^(facts|contact)\."}),
            "exploration": {"enum": list(EXPLORATIONS)}}, where="learning"),
        "costs": {"type": "object", "propertyNames": {"enum": list(OUTCOMES)},
                  "additionalProperties": {"type": "number", "minimum": 0},
                  "description": "the value an outcome loses, such as the lifetime value "
                                 "of an unsubscription: {unsubscribed: 40, complained: 60}"},
    }, compiler.TOP_REQUIRED, "the top level")
    return {"$schema": "http://json-schema.org/draft-07/schema#", "$id": SCHEMA_ID,
            "title": "Next-best-action rule pack", **top, "definitions": _definitions()}
