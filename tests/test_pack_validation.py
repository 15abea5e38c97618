"""A pack is checked completely when it loads; nothing half-valid is served."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.errors import InvalidPack
from engine.language.compiler import compile_pack, load_pack
from tests.conftest import PACKS, ROOT

GOOD = (PACKS / "minimal.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        compile_pack(text.encode(), "pack.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_minimal_pack_loads_with_a_content_hash():
    plan = load_pack(PACKS / "minimal.yaml")
    assert plan.name == "minimal" and plan.hash.startswith("sha256:")
    assert compile_pack(GOOD.encode(), "x").hash == plan.hash
    assert compile_pack((GOOD + "\n# edited\n").encode(), "x").hash != plan.hash


def test_every_problem_is_reported_at_once_with_its_line_and_key_path():
    broken = (GOOD.replace("kind: transactional", "kind: transactionel")
              .replace("channels: [call]", "channels: [phone]")
              .replace("min_gap: 24h", "min_gap: 24hours")
              .replace("priority: 90", "priority: 900")
              .replace("when: facts.vip_at_risk", "when: facts.vip_at_rsk"))
    found = problems(broken)
    assert len(found) == 5, found
    assert "pack.yaml:19: actions[0].kind: kind is one of" in found[0]
    assert any("pack.yaml:30: actions[1].channels[0]: unknown channel 'phone'" in p for p in found)
    assert any("actions[1].priority: 900 is out of range" in p for p in found)
    assert any("policies.pressure[2].min_gap: '24hours' is not a duration" in p for p in found)
    assert any("facts.vip_at_rsk is not set by any facts rule" in p for p in found)


@pytest.mark.parametrize("edit, message", [
    (("pack: minimal", "pack: minimal\nowner: crm"), "unknown key 'owner'"),
    (("    program: newsletter\n", "    program: newsletter\n    prority: 3\n"),
     "unknown key 'prority'"),
    (("id: promo_generic", "id: newsletter"), "duplicate action id 'newsletter'"),
    (("when: days_since(contact.last_order_at) > 90", "when: days_since(contact.last_order_at) >"),
     "not a valid expression"),
    (("when: days_since(contact.last_order_at) > 90", "when: weekday(contact.x) > 90"),
     "unknown function 'weekday'"),
    (("when: days_since(contact.last_order_at) > 90",
      "when: days_since(contact.last_order_at) > 90 and not facts.vip_at_risk"),
     "facts rules depend on each other in a cycle"),
    (("timezone: Europe/Paris", "timezone: Europe/Pariss"), "unknown timezone"),
    (('quiet_hours: "21:00-08:00"', "quiet_hours: 9pm"), "quiet hours are written"),
    (("Black Friday, {{ contact.first_name }}", "Black Friday, {{ contact.first_name }"),
     "template error"),
    (("kinds: [commercial], for: 90d", "kinds: [commercial], for: 90d, same_action_for: 3d"),
     "exactly one of"),
    (("{id: weekly_promotions, programs: [promotion], max: 3, per: 7d}",
      "{id: weekly_promotions, kinds: [transactional], max: 3, per: 7d}"),
     "transactional and service actions never count"),
    (("version: \"1\"", "version: 1"), "expected a quoted text"),
    (("request: {channel: call}", "request: {channel: fax}"), "unknown channel 'fax'"),
    (("  email: {cost: 0.002}\n", "  email: {cost: 0.002}\n  email: {cost: 1}\n"),
     "duplicate key"),
])
def test_a_mistake_is_named_precisely(edit, message):
    old, new = edit
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(message in p for p in found), found


def test_yaml_syntax_errors_name_the_line():
    [problem] = problems("pack: x\nchannels: [email\n")
    assert "YAML syntax error" in problem and "pack.yaml:3" in problem


def test_the_validate_command_exits_non_zero_on_an_invalid_pack(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("kind: transactional", "kind: nope"))
    run = subprocess.run([sys.executable, "-m", "engine", "validate", str(bad)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert "actions[0].kind" in run.stderr
    good = subprocess.run([sys.executable, "-m", "engine", "validate", str(PACKS / "minimal.yaml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0 and "pack minimal 1" in good.stdout


def test_a_command_whose_reader_stops_early_ends_without_a_traceback():
    """``python -m engine schema | head -1``, with the reader already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = subprocess.run([sys.executable, "-m", "engine", "schema"], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    finally:
        os.close(write_end)
    assert "Traceback" not in run.stderr
    assert run.returncode == 141


def test_the_test_command_fails_when_no_test_ran(tmp_path):
    (tmp_path / "empty.yaml").write_text(GOOD[:GOOD.index("tests:")])
    run = subprocess.run([sys.executable, "-m", "engine", "test", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1 and "no pack test ran" in run.stderr


def test_the_test_command_fails_on_a_failing_pack_test(tmp_path):
    (tmp_path / "p.yaml").write_text(GOOD.replace("actions: [winback_call]", "actions: [newsletter]"))
    run = subprocess.run([sys.executable, "-m", "engine", "test", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert "FAIL" in run.stdout and "expected ['newsletter'], got ['winback_call']" in run.stdout


FALLBACKS = (PACKS / "faults.yaml").read_text()


def test_a_fallback_must_be_an_existing_action_of_an_inbound_channel():
    broken = FALLBACKS.replace(
        "  web: {default: brand_banner}",
        "  web: {default: brand_banners, checkout: weekly_offer, home: brand_banner}\n"
        "  email: {default: weekly_offer}\n"
        "  fax: {default: brand_banner}")
    found = problems(broken)
    assert any("fallbacks.web.default: unknown action 'brand_banners'" in p for p in found), found
    assert any("fallbacks.email: email is an outbound channel" in p for p in found), found
    assert any("fallbacks.fax: unknown key 'fax'" in p for p in found), found
    assert len(found) == 3, found


def test_a_fallback_action_must_offer_the_channel():
    broken = FALLBACKS.replace("channels: [web]\n    when: \"false\"",
                               "channels: [email]\n    when: \"false\"")
    found = problems(broken)
    assert any("fallbacks.web.default: action brand_banner does not offer channel web" in p
               for p in found), found
