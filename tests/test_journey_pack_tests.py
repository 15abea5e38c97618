"""Pack tests that drive journeys: a timeline in, the messages the runs sent out,
and a failure that says which message differs and how."""
from __future__ import annotations

import subprocess
import sys

import pytest

from engine.backends import BACKENDS, backend_from_name
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.testing import run_pack_test
from tests.conftest import ROOT

PACK = """
pack: cart
version: "1"
timezone: Europe/Paris
channels:
  email: {cost: 0.002}
  sms: {cost: 0.05, quiet_hours: "21:00-08:00"}
events:
  cart_abandoned: {data: {cart_value: number}, set: {cart_value: event.data.cart_value}}
  order_placed: {set: {cart_value: 0}}
actions:
  - {id: cart_email, program: abandoned_cart, kind: commercial, channels: [email]}
  - {id: cart_sms, program: abandoned_cart, kind: commercial, channels: [sms]}
  - {id: birthday_email, program: birthday, kind: relational, channels: [email]}
journeys:
  - id: cart_recovery
    program: abandoned_cart
    trigger: {event: cart_abandoned}
    when: contact.cart_value > 20
    exit_on: [order_placed]
    steps:
      - id: reminder
        wait: 1h
        send: {channel: email, actions: [cart_email]}
        then:
          - {on: clicked, within: 48h, goto: done}
          - {on: timeout, goto: sms_nudge}
      - id: sms_nudge
        when: contact.cart_value > 60
        send: {channel: sms, actions: [cart_sms]}
        next: done
      - id: done
        end: reminded
  - id: birthday
    program: birthday
    trigger: {date: contact.birthday, at: "09:00"}
    steps:
      - id: wishes
        send: {channel: email, actions: [birthday_email]}
tests:
"""

NO_CLICK = """
  - name: no click brings the SMS two days after the email
    contact: {id: c1, consents: {email: true, sms: true}}
    timeline:
      - {at: "2026-11-20T09:00:00Z", event: cart_abandoned, data: {cart_value: 80}}
    until: "2026-11-25T00:00:00Z"
    expect:
      sent:
        - {step: reminder, action: cart_email, channel: email, at: "2026-11-20T10:00:00Z"}
        - {step: sms_nudge, action: cart_sms, channel: sms, at: "2026-11-22T10:00:00Z"}
      runs:
        - {journey: cart_recovery, state: ended, end: reminded}
"""


def result_of(tests: str, backend: str = "compiled"):
    plan = compile_pack((PACK + tests).encode(), "cart.yaml")
    return run_pack_test(plan, plan.tests[0], "cart.yaml", backend_from_name(backend))


