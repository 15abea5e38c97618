"""Authoring comfort: ``when: true``/``when: false``, located problems with their
column, and the JSON Schema editors use (checked with a real JSON Schema validator)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime

import jsonschema
import pytest
import yaml

from api import create_app
from engine.errors import InvalidPack
from engine.language import compiler, policies_compiler
from engine.language.compiler import compile_pack
from engine.language.loader import PackLoader
from engine.language.schema import pack_schema
from engine.memory import MemoryStore
from engine.model import ContactRecord
from engine.service import ActivePack, DecisionService
from tests.conftest import PACKS, ROOT, at, engine_backend

PACK = """\
pack: w
version: "1"
timezone: Europe/Paris
channels:
  email: {}
facts:
  - {id: always, when: true, set: {flag: true}}
actions:
  - {id: never_sent, program: p, kind: relational, channels: [email], when: false, priority: 90}
  - {id: always_sent, program: p, kind: relational, channels: [email], when: true, priority: 10}
"""


def problems_of(text: str) -> list:
    with pytest.raises(InvalidPack) as refused:
        compile_pack(text.encode(), "pack.yaml")
    return list(refused.value.problems)


def test_when_true_means_always_and_when_false_never():
    from engine.model import DecisionRequest

    plan = compile_pack(PACK.encode(), "pack.yaml")
    store = MemoryStore()
    store.put_contact(ContactRecord("c1", {}, {"email": True}))
    service = DecisionService(store, ActivePack(plan), engine_backend())
    decision = service.decide(DecisionRequest("c1", "email", at("2026-11-22T10:00:00Z"),
                                              explain=True)).decision
    assert [a.action_id for a in decision.actions] == ["always_sent"]
    assert decision.facts["flag"] is True
    assert [(e.action_id, e.policy) for e in decision.excluded] == [("never_sent", "eligibility")]


def test_a_condition_that_is_neither_an_expression_nor_true_or_false_says_what_is_expected():
    [problem] = problems_of(PACK.replace("when: false", "when: [1]"))
    assert (problem.line, problem.path) == (9, "actions[0].when")
    assert "expected a condition" in problem.message and "true (always)" in problem.message


def test_true_where_a_number_or_formula_is_expected_is_refused_with_the_reason():
    [problem] = problems_of(PACK.replace("priority: 10}", "priority: 10, propensity: true}"))
    assert problem.path == "actions[1].propensity"
    assert "only for conditions" in problem.message


def test_problems_carry_the_column_of_their_key():
    [problem] = problems_of(PACK.replace("kind: relational, channels: [email], when: false",
                                         "kind: friendly, channels: [email], when: false"))
    line = PACK.splitlines()[8]
    assert problem.line == 9 and problem.column == line.index("kind") + 1


@pytest.fixture(scope="module")
def schema() -> dict:
    return pack_schema()


def as_editors_read(value):
    """YAML as an editor's language server reads it (YAML 1.2: ``on`` is a text, and
    so are dates)."""
    if isinstance(value, dict):
        return {k: as_editors_read(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_editors_read(v) for v in value]
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def errors(schema: dict, text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    document = as_editors_read(yaml.load(text, Loader=PackLoader))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)]


@pytest.mark.parametrize("name", ["rules/retail.yaml", "rules/bank.yaml",
                                  "tests/packs/minimal.yaml", "tests/packs/journeys.yaml"])
def test_every_shipped_pack_matches_the_schema(schema, name):
    assert errors(schema, (ROOT / name).read_text()) == []


def test_the_schema_accepts_when_true_and_finds_typos_and_wrong_types(schema):
    assert errors(schema, PACK) == []
    found = errors(schema, PACK.replace("priority: 90", "priorty: 90").replace(
        "kind: relational, channels: [email], when: true", "kind: friendly, channels: email"))
    assert any(e.startswith("actions/0:") and "priorty" in e for e in found)
    assert any(e.startswith("actions/1/kind:") for e in found)
    assert any(e.startswith("actions/1/channels:") for e in found)


def test_the_schema_has_exactly_the_keys_the_validator_accepts(schema):
    definitions = schema["definitions"]
    assert tuple(schema["properties"]) == compiler.TOP_KEYS
    assert tuple(definitions["action"]["properties"]) == compiler.ACTION_KEYS
    assert tuple(definitions["channel"]["properties"]) == compiler.CHANNEL_KEYS
    assert tuple(definitions["pressure"]["properties"]) == policies_compiler.PRESSURE_KEYS
    assert definitions["action"]["required"] == list(compiler.ACTION_REQUIRED)
    assert "days_since" in definitions["condition"]["description"]


def test_the_cli_and_the_api_serve_the_same_schema_without_a_key(schema):
    printed = subprocess.run([sys.executable, "-m", "engine", "schema"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    client = create_app({"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "minimal.yaml"),
                         "NBA_API_KEYS": "author-key-1:author"}).test_client()
    served = client.get("/v1/packs/schema")
    assert served.status_code == 200
    assert json.loads(printed) == served.get_json() == schema
