"""Lint finds the problems planted in tests/packs/lint.yaml, each at its line, and
nothing in the shipped packs; the CLI and the upload answer report them."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from engine.language.compiler import load_pack
from engine.language.lint import lint_pack
from tests.conftest import PACKS, ROOT
from tests.test_packs_api import AUTHOR, make_client

LINT_PACK = PACKS / "lint.yaml"
NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)


def line_of(text: str, occurrence: int = 1) -> int:
    lines = LINT_PACK.read_text().splitlines()
    found = [n for n, line in enumerate(lines, 1) if text in line]
    return found[occurrence - 1]


@pytest.fixture(scope="module")
def findings():
    return lint_pack(load_pack(LINT_PACK), NOW)


@pytest.mark.parametrize("code, line, words", [
    ("validity_ended", lambda: line_of('until: "2026-08-31"'), "summer_sale can never be chosen"),
    ("when_never_true", lambda: line_of("contact.age > 60 and contact.age < 18"),
     "cannot both hold"),
    ("when_never_true", lambda: line_of("when: false"), "switched_off can never be chosen"),
    ("always_outranked", lambda: line_of("- id: weak_banner"), "strong_banner"),
    ("redundant_pressure", lambda: line_of("id: weekly_email"), "weekly_all covers"),
    ("unreachable_cap", lambda: line_of("id: weekly_all"), "spacing keeps 4d"),
    ("inbound_without_fallback", lambda: line_of("web: {inbound: true}"), "no fallback"),
    ("wait_beyond_window", lambda: line_of('within="2d"'), "waits 7d"),
    ("fact_never_read", lambda: line_of("set: {segment: gold}"), "facts.segment"),
    ("template_untested", lambda: line_of("content:"), "contact.nickname"),
    ("consent_never_given", lambda: line_of("when: not contact.consents.email"),
     "opt_in_invitation can never be chosen"),
])
def test_lint_finds_each_planted_problem_at_its_line(findings, code, line, words):
    matching = [f for f in findings if f.code == code and f.line == line()]
    assert matching, [str(f) for f in findings]
    assert any(words in f.message for f in matching)


def test_lint_says_nothing_about_what_is_fine_in_the_planted_pack(findings):
    named = " ".join(f.message for f in findings)
    for fine in ("strong_banner can never", "welcome_email can never", "facts.senior",
                 "spacing never refuses"):
        assert fine not in named
    assert len(findings) == 12  # the eleven planted, and weekly_email's cap also unreachable


def test_an_ended_validity_is_judged_by_the_time_given():
    before_the_end = datetime(2026, 8, 1, tzinfo=timezone.utc)
    codes = [f.code for f in lint_pack(load_pack(LINT_PACK), before_the_end)]
    assert "validity_ended" not in codes


@pytest.mark.parametrize("pack", ["rules/retail.yaml", "rules/bank.yaml"])
def test_the_shipped_packs_have_no_findings_during_their_tests(pack):
    assert [str(f) for f in lint_pack(load_pack(ROOT / pack), NOW)] == []


def test_the_cli_prints_file_line_and_reason_and_fails_when_it_finds_something():
    done = subprocess.run([sys.executable, "-m", "engine", "lint", str(LINT_PACK),
                           "--at", "2026-11-20T00:00:00Z"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 1
    assert f"{LINT_PACK}:{line_of('id: weekly_email')}: policies.pressure[1]:" in done.stdout
    clean = subprocess.run([sys.executable, "-m", "engine", "lint", "rules/", "--at",
                            "2026-11-20T00:00:00Z"], cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0 and clean.stdout == ""


def test_an_upload_answers_with_its_warnings_and_stores_them(tmp_path):
    client = make_client(tmp_path, NBA_CLOCK=lambda: NOW)
    answer = client.post("/v1/packs", data=LINT_PACK.read_text(), headers=AUTHOR,
                         content_type="application/yaml")
    assert answer.status_code == 201
    warnings = answer.get_json()["warnings"]
    assert {w["code"] for w in warnings} >= {"redundant_pressure", "fact_never_read"}
    assert all(w["line"] and w["message"] for w in warnings)
    assert len(answer.get_json()["pack"]["warnings"]) == len(warnings)


CONSENT_PACK = """
pack: consent_paths
version: "1"
timezone: Europe/Paris
channels:
  email: {cost: 0.01}
  sms: {cost: 0.05}
  call: {cost: 3, consent: opt_out}
actions:
  - {id: ask_by_service, program: p, kind: service, channels: [email],
     when: not contact.consents.email}
  - {id: one_channel_left, program: p, kind: relational, channels: [email, sms],
     when: not contact.consents.email}
  - {id: call_the_undecided, program: p, kind: commercial, channels: [call],
     when: not contact.consents.call}
  - {id: call_the_refusers, program: p, kind: commercial, channels: [call],
     when: contact.consents.call == false and contact.total_spend > 10}
  - {id: mail_the_unconsented, program: p, kind: commercial, channels: [email, sms],
     when: contact.consents.email != true and contact.consents.sms == null}
tests:
  - name: an unconsented contact is asked by a service email
    at: "2026-11-22T10:00:00Z"
    contact: {id: c1}
    request: {channel: email}
    expect: {actions: [ask_by_service]}
"""


def test_a_marketing_action_whose_when_excludes_the_consent_of_every_channel_is_reported():
    from engine.language.compiler import compile_pack

    found = [f for f in lint_pack(compile_pack(CONSENT_PACK.encode(), "<t>"), NOW)
             if f.code == "consent_never_given"]
    assert sorted(f.message.split()[0] for f in found) == ["call_the_refusers",
                                                          "mail_the_unconsented"]
