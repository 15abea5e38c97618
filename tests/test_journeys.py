"""Journeys end to end on the in-memory stores: events start runs, the worker
moves time, outcomes and events route runs, policies defer steps."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.journeys.memory import MemoryJourneyStore
from engine.journeys.model import MESSAGE_STATES, ContactEvent
from engine.journeys.runner import InvalidEvent, JourneyService
from engine.language.compiler import load_pack
from engine.memory import MemoryStore
from engine.model import ContactRecord, OutcomeReport
from engine.service import ActivePack, DecisionService
from tests.conftest import PACKS, engine_backend

PARIS_10 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)  # 10:00 in Paris
HOUR = timedelta(hours=1)


class Chains:
    """The journey service over in-memory stores, as a test drives it."""

    def __init__(self, pack: str = "journeys.yaml"):
        self.plan = load_pack(PACKS / pack)
        self.contacts, self.store = MemoryStore(), MemoryJourneyStore()
        self.decisions = DecisionService(self.contacts, ActivePack(self.plan), engine_backend(),
                                         events=self.store)
        self.service = JourneyService(self.decisions, self.store)
        self.events = 0

    def contact(self, contact_id: str = "c1", **profile) -> None:
        consents = profile.pop("consents", {"email": True, "sms": True, "mail": True})
        self.contacts.put_contact(ContactRecord(contact_id, profile, consents))
        self.service.profile_changed(contact_id, PARIS_10 - timedelta(days=400))

    def event(self, type_: str, at: datetime, contact_id: str = "c1", **data):
        self.events += 1
        return self.service.ingest(ContactEvent(f"e{self.events}", contact_id, type_, at, data))

    def work(self, until: datetime):
        return self.service.run_until_idle(until)

    def sent(self, contact_id: str = "c1") -> list[tuple[str, str, datetime]]:
        found = [m for channel in self.plan.channels for state in MESSAGE_STATES
                 for m in self.store.outbox_messages(channel, state, 100)
                 if m.contact_id == contact_id]
        return [(m.step_id, m.action_id, m.due_at) for m in sorted(found, key=lambda m: m.due_at)]

    def ready(self, channel: str) -> list[str]:
        return [m.step_id for m in self.store.outbox_messages(channel, "ready", 100)]

    def click(self, step_id: str, at: datetime, contact_id: str = "c1", outcome="clicked"):
        entry = next(e for e in reversed(self.contacts.history(contact_id))
                     if e.step_id == step_id)
        self.decisions.record_outcome(OutcomeReport(entry.decision_id, entry.action_id,
                                                    outcome, at))
        return self.service.route_outcome(contact_id, entry.run_id, entry.decision_id,
                                          outcome, at)

    def runs(self, contact_id: str = "c1"):
        return {r.journey_id: r for r in self.store.journey_state(contact_id).runs}


@pytest.fixture
def chains() -> Chains:
    return Chains()


def test_an_abandoned_cart_gets_its_email_an_hour_later_and_a_click_ends_the_run(chains):
    chains.contact(cart_value=0)
    answer = chains.event("cart_abandoned", PARIS_10, cart_value=80)
    assert [r["journey_id"] for r in answer.started] == ["cart_recovery"]
    chains.work(PARIS_10 + 59 * timedelta(minutes=1))
    assert chains.sent() == []
    chains.work(PARIS_10 + HOUR)
    assert chains.sent() == [("reminder", "cart_email", PARIS_10 + HOUR)]
    [message] = chains.store.lease_outbox("email", PARIS_10 + HOUR, 10, 60)
    assert message.content == {"subject": "Your cart of 80 EUR"}
    chains.click("reminder", PARIS_10 + 3 * HOUR)
    chains.work(PARIS_10 + timedelta(days=5))
    assert chains.sent() == [("reminder", "cart_email", PARIS_10 + HOUR)]
    run = chains.runs()["cart_recovery"]
    assert (run.state, run.end) == ("ended", "converted_or_not")


def test_without_a_click_the_sms_follows_two_days_later_deferred_out_of_quiet_hours(chains):
    chains.contact(cart_value=0)
    evening = datetime(2026, 11, 20, 19, 30, tzinfo=timezone.utc)  # 20:30 in Paris
    chains.event("cart_abandoned", evening, cart_value=80)
    chains.work(evening + timedelta(days=4))
    # email at 21:30 Paris (email has no quiet hours), timeout 48 h later at 21:30 Paris,
    # inside the SMS quiet hours 21:00-08:00: deferred to 08:00 Paris (07:00 UTC).
    assert chains.sent() == [
        ("reminder", "cart_email", evening + HOUR),
        ("sms_nudge", "cart_sms", datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc))]
    sms = chains.contacts.history("c1")[-1]
    assert (sms.journey_id, sms.step_id, sms.at) == ("cart_recovery", "sms_nudge",
                                                    datetime(2026, 11, 23, 7, 0,
                                                             tzinfo=timezone.utc))
    stats = chains.store.journey_counts("cart_recovery")
    assert stats["sms_nudge.deferred.quiet_hours"] == 1


def test_a_small_cart_enters_no_run_and_a_cheap_one_skips_the_sms(chains):
    chains.contact(cart_value=0)
    assert chains.event("cart_abandoned", PARIS_10, cart_value=10).started == []
    chains.contact("c2", cart_value=0)
    chains.event("cart_abandoned", PARIS_10, contact_id="c2", cart_value=40)
    chains.work(PARIS_10 + timedelta(days=4))
    assert [s[0] for s in chains.sent("c2")] == ["reminder"]
    assert chains.store.journey_counts("cart_recovery")["sms_nudge.skipped.when"] == 1


def test_a_goal_event_mid_wait_ends_the_run_and_withdraws_its_queued_message(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    chains.work(PARIS_10 + HOUR)
    assert chains.ready("email") == ["reminder"]
    answer = chains.event("order_placed", PARIS_10 + 2 * HOUR, total=80)
    assert [r["journey_id"] for r in answer.ended] == ["cart_recovery"]
    assert chains.ready("email") == []
    assert chains.store.lease_outbox("email", PARIS_10 + 3 * HOUR, 10, 60) == []
    chains.work(PARIS_10 + timedelta(days=5))
    run = chains.runs()["cart_recovery"]
    assert (run.state, run.end) == ("ended", "goal:order_placed")
    assert chains.contacts.get_contact("c1").profile["cart_value"] == 0


def test_two_journeys_wanting_one_weekly_email_compete_and_the_loser_is_deferred(chains):
    chains.contact(cart_value=0, promo=True)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)  # cart_recovery and promo_chain
    chains.work(PARIS_10 + HOUR)
    # promo_email scores 80 * 90 / 100 = 72 against 30 * 60 / 100 = 18: it wins the week.
    assert [s[:2] for s in chains.sent()] == [("promo", "promo_email")]
    stats = chains.store.journey_counts("cart_recovery")
    assert stats["reminder.deferred.pressure"] == 1
    # The reminder may wait up to 8 days (max_delay): it goes out when the week frees.
    chains.work(PARIS_10 + timedelta(days=9))
    assert chains.sent()[:2] == [("promo", "promo_email", PARIS_10 + HOUR),
                                 ("reminder", "cart_email",
                                  PARIS_10 + HOUR + timedelta(days=7, seconds=1))]
    entries = chains.contacts.history("c1")
    assert [e.action_id for e in entries][:2] == ["promo_email", "cart_email"]


def test_a_step_that_cannot_go_out_within_its_max_delay_is_skipped_and_the_run_goes_on():
    chains = Chains()
    chains.contact(cart_value=0)
    chains.decisions.pack.swap(_with_reminder_max_delay(chains.plan, timedelta(days=2)))
    chains.contacts.reserve(_promo_sent(chains.plan, PARIS_10))
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    chains.work(PARIS_10 + timedelta(days=4))
    assert [s[:2] for s in chains.sent()] == [("sms_nudge", "cart_sms")]
    assert chains.store.journey_counts("cart_recovery")["reminder.skipped.max_delay"] == 1


def _with_reminder_max_delay(plan, delay):
    from dataclasses import replace

    journey = plan.journey("cart_recovery")
    steps = tuple(replace(s, max_delay=delay) if s.id == "reminder" else s
                  for s in journey.steps)
    journeys = tuple(replace(j, steps=steps) if j.id == "cart_recovery" else j
                     for j in plan.journeys)
    return replace(plan, journeys=journeys)


def _promo_sent(plan, at):
    from engine.model import HistoryEntry, Reservation

    action = plan.action("promo_email")
    return Reservation("c1", (HistoryEntry("earlier", action.id, action.program, action.kind,
                                           "email", at),))


def test_a_duplicate_event_has_one_effect(chains):
    chains.contact(cart_value=0)
    event = ContactEvent("same", "c1", "cart_abandoned", PARIS_10, {"cart_value": 80})
    assert not chains.service.ingest(event).duplicate
    again = chains.service.ingest(event)
    assert (again.duplicate, again.started) == (True, [])
    assert len(chains.store.journey_state("c1").runs) == 1
    assert len(chains.store.events("c1")) == 1


def test_a_declared_event_with_a_wrong_payload_is_refused_and_changes_nothing(chains):
    chains.contact(cart_value=5)
    with pytest.raises(InvalidEvent) as caught:
        chains.event("cart_abandoned", PARIS_10, cart_value="80")
    assert "data.cart_value" in caught.value.problems
    assert chains.store.events("c1") == ()
    assert chains.contacts.get_contact("c1").profile["cart_value"] == 5
    assert chains.event("page_viewed", PARIS_10, url="/").duplicate is False  # undeclared: kept


def test_the_welcome_split_is_stable_per_run_and_sends_after_its_delay(chains):
    for n in range(40):
        chains.contact(f"w{n}")
        chains.event("signed_up", PARIS_10, contact_id=f"w{n}")
    chains.work(PARIS_10 + timedelta(days=4))
    delays = {n: chains.sent(f"w{n}")[1][2] - PARIS_10 for n in range(40)}
    assert set(delays.values()) == {timedelta(days=1), timedelta(days=3)}
    branch = {n: chains.runs(f"w{n}")["welcome"].branches["split"] for n in range(40)}
    assert all((branch[n] == "a") == (delays[n] == timedelta(days=1)) for n in range(40))
    counts = chains.store.journey_counts("welcome")
    assert counts["split.branch.a"] + counts["split.branch.b"] == 40
    assert counts["end.welcomed"] == 40


def test_sixty_days_without_an_order_start_the_winback_and_an_order_pushes_it_back(chains):
    chains.contact("quiet")
    chains.contact("buyer")
    chains.event("order_placed", PARIS_10, contact_id="quiet", total=10)
    chains.event("order_placed", PARIS_10, contact_id="buyer", total=10)
    chains.event("order_placed", PARIS_10 + timedelta(days=50), contact_id="buyer", total=10)
    chains.work(PARIS_10 + timedelta(days=61))
    assert winback(chains, "quiet") == [("offer", "winback_email", PARIS_10 + timedelta(days=60))]
    assert winback(chains, "buyer") == []
    chains.work(PARIS_10 + timedelta(days=69))
    assert winback(chains, "quiet") == [("offer", "winback_email", PARIS_10 + timedelta(days=60)),
                                        ("letter", "winback_mail", PARIS_10 + timedelta(days=67))]
    chains.work(PARIS_10 + timedelta(days=111))
    assert winback(chains, "buyer")[0][2] == PARIS_10 + timedelta(days=110)


def winback(chains, contact_id):
    return [s for s in chains.sent(contact_id) if s[0] in ("offer", "letter")]


def test_a_birthday_sends_wishes_at_nine_local_every_year(chains):
    chains.contact(birthday="1990-11-25")
    chains.work(datetime(2027, 11, 26, tzinfo=timezone.utc))
    wishes = [s for s in chains.sent() if s[0] == "wishes"]
    # (the contact was created 400 days before PARIS_10: three birthdays since)
    assert [s[2] for s in wishes] == [datetime(2025, 11, 25, 8, 0, tzinfo=timezone.utc),
                                      datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc),
                                      datetime(2027, 11, 25, 8, 0, tzinfo=timezone.utc)]


def test_a_worker_catching_up_decides_each_step_as_of_its_due_time(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    summary = chains.work(PARIS_10 + timedelta(days=30))
    assert summary.sent == 2
    assert [e.at for e in chains.contacts.history("c1")] == [PARIS_10 + HOUR,
                                                            PARIS_10 + HOUR + 48 * HOUR]


def test_erasure_removes_the_contacts_runs_events_and_queued_messages(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    chains.work(PARIS_10 + HOUR)
    assert chains.service.erase("c1")
    assert chains.store.journey_state("c1").runs == () and chains.store.events("c1") == ()
    assert chains.store.lease_outbox("email", PARIS_10 + HOUR, 10, 60) == []
    assert chains.work(PARIS_10 + timedelta(days=5)).claimed == 0


def test_a_new_order_within_the_reentry_period_starts_no_second_run(chains):
    chains.contact()
    assert chains.event("order_placed", PARIS_10, total=10).started[0]["journey_id"] \
        == "post_purchase"
    chains.work(PARIS_10 + timedelta(days=2))
    again = chains.event("order_placed", PARIS_10 + timedelta(days=20), total=10)
    assert "post_purchase" not in [r["journey_id"] for r in again.started]
    later = chains.event("order_placed", PARIS_10 + timedelta(days=31), total=10)
    assert "post_purchase" in [r["journey_id"] for r in later.started]


def test_a_wait_until_a_local_time_sends_at_the_next_nine_oclock(chains):
    chains.contact()
    chains.event("order_placed", PARIS_10, total=10)  # 10:00 in Paris
    chains.work(PARIS_10 + timedelta(days=2))
    assert [s for s in chains.sent() if s[0] in ("thanks", "review")] == [
        ("thanks", "thanks_email", PARIS_10),
        ("review", "review_email", datetime(2026, 11, 21, 8, 0, tzinfo=timezone.utc))]


def test_an_event_within_the_window_takes_its_branch_and_without_it_the_timeout(chains):
    chains.contact("signs")
    chains.contact("silent")
    for contact in ("signs", "silent"):
        chains.event("quote_requested", PARIS_10, contact_id=contact)
    chains.work(PARIS_10)
    answer = chains.event("quote_signed", PARIS_10 + timedelta(days=2), contact_id="signs")
    assert [r["journey_id"] for r in answer.advanced] == ["quote"]
    chains.work(PARIS_10 + timedelta(days=10))
    assert [s[1] for s in chains.sent("signs")] == ["quote_email", "quote_thanks"]
    assert [s[1] for s in chains.sent("silent")] == ["quote_email", "quote_reminder"]
    assert chains.runs("signs")["quote"].end == "signed"
    assert chains.runs("silent")["quote"].end == "unsigned"


def test_a_full_channel_defers_the_call_to_the_next_local_day(chains):
    for contact in ("first", "second"):
        chains.contact(contact)
        chains.event("lead_created", PARIS_10, contact_id=contact)
    chains.work(PARIS_10 + timedelta(days=2))
    calls = sorted((s[2], c) for c in ("first", "second") for s in chains.sent(c))
    # capacity_per_day: 1 call; the second is deferred to midnight in Paris (23:00 UTC)
    assert [t for t, _ in calls] == [PARIS_10, datetime(2026, 11, 20, 23, 0, tzinfo=timezone.utc)]
    assert chains.store.journey_counts("leads")["call.deferred.capacity"] == 1


def test_an_outcome_recorded_but_never_routed_is_routed_by_the_worker(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    chains.work(PARIS_10 + HOUR)
    entry = chains.contacts.history("c1")[0]
    # The API recorded the click and stopped before routing it.
    chains.decisions.record_outcome(OutcomeReport(entry.decision_id, entry.action_id,
                                                  "clicked", PARIS_10 + 2 * HOUR))
    chains.work(PARIS_10 + timedelta(days=5))
    assert [s[0] for s in chains.sent()] == ["reminder"]
    assert chains.runs()["cart_recovery"].end == "converted_or_not"


def test_a_click_after_its_window_does_not_route_the_run(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    chains.work(PARIS_10 + HOUR)
    assert chains.click("reminder", PARIS_10 + HOUR + timedelta(hours=49)) is None
    chains.work(PARIS_10 + timedelta(days=5))
    assert [s[0] for s in chains.sent()] == ["reminder", "sms_nudge"]


def test_a_step_stopped_between_its_reservation_and_its_commit_is_redone_once(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    [timer] = chains.store.claim_due(PARIS_10 + HOUR, 10, 60)
    run = chains.store.journey_state("c1").runs[0]
    step = chains.plan.journey("cart_recovery").step("reminder")
    # The step's decision is recorded, then the worker dies before committing the run.
    from engine.journeys.env import ContactEnv

    first = ContactEnv(chains.decisions, chains.plan, "c1").decide(run, step, PARIS_10 + HOUR)
    assert first.kind == "sent"
    assert chains.store.outbox_messages("email", "ready", 10) == []
    # Its lease ends; the next worker redoes the step: same decision, one entry, one message.
    chains.work(PARIS_10 + HOUR + timedelta(seconds=61))
    assert [e.decision_id for e in chains.contacts.history("c1")] == [first.message.decision_id]
    [message] = chains.store.outbox_messages("email", "ready", 10)
    assert (message.message_id, message.content) == (first.message.message_id,
                                                     first.message.content)
    assert timer.key == run.timer_key


def test_a_run_whose_journey_left_the_pack_ends_saying_so(chains):
    from dataclasses import replace

    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    without = replace(chains.plan, journeys=tuple(j for j in chains.plan.journeys
                                                  if j.id != "cart_recovery"))
    chains.decisions.pack.swap(without)
    chains.work(PARIS_10 + timedelta(days=3))
    run = chains.runs()["cart_recovery"]
    assert (run.state, run.end) == ("ended", "journey_removed")
    assert chains.sent() == []


def test_a_goal_event_from_before_the_run_posted_late_does_not_end_it(chains):
    chains.contact(cart_value=0)
    chains.event("cart_abandoned", PARIS_10, cart_value=80)
    assert chains.event("order_placed", PARIS_10 - HOUR, total=10).ended == []
    chains.work(PARIS_10 + HOUR)
    assert "reminder" in [s[0] for s in chains.sent()]
    assert chains.runs()["cart_recovery"].state == "waiting"
