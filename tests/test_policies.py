"""Each policy, as a marketer would see it hold across decisions."""
from __future__ import annotations

from tests.conftest import at

EMAIL_OK = {"email": True, "sms": True}


def excluded(result, action_id):
    return next(e for e in result.decision.excluded if e.action_id == action_id)


def test_the_best_scored_eligible_action_wins(desk):
    desk.contact("c1", EMAIL_OK, scores={"appetence": 0.5})
    assert desk.chosen("c1", "email", "2026-11-22T10:00:00Z") == ["promo_black_friday"]


def test_a_fourth_promotion_in_a_week_is_refused_and_says_when_it_frees(desk):
    desk.contact("c1", EMAIL_OK)
    days = ["2026-11-20T09:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T11:00:00Z"]
    for day in days:
        assert desk.chosen("c1", "email", day) == ["promo_black_friday"]
    result = desk.decide("c1", "email", "2026-11-23T12:00:00Z")
    assert [a.action_id for a in result.decision.actions] == ["newsletter"]
    refusal = excluded(result, "promo_black_friday")
    assert (refusal.policy, refusal.rule) == ("pressure", "weekly_promotions")
    assert refusal.eligible_again_at == at("2026-11-27T09:00:00Z")
    assert "at most 3" in refusal.reason


def test_a_failed_delivery_gives_its_pressure_slot_back(desk):
    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-16T10:00:00Z")
    desk.chosen("c1", "email", "2026-11-18T10:00:00Z")
    desk.chosen("c1", "email", "2026-11-20T10:00:00Z")
    desk.outcome(first, "failed", "2026-11-16T10:05:00Z")
    assert desk.chosen("c1", "email", "2026-11-22T10:00:00Z") == ["promo_black_friday"]


def test_entries_recorded_for_a_later_time_count_against_the_cap(desk):
    desk.contact("c1", EMAIL_OK)
    for day in ["2026-11-25T10:00:00Z", "2026-11-27T10:00:00Z", "2026-11-29T10:00:00Z"]:
        desk.chosen("c1", "email", day)
    result = desk.decide("c1", "email", "2026-11-23T10:00:00Z")
    assert excluded(result, "promo_black_friday").policy == "pressure"


def test_contacts_stay_a_minimum_gap_apart(desk):
    desk.contact("c1", EMAIL_OK)
    assert desk.chosen("c1", "email", "2026-11-22T10:00:00Z") == ["promo_black_friday"]
    result = desk.decide("c1", "sms", "2026-11-22T15:00:00Z")
    assert result.decision.actions == ()
    gap = excluded(result, "promo_generic")
    assert (gap.policy, gap.rule) == ("pressure", "breathing_space")
    assert gap.eligible_again_at == at("2026-11-23T10:00:00Z")


def test_without_consent_no_marketing_email_but_the_order_confirmation_goes_out(desk):
    desk.contact("c1", {"email": False})
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z",
                         context={"event": "order_placed", "order_id": "A-17"})
    assert [a.action_id for a in result.decision.actions] == ["order_confirmation"]
    assert result.decision.actions[0].content == {"subject": "Commande A-17 confirmée"}
    assert excluded(result, "promo_black_friday").policy == "consent"


def test_a_channel_without_recorded_consent_is_opt_in_by_default(desk):
    desk.contact("c1", {})
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z")
    assert result.decision.actions == ()
    assert "has not agreed" in excluded(result, "newsletter").reason


def test_an_opt_out_channel_only_blocks_an_explicit_refusal(desk):
    desk.contact("c1", {}, last_order_at="2026-06-01", total_spend=2400)
    assert desk.chosen("c1", "call", "2026-11-22T10:00:00Z") == ["winback_call"]
    desk.contact("c2", {"call": False}, last_order_at="2026-06-01", total_spend=2400)
    result = desk.decide("c2", "call", "2026-11-22T10:00:00Z")
    assert excluded(result, "winback_call").policy == "consent"


def test_sms_marketing_waits_for_the_end_of_quiet_hours_in_the_contacts_timezone(desk):
    desk.contact("c1", EMAIL_OK)
    result = desk.decide("c1", "sms", "2026-11-22T21:30:00Z")  # 22:30 in Paris
    quiet = excluded(result, "promo_black_friday")
    assert quiet.policy == "quiet_hours"
    assert quiet.eligible_again_at == at("2026-11-23T07:00:00Z")  # 08:00 in Paris
    desk.contact("c2", EMAIL_OK, timezone="America/New_York")  # 16:30 there
    assert desk.chosen("c2", "sms", "2026-11-22T21:30:00Z") == ["promo_black_friday"]


def test_the_same_message_is_not_repeated_within_its_window(desk):
    desk.contact("c1", {"email": True})
    desk.remember("c1", "newsletter", "email", "2026-11-12T10:00:00Z")
    result = desk.decide("c1", "email", "2026-11-14T10:00:00Z", limit=3)
    repeat = excluded(result, "newsletter")
    assert (repeat.policy, repeat.rule) == ("repeat", "newsletter")
    assert repeat.eligible_again_at == at("2026-11-19T10:00:00Z")


def test_a_rejected_offer_is_suppressed_for_thirty_days(desk):
    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-20T10:00:00Z")
    desk.outcome(first, "rejected", "2026-11-20T12:00:00Z")
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z")
    refusal = excluded(result, "promo_black_friday")
    assert (refusal.policy, refusal.rule) == ("suppression", "refused_action")
    assert refusal.eligible_again_at == at("2026-12-20T12:00:00Z")
    assert [a.action_id for a in result.decision.actions] == ["promo_generic"]


