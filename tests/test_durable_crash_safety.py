"""The known ways to crash durable-rules are out of reach through the engine interface.

Each scenario runs in its own Python process (a crash in the C core would
take pytest down with it), drives ``DurableBackend`` the way the service
does, checks its answers against the compiled backend, and must exit 0.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

PRELUDE = textwrap.dedent("""
    from datetime import datetime, timedelta, timezone
    from engine.backends import CompiledBackend
    from engine.language.compiler import compile_pack, load_pack
    from engine.durable import DurableBackend
    from engine.errors import InvalidPack
    from engine.model import ContactSnapshot, DecisionRequest

    NOW = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
    PLAN = load_pack("tests/packs/minimal.yaml")
    durable, compiled = DurableBackend(), CompiledBackend()

    def same(plan, profile, channel="email", context=None):
        snapshot = ContactSnapshot("c1", profile, profile.get("consents", {}), known=True)
        request = DecisionRequest(contact_id="c1", channel=channel, at=NOW,
                                  context=context or {}, explain=True)
        got = durable.decide(plan, snapshot, request, "d")
        expected = compiled.decide(plan, snapshot, request, "d")
        assert [a.action_id for a in got.actions] == [a.action_id for a in expected.actions]
        assert [e.policy for e in got.excluded] == [e.policy for e in expected.excluded]
        return got
""")

SCENARIOS = {
    "more decisions than the 1,024 live states a ruleset allows": """
        for n in range(3000):
            same(PLAN, {"consents": {"email": True}, "total_spend": n})
    """,
    "states are deleted even when nothing but the sentinel fired": """
        for n in range(1500):
            same(PLAN, {}, channel="web")
    """,
    "huge and odd-typed values from a request": """
        odd = ["x" * 1_000_000, 10**40, -10**40, 1e308, float("inf"), float("nan"),
               1e-05, 1e16, "a\\ud800", "quote\\"back\\\\slash\\x00", [1] * 10_000,
               {"k": list(range(300))}, True, None, "", {}]
        for value in odd:
            for key in ("total_spend", "last_order_at", "scores"):
                same(PLAN, {key: value, "consents": {"email": True}}, context={"event": value})
    """,
    "a context with thousands of attributes": """
        context = {f"k{i}": i for i in range(5000)}
        context["event"] = "order_placed"
        got = same(PLAN, {"consents": {"email": True}}, context=context)
        eligible_failures = [e.action_id for e in got.excluded if e.policy == "eligibility"]
        assert "order_confirmation" not in eligible_failures, got.excluded
    """,
    "pack swaps, back and forth, keep answering": """
        other = compile_pack(PLAN.source.replace('version: "1"', 'version: "2"').encode(), "v2")
        for n in range(200):
            same(PLAN if n % 2 else other, {"consents": {"email": True}})
    """,
    "a pack too big for one fact is refused at prepare, and the backend still serves": """
        actions = "\\n".join(
            f"  - {{id: a{i}, program: p, kind: service, channels: [email], "
            f"when: contact.v{i} == 1 and contact.w{i} > 2 and contact.x{i} != 3}}"
            for i in range(40))
        text = ("pack: big\\nversion: '1'\\ntimezone: UTC\\nchannels:\\n  email: {cost: 0}\\n"
                "facts:\\n  - id: wide\\n    when: " + " and ".join(
                    f"contact.f{i} == {i}" for i in range(230)) + "\\n    set: {w: true}\\n"
                "actions:\\n" + actions + "\\n")
        try:
            durable.prepare(compile_pack(text.encode(), "big.yaml"))
        except InvalidPack as exc:
            assert "durable engine cannot run this" in str(exc), exc
        else:
            raise AssertionError("the pack should have been refused")
        same(PLAN, {"consents": {"email": True}})
    """,
    "an error raised inside a decision leaves the backend usable": """
        from engine.durable import DurableEngineFailure

        class Exploding(dict):
            def get(self, key, default=None):
                raise RuntimeError("a broken context")
        snapshot = ContactSnapshot("c1", {}, {"email": True}, known=True)
        request = DecisionRequest(contact_id="c1", channel="email", at=NOW, context=Exploding())
        for _ in range(50):
            try:
                durable.decide(PLAN, snapshot, request, "d")
            except DurableEngineFailure as exc:
                assert isinstance(exc.__cause__, RuntimeError)
            else:
                raise AssertionError("the error should have surfaced")
        same(PLAN, {"consents": {"email": True}})
    """,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
def test_the_durable_backend_survives(scenario):
    script = PRELUDE + textwrap.dedent(SCENARIOS[scenario]) + "\nprint('survived')\n"
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-2000:]}{run.stderr[-4000:]}"
    assert run.stdout.strip().endswith("survived")
