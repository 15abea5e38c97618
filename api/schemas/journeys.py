"""Marshmallow schemas of events, journeys and outboxes."""
from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import MAX_ID, Strict, _identifier, _when

MAX_LEASE = 500


class EventRequestSchema(Strict):
    event_id = _identifier(required=True, metadata={
        "description": "idempotency key: the same id twice for a contact has one effect"})
    contact_id = _identifier(required=True)
    type = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$", error="an event type is an id: a letter, then "
                                                 "letters, digits, _ or -"))
    at = _when(load_default=None, metadata={"description": "when it happened, default now"})
    data = fields.Dict(keys=fields.String(), load_default=dict)


class EventResponseSchema(Strict):
    event_id = fields.String()
    contact_id = fields.String()
    type = fields.String()
    at = fields.AwareDateTime()
    duplicate = fields.Boolean(metadata={"description": "already recorded: nothing changed"})
    started = fields.List(fields.Dict())
    advanced = fields.List(fields.Dict())
    ended = fields.List(fields.Dict())


class EventSchema(Strict):
    event_id = fields.String()
    type = fields.String()
    at = fields.AwareDateTime()
    data = fields.Dict()


class ContactEventsSchema(Strict):
    contact_id = fields.String()
    events = fields.List(fields.Nested(EventSchema))


class RunSchema(Strict):
    run_id = fields.String()
    journey_id = fields.String()
    step_id = fields.String(allow_none=True)
    state = fields.String(metadata={"enum": ["active", "waiting", "ended"]})
    next_due_at = fields.AwareDateTime(allow_none=True)
    entered_at = fields.AwareDateTime()
    step_entered_at = fields.AwareDateTime()
    end = fields.String(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    deferred_since = fields.AwareDateTime(allow_none=True)
    branches = fields.Dict()


class ContactJourneysSchema(Strict):
    contact_id = fields.String()
    runs = fields.List(fields.Nested(RunSchema))


class OutboxMessageSchema(Strict):
    message_id = fields.String()
    channel = fields.String()
    contact_id = fields.String()
    action_id = fields.String()
    content = fields.Raw()
    decision_id = fields.String()
    journey_id = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    step_id = fields.String(allow_none=True)
    due_at = fields.AwareDateTime()
    attempts = fields.Integer()


class OutboxLeaseSchema(Strict):
    channel = fields.String()
    lease_seconds = fields.Float()
    messages = fields.List(fields.Nested(OutboxMessageSchema))


class AckRequestSchema(Strict):
    message_ids = fields.List(_identifier(), required=True,
                              validate=validate.Length(1, MAX_LEASE))


class AckResponseSchema(Strict):
    channel = fields.String()
    acked = fields.List(fields.String())
    unknown = fields.List(fields.String())


class JourneySummarySchema(Strict):
    id = fields.String()
    program = fields.String()
    trigger = fields.Dict()
    steps = fields.List(fields.String())
    exit_on = fields.List(fields.String())
    description = fields.String(allow_none=True)


class JourneyListSchema(Strict):
    journeys = fields.List(fields.Nested(JourneySummarySchema))


class JourneyStatsSchema(Strict):
    journey_id = fields.String()
    entered = fields.Integer()
    entry_refused = fields.Integer()
    steps = fields.Dict(metadata={"description": "per step: entered, sent, deferred (by "
                                                 "policy), skipped (by reason), outcomes, "
                                                 "events, branches"})
    ends = fields.Dict(metadata={"description": "runs ended per end label"})
    goals = fields.Dict(metadata={"description": "runs ended per goal event"})


__all__ = ["MAX_ID"]