def problems(tests: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        compile_pack((PACK + tests).encode(), "cart.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_journey_test_passes_when_the_runs_send_what_it_expects(backend):
    result = result_of(NO_CLICK, backend)
    assert result.passed, str(result)


def test_a_missing_message_is_named_with_its_step_action_channel_and_time():
    result = result_of(NO_CLICK.replace("cart_value: 80", "cart_value: 50"))
    assert not result.passed
    assert result.failures[0] == ("sent[1]: expected sms_nudge cart_sms on sms at "
                                  "2026-11-22T10:00:00Z, got nothing")
    # The journeys' counters follow, to read the failure by.
    assert any("sms_nudge.skipped.when" in line for line in result.failures)
    assert str(result).startswith("FAIL cart.yaml:")


def test_times_are_compared_as_instants_and_read_in_the_pack_timezone():
    assert result_of(NO_CLICK.replace("2026-11-22T10:00:00Z", "2026-11-22T11:00:00+01:00")).passed
    assert result_of(NO_CLICK.replace("2026-11-22T10:00:00Z", "2026-11-22T11:00:00")).passed
    late = result_of(NO_CLICK.replace("2026-11-22T10:00:00Z", "2026-11-22T10:00:00"))
    assert late.failures[0] == ("sent[1]: expected sms_nudge cart_sms on sms at "
                                "2026-11-22T09:00:00Z, got sms_nudge cart_sms on sms at "
                                "2026-11-22T10:00:00Z")


def test_an_unexpected_message_fails_the_test():
    result = result_of(NO_CLICK.replace(
        '        - {step: sms_nudge, action: cart_sms, channel: sms, at: "2026-11-22T10:00:00Z"}\n',
        ""))
    assert result.failures[0] == ("sent[1]: expected nothing, got sms_nudge cart_sms on sms "
                                  "at 2026-11-22T10:00:00Z")


def test_a_click_posted_for_the_step_message_ends_the_run_without_an_sms():
    clicked = NO_CLICK.replace(
        "data: {cart_value: 80}}\n",
        "data: {cart_value: 80}}\n"
        '      - {at: "2026-11-21T09:00:00Z", outcome: clicked, step: reminder}\n')
    result = result_of(clicked)
    assert result.failures[0] == ("sent[1]: expected sms_nudge cart_sms on sms at "
                                  "2026-11-22T10:00:00Z, got nothing")


def test_a_goal_event_withdraws_the_message_still_in_the_outbox():
    ordered = NO_CLICK.replace(
        "data: {cart_value: 80}}\n",
        "data: {cart_value: 80}}\n"
        '      - {at: "2026-11-20T12:00:00Z", event: order_placed}\n')
    result = result_of(ordered.replace('at: "2026-11-20T10:00:00Z"}',
                                       'at: "2026-11-20T10:00:00Z", state: ready}'))
    assert result.failures[:2] == (
        "sent[0]: expected reminder cart_email on email at 2026-11-20T10:00:00Z (ready), got "
        "reminder cart_email on email at 2026-11-20T10:00:00Z (cancelled)",
        "sent[1]: expected sms_nudge cart_sms on sms at 2026-11-22T10:00:00Z, got nothing")
    assert "runs[0].end: expected reminded, got goal:order_placed" in result.failures[2]


def test_an_outcome_for_a_step_that_sent_nothing_yet_is_a_failure():
    early = NO_CLICK.replace(
        "data: {cart_value: 80}}\n",
        "data: {cart_value: 80}}\n"
        '      - {at: "2026-11-20T09:30:00Z", outcome: clicked, step: reminder}\n')
    result = result_of(early)
    assert result.failures[0] == ("timeline[1]: step reminder sent no message by "
                                  "2026-11-20T09:30:00Z to post clicked for")


def test_a_profile_change_arms_a_date_trigger():
    result = result_of("""
  - name: a birthday set later is wished at 09:00 local
    at: "2026-11-20T10:00:00Z"
    contact: {id: c2}
    timeline:
      - {at: "2026-11-21T10:00:00Z", profile: {birthday: "1990-12-01", consents: {email: true}}}
    until: "2026-12-05T00:00:00Z"
    expect:
      sent:
        - {step: wishes, action: birthday_email, channel: email, at: "2026-12-01T08:00:00Z"}
""")
    assert result.passed, str(result)


def test_a_wrong_run_expectation_names_the_key_and_the_run():
    result = result_of(NO_CLICK.replace("end: reminded}", "end: clicked}"))
    assert result.failures[0] == ("runs[0].end: expected clicked, got reminded "
                                  "(cart_recovery ended reminded)")
    assert result.failures[1].startswith("(journey cart_recovery: entered")


def test_journey_test_mistakes_are_located_by_key_path():
    found = problems("""
  - name: broken
    contact: {id: c1}
    timeline:
      - {at: "2026-11-20T09:00:00Z", event: cart_abandonned}
      - {at: "2026-11-20T10:00:00Z", outcome: clickd, step: reminder}
      - {at: "2026-11-20T11:00:00Z", outcome: clicked, step: remindr}
      - {at: "2026-11-20T12:00:00Z", outcome: clicked, step: done}
    expect:
      sent:
        - {step: reminder, action: cart_sms, channel: email, at: "2026-11-20T10:00:00Z"}
        - {step: sms_nudge, action: nope, channel: sms, at: "2026-11-22T10:00:00Z"}
        - {step: sms_nudge, action: cart_sms, channel: email, at: "2026-11-22T10:00:00Z"}
""")
    expected = [
        "tests[0]: missing required key 'until'",
        "tests[0].timeline[0].event: event 'cart_abandonned' is neither declared",
        "tests[0].timeline[1].outcome: unknown outcome 'clickd'",
        "tests[0].timeline[2].step: unknown step 'remindr'",
        "tests[0].timeline[3].step: step cart_recovery.done sends nothing",
        "tests[0].expect.sent[0].action: step reminder sends cart_email, not cart_sms",
        "tests[0].expect.sent[1].action: unknown action 'nope'",
        "tests[0].expect.sent[2].channel: step sms_nudge sends on sms, not email",
    ]
    for fragment in expected:
        assert any(fragment in p for p in found), (fragment, found)
    assert len(found) == len(expected), found


def test_a_test_is_either_one_decision_or_a_timeline():
    found = problems("""
  - name: both
    at: "2026-11-20T09:00:00Z"
    contact: {id: c1}
    request: {channel: email}
    timeline: []
    until: "2026-11-21T09:00:00Z"
    expect: {sent: []}
""")
    assert len(found) == 1 and found[0].endswith(
        " tests[0].request: a test has either request: (one decision) or timeline: and until: "
        "(journeys), not both")


def test_the_timeline_must_run_forward():
    found = problems(NO_CLICK.replace('until: "2026-11-25T00:00:00Z"',
                                      'until: "2026-11-19T00:00:00Z"'))
    assert len(found) == 1 and "tests[0].until: 2026-11-19T00:00:00Z is before " \
        "tests[0].timeline[0].at" in found[0]


def test_the_test_command_runs_journey_tests_and_fails_on_one(tmp_path):
    (tmp_path / "cart.yaml").write_text(PACK + NO_CLICK.replace("cart_value: 80", "cart_value: 50"))
    for engine in BACKENDS:
        run = subprocess.run([sys.executable, "-m", "engine", "test", str(tmp_path),
                              "--engine", engine], capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 1, run.stdout + run.stderr
        assert ("sent[1]: expected sms_nudge cart_sms on sms at 2026-11-22T10:00:00Z, "
                "got nothing") in run.stdout
        assert f"0 passed, 1 failed ({engine} engine)" in run.stdout