def test_a_complaint_stops_every_commercial_message_but_not_relational_ones(desk):
    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-20T10:00:00Z")
    desk.outcome(first, "complained", "2026-11-20T11:00:00Z")
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z")
    assert excluded(result, "promo_generic").policy == "suppression"
    assert [a.action_id for a in result.decision.actions] == ["newsletter"]


def test_unsubscribing_revokes_consent_on_that_channel(desk):
    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-20T10:00:00Z")
    recorded = desk.outcome(first, "unsubscribed", "2026-11-20T11:00:00Z")
    assert recorded.consent_revoked == "email"
    assert desk.store.get_contact("c1").consents == {"email": False, "sms": True}
    assert desk.chosen("c1", "email", "2026-11-25T10:00:00Z") == []


def test_posting_the_same_outcome_twice_has_one_effect(desk):
    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-20T10:00:00Z")
    assert not desk.outcome(first, "clicked", "2026-11-20T11:00:00Z").duplicate
    assert desk.outcome(first, "clicked", "2026-11-20T11:30:00Z").duplicate
    [entry] = desk.store.history("c1")
    assert [o.outcome for o in entry.outcomes] == ["clicked"]


def test_one_action_per_group_and_limit_orders_the_rest(desk):
    desk.contact("c1", {"email": True}, scores={"appetence": 0.5})
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z", limit=3)
    assert [a.action_id for a in result.decision.actions] == ["promo_black_friday"]
    assert excluded(result, "promo_generic").policy == "group"
    assert excluded(result, "newsletter").rule == "breathing_space"


def test_a_seasonal_offer_is_only_valid_within_its_dates(desk):
    desk.contact("c1", EMAIL_OK)
    before = desk.decide("c1", "email", "2026-11-19T10:00:00Z", dry_run=True)
    assert excluded(before, "promo_black_friday").policy == "validity"
    assert excluded(before, "promo_black_friday").eligible_again_at == at("2026-11-19T23:00:00Z")
    after = desk.decide("c1", "email", "2026-12-01T23:30:00Z", dry_run=True)
    assert excluded(after, "promo_black_friday").policy == "validity"


def test_a_banner_only_fills_its_own_placement(desk):
    assert desk.chosen("visitor-9", "web", "2026-11-22T10:00:00Z",
                       placement="home_banner", profile={"consents": {"web": True}}) \
        == ["home_banner_offer"]
    result = desk.decide("visitor-9", "web", "2026-11-22T10:00:00Z", placement="checkout",
                         profile={"consents": {"web": True}})
    assert excluded(result, "home_banner_offer").policy == "placement"


def test_an_unknown_contact_is_decided_for_and_recorded_under_its_id(desk):
    result = desk.decide("lead-42", "email", "2026-11-22T10:00:00Z",
                         profile={"consents": {"email": True}})
    assert result.recorded
    assert [e.action_id for e in desk.store.history("lead-42")] == ["promo_black_friday"]
    assert desk.store.get_contact("lead-42").profile == {}


def test_a_dry_run_records_nothing(desk):
    desk.contact("c1", EMAIL_OK)
    result = desk.decide("c1", "email", "2026-11-22T10:00:00Z", dry_run=True)
    assert result.decision.actions and not result.recorded
    assert desk.store.history("c1") == ()


def test_call_capacity_is_shared_by_every_contact_for_the_local_day(desk):
    for name in ("a", "b", "c"):
        desk.contact(name, {}, last_order_at="2026-06-01", total_spend=2400)
    assert desk.chosen("a", "call", "2026-11-22T10:00:00Z") == ["winback_call"]
    assert desk.chosen("b", "call", "2026-11-22T11:00:00Z") == ["winback_call"]
    result = desk.decide("c", "call", "2026-11-22T12:00:00Z")
    assert result.decision.actions == ()
    full = excluded(result, "winback_call")
    assert (full.policy, full.rule) == ("capacity", "call.capacity_per_day")
    assert full.eligible_again_at == at("2026-11-22T23:00:00Z")  # midnight in Paris
    assert desk.chosen("c", "call", "2026-11-23T09:00:00Z") == ["winback_call"]


def test_facts_chain_forward_whatever_order_they_are_written_in(desk):
    desk.contact("c1", {"call": True}, last_order_at="2026-06-01", total_spend=2400)
    result = desk.decide("c1", "call", "2026-11-22T10:00:00Z")
    assert result.decision.facts == {"lifecycle": "lapsed", "vip_at_risk": True}
    assert result.decision.fired == ("lapsed", "vip_at_risk")


def test_each_returned_action_explains_its_score(desk):
    desk.contact("c1", EMAIL_OK)
    [action] = desk.decide("c1", "email", "2026-11-22T10:00:00Z").decision.actions
    assert action.score == round(0.05 * 20 * 60 / 100 - 0.002, 6)
    assert any(r.startswith("score 0.598 = propensity * value * priority / 100 - cost")
               for r in action.reasons)


def test_swapping_the_pack_changes_the_next_decision_and_keeps_history(desk):
    from engine.language.compiler import compile_pack
    from tests.conftest import PACKS

    desk.contact("c1", EMAIL_OK)
    first = desk.decide("c1", "email", "2026-11-22T10:00:00Z")
    stricter = (PACKS / "minimal.yaml").read_text().replace(
        "{id: weekly_promotions, programs: [promotion], max: 3, per: 7d}",
        "{id: weekly_promotions, programs: [promotion], max: 1, per: 7d}")
    previous = desk.service.pack.swap(compile_pack(stricter.encode(), "stricter.yaml"))
    assert previous.hash == first.plan.hash
    second = desk.decide("c1", "email", "2026-11-24T10:00:00Z")
    assert second.plan.hash != first.plan.hash
    assert excluded(second, "promo_black_friday").rule == "weekly_promotions"
