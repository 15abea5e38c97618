"""The pack's ``costs:`` section: what an outcome costs beyond the message."""
from __future__ import annotations

import pytest

from engine.errors import InvalidPack
from engine.language.compiler import compile_pack, load_pack
from engine.language.schema import pack_schema
from tests.conftest import PACKS, ROOT

GOOD = (PACKS / "minimal.yaml").read_text()


def with_costs(section: str) -> bytes:
    return (GOOD + "\n" + section + "\n").encode()


def problems(section: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        compile_pack(with_costs(section), "pack.yaml")
    return [str(p) for p in caught.value.problems]


def test_costs_are_kept_on_the_plan_as_numbers_per_outcome():
    plan = compile_pack(with_costs("costs: {unsubscribed: 40, complained: 60.5}"), "pack.yaml")
    assert plan.costs == {"unsubscribed": 40.0, "complained": 60.5}


def test_a_pack_without_costs_prices_no_outcome():
    assert load_pack(PACKS / "minimal.yaml").costs == {}


def test_the_shipped_packs_price_unsubscriptions_and_complaints():
    assert load_pack(ROOT / "rules" / "retail.yaml").costs == {"unsubscribed": 40.0,
                                                                "complained": 60.0}
    assert set(load_pack(ROOT / "rules" / "bank.yaml").costs) == {"unsubscribed", "complained"}


def test_an_unknown_outcome_is_refused_with_its_line():
    lines = len(GOOD.splitlines())
    found = problems("costs:\n  unsubscribed: 40\n  unsubscrbed: 60")
    assert len(found) == 1
    assert "unknown outcome 'unsubscrbed'" in found[0]
    assert f":{lines + 4}" in found[0] and "costs.unsubscrbed" in found[0]


@pytest.mark.parametrize("amount", ["-1", "'forty'", "true", ".nan", "[40]"])
def test_a_cost_must_be_a_non_negative_number(amount):
    found = problems(f"costs: {{complained: {amount}}}")
    assert len(found) == 1 and "the cost of complained is a number from 0" in found[0]


def test_costs_must_be_a_mapping():
    assert "costs is a mapping of outcome" in problems("costs: [unsubscribed, 40]")[0]


def test_the_json_schema_types_costs_by_outcome():
    schema = pack_schema()["properties"]["costs"]
    assert "unsubscribed" in schema["propertyNames"]["enum"]
    assert schema["additionalProperties"] == {"type": "number", "minimum": 0}
