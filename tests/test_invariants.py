"""Properties that hold whatever the order and timing of decisions."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Desk, at

START = at("2026-11-20T00:00:00Z")
decisions = st.lists(
    st.tuples(st.integers(0, 14 * 24 * 60), st.sampled_from(["email", "sms", "call", "web"]),
              st.integers(1, 3)),
    min_size=1, max_size=25)


def windows_hold(times: list, span: timedelta, most: int) -> bool:
    """No closed interval of length ``span`` holds more than ``most`` of ``times``."""
    times = sorted(times)
    return all(sum(1 for t in times[i:] if t <= start + span) <= most
               for i, start in enumerate(times))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=decisions)
def test_caps_gaps_and_repeats_hold_for_any_sequence_of_decisions(plan):
    desk = Desk()
    desk.contact("c1", {"email": True, "sms": True, "web": True},
                 last_order_at="2026-06-01", total_spend=2400)
    for minutes, channel, limit in plan:
        when = (START + timedelta(minutes=minutes)).isoformat()
        result = desk.decide("c1", channel, when, limit=limit, explain=False,
                             placement="home_banner" if channel == "web" else None)
        chosen = result.decision.actions
        assert len(chosen) <= limit
        groups = [desk.plan.action(a.action_id).group for a in chosen]
        assert len([g for g in groups if g]) == len({g for g in groups if g})
    history = desk.store.history("c1")
    for rule in desk.plan.pressure:
        times = [e.at for e in history if rule.applies_to(e.kind, e.channel, e.program)]
        if rule.min_gap is not None:
            gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
            assert all(gap > rule.min_gap for gap in gaps), (rule.id, sorted(times))
        else:
            assert windows_hold(times, rule.per, rule.max), (rule.id, sorted(times))
    for action in desk.plan.actions:
        if action.repeat:
            times = [e.at for e in history if e.action_id == action.id]
            assert windows_hold(times, action.repeat.within, action.repeat.max), action.id
