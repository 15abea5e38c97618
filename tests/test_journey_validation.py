"""A pack's events and journeys are checked completely when it loads, each
problem with its file, line and key path."""
from __future__ import annotations

import pytest

from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from tests.conftest import PACKS

GOOD = (PACKS / "journeys.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        compile_pack(text.encode(), "pack.yaml")
    return [str(p) for p in caught.value.problems]


def with_journey(steps: str, trigger: str = "{event: signed_up}", extra: str = "") -> str:
    return GOOD + f"""  - id: extra
    program: welcome
    trigger: {trigger}
{extra}    steps:
{steps}"""


def test_the_journeys_pack_loads_its_journeys_and_events():
    plan = compile_pack(GOOD.encode(), "pack.yaml")
    assert [j.id for j in plan.journeys][:5] == ["cart_recovery", "welcome", "winback",
                                                 "birthday", "promo_chain"]
    assert plan.events["order_placed"].data == {"total": "number"}
    cart = plan.journey("cart_recovery")
    assert cart.step("reminder").listen_for.total_seconds() == 48 * 3600
    assert cart.step("sms_nudge").next == "done"
    assert plan.journey("welcome").step("hello").next == "split"  # the following step


def test_an_unknown_step_and_an_unreachable_one_are_located():
    found = problems(with_journey("""      - id: a
        send: {channel: email, actions: [welcome_email]}
        next: nowhere
      - {id: b, end: done}
"""))
    assert any("journeys[8].steps[0].next: unknown step 'nowhere'" in p for p in found), found
    assert any("journeys[8].steps[1]: step b is never reached" in p for p in found), found


def test_a_loop_of_steps_without_a_wait_is_refused_and_one_with_a_wait_is_not():
    loop = """      - {id: a, send: {channel: email, actions: [welcome_email]}, next: b}
      - {id: b, next: a}
"""
    assert any("steps loop without a wait: a -> b -> a" in p for p in problems(with_journey(loop)))
    waited = loop.replace("{id: b, next: a}", "{id: b, wait: 30d, next: a}")
    compile_pack(with_journey(waited).encode(), "pack.yaml")


def test_actions_must_offer_the_step_channel_and_then_needs_a_send():
    found = problems(with_journey("""      - id: a
        send: {channel: sms, actions: [welcome_email, nope]}
      - id: b
        then: [{on: clicked, within: 2d, goto: a}]
"""))
    assert any("steps[0].send.actions[0]: action welcome_email does not offer channel sms" in p
               for p in found), found
    assert any("steps[0].send.actions[1]: unknown action 'nope'" in p for p in found)
    assert any("steps[1].then: then routes on what followed the step's message" in p
               for p in found)


def test_transitions_need_a_window_a_known_outcome_and_one_form():
    found = problems(with_journey("""      - id: a
        send: {channel: email, actions: [welcome_email]}
        then:
          - {on: clicked, goto: b}
          - {on: liked, within: 1d, goto: b}
          - {on: timeout, on_event: order_placed, goto: b}
      - {id: b, end: done}
"""))
    assert any("say how long to wait" in p for p in found), found
    assert any("then[1].on: on is an outcome" in p for p in found), found
    assert any("then[2]: a transition has one of on:" in p for p in found), found


def test_triggers_splits_and_waits_are_checked():
    found = problems(with_journey("""      - id: a
        wait: {until: "9h"}
        split: {x: 1, y: 1}
        branches: {x: a}
""", trigger='{date: birthday, at: "25:00"}'))
    assert any("trigger.date: date names a profile attribute" in p for p in found), found
    assert any("steps[0].wait.until: a time of day is written" in p for p in found), found
    assert any("steps[0]: split gives weights to two or more branches" in p for p in found)
    found = problems(with_journey("      - {id: a, end: done}\n",
                                  trigger="{event: signed_up, no_event: x, for: 3d}"))
    assert any("trigger: a trigger is one of" in p for p in found), found


def test_under_events_strict_undeclared_events_are_refused_where_journeys_name_them():
    strict = with_journey("      - {id: a, end: done}\n", trigger="{event: newsletter_joined}",
                          extra="    exit_on: [unsubscribed_all]\n")
    strict = strict.replace("events:\n", "events_strict: true\nevents:\n", 1)
    found = problems(strict)
    assert any("trigger.event: event 'newsletter_joined' is not declared" in p for p in found)
    assert any("exit_on[0]: event 'unsubscribed_all' is not declared" in p for p in found)


def test_declared_event_fields_have_known_types_and_sets_are_expressions():
    broken = GOOD.replace("data: {total: number}", "data: {total: money}").replace(
        "cart_value: event.data.cart_value}", "cart_value: event.data.cart_value +}")
    found = problems(broken)
    assert any("events.order_placed.data.total: a data field's type is one of" in p
               for p in found), found
    assert any("events.cart_abandoned.set.cart_value" in p for p in found), found


def test_journeys_send_on_outbound_channels_only():
    pack = GOOD.replace("  call: {cost: 3.5, consent: opt_out, capacity_per_day: 1}",
                        "  call: {cost: 3.5, consent: opt_out, capacity_per_day: 1}\n"
                        "  web: {inbound: true}").replace(
        "channels: [email], priority: 50, value: 5}",
        "channels: [email, web], priority: 50, value: 5}")
    found = problems(pack + """  - id: extra
    program: welcome
    trigger: {event: signed_up}
    steps:
      - {id: a, send: {channel: web, actions: [welcome_email]}}
""")
    assert any("steps[0].send.channel: web is an inbound channel" in p for p in found), found


def test_a_webhook_channel_names_its_secret_variable_never_the_secret():
    pack = GOOD.replace("  email: {cost: 0.002}",
                        "  email: {cost: 0.002, deliver: {webhook: ftp://x, secret_env: s3cr3t}}")
    found = problems(pack)
    assert any("channels.email.deliver.webhook: webhook is an http:// or https:// URL" in p
               for p in found), found
    assert any("channels.email.deliver.secret_env: secret_env names the environment" in p
               for p in found), found
