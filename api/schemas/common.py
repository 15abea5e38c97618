"""Marshmallow schemas for every request and response of the API."""
from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from engine.model import OUTCOMES, POLICIES

MAX_ID = 200


class StrictBoolean(fields.Boolean):
    """Only JSON true or false."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: use true or false.")
        return value


class Number(fields.Float):
    """A JSON number (not a quoted one, not true/false)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Not a valid number.")
        return super()._deserialize(value, attr, data, **kwargs)


def _identifier(**kwargs) -> fields.String:
    return fields.String(validate=validate.Length(1, MAX_ID), **kwargs)


EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)


def _when(**kwargs) -> fields.AwareDateTime:
    """An ISO-8601 time (UTC when no offset is given), within a sane range."""
    return fields.AwareDateTime(
        default_timezone=timezone.utc,
        validate=validate.Range(EARLIEST, LATEST, error="Must be between 1970 and 2999."),
        **kwargs)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class DecisionRequestSchema(Strict):
    contact_id = _identifier(required=True)
    channel = _identifier(required=True)
    placement = _identifier(load_default=None, allow_none=True)
    context = fields.Dict(keys=fields.String(), load_default=dict)
    profile = fields.Dict(keys=fields.String(), load_default=dict)
    limit = fields.Integer(strict=True, validate=validate.Range(1, 20), load_default=1)
    explain = StrictBoolean(load_default=False)
    dry_run = StrictBoolean(load_default=False)
    at = _when(load_default=None, metadata={"description": "decision time, default now"})


class PackRefSchema(Schema):
    name = fields.String()
    version = fields.String()
    hash = fields.String()


class ChosenActionSchema(Schema):
    action_id = fields.String()
    program = fields.String()
    kind = fields.String()
    channel = fields.String()
    score = fields.Float()
    content = fields.Raw(metadata={"description": "templates rendered for this contact"})
    reasons = fields.List(fields.String())
    fallback = fields.Boolean(metadata={"description": "the pack's fallback for this slot"})


class ExclusionSchema(Schema):
    action_id = fields.String()
    channel = fields.String()
    policy = fields.String(metadata={"enum": list(POLICIES)})
    rule = fields.String()
    reason = fields.String()
    eligible_again_at = fields.AwareDateTime(allow_none=True)


class DecisionResponseSchema(Schema):
    decision_id = fields.String()
    contact_id = fields.String()
    channel = fields.String()
    placement = fields.String(allow_none=True)
    at = fields.AwareDateTime()
    dry_run = fields.Boolean()
    recorded = fields.Boolean()
    fallback = fields.Boolean(metadata={
        "description": "true when the pack's fallback action was served (never recorded)"})
    fallback_reason = fields.String(allow_none=True, metadata={
        "enum": ["nothing_eligible", "store_unavailable", None]})
    pack = fields.Nested(PackRefSchema)
    engine = fields.String()
    actions = fields.List(fields.Nested(ChosenActionSchema))
    excluded = fields.List(fields.Nested(ExclusionSchema))
    facts = fields.Dict(keys=fields.String())
    fired = fields.List(fields.String())
    experiments = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "experiment id -> the arm of this contact (holdouts, and the variants "
                       "of the chosen actions)"})


class OutcomeRequestSchema(Strict):
    decision_id = _identifier(required=True)
    action_id = _identifier(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    value = Number(load_default=None, allow_none=True)
    at = _when(load_default=None)


class OutcomeResponseSchema(Schema):
    decision_id = fields.String()
    action_id = fields.String()
    contact_id = fields.String()
    outcome = fields.String()
    duplicate = fields.Boolean()
    consent_revoked = fields.String(allow_none=True)


class ContactBodySchema(Strict):
    profile = fields.Dict(keys=fields.String(), load_default=dict)
    consents = fields.Dict(keys=fields.String(), values=StrictBoolean(), load_default=dict)


class ContactSchema(Schema):
    contact_id = fields.String()
    profile = fields.Dict(keys=fields.String())
    consents = fields.Dict(keys=fields.String(), values=fields.Boolean())


class OutcomeEntrySchema(Schema):
    outcome = fields.String()
    at = fields.AwareDateTime()
    value = fields.Float(allow_none=True)


class HistoryEntrySchema(Schema):
    decision_id = fields.String()
    action_id = fields.String()
    program = fields.String()
    kind = fields.String()
    channel = fields.String()
    placement = fields.String(allow_none=True)
    at = fields.AwareDateTime()
    outcomes = fields.List(fields.Nested(OutcomeEntrySchema))
    journey_id = fields.String(allow_none=True, metadata={
        "description": "the journey whose step sent it (null for a live decision)"})
    run_id = fields.String(allow_none=True)
    step_id = fields.String(allow_none=True)


class HistorySchema(Schema):
    contact_id = fields.String()
    entries = fields.List(fields.Nested(HistoryEntrySchema))


class ChannelSchema(Schema):
    name = fields.String()
    cost = fields.Float()
    quiet_hours = fields.String(allow_none=True)
    capacity_per_day = fields.Integer(allow_none=True)
    consent = fields.String()
    inbound = fields.Boolean()


class ActionSummarySchema(Schema):
    id = fields.String()
    program = fields.String()
    kind = fields.String()
    channels = fields.List(fields.String())
    placements = fields.List(fields.String())
    priority = fields.Float()
    group = fields.String(allow_none=True)


class PackSchema(Schema):
    name = fields.String()
    version = fields.String()
    hash = fields.String()
    timezone = fields.String()
    engine = fields.String()
    channels = fields.List(fields.Nested(ChannelSchema))
    actions = fields.List(fields.Nested(ActionSummarySchema))
    policies = fields.Dict()
    fallbacks = fields.Dict(metadata={
        "description": "per inbound channel, placement (or default) to fallback action"})
    history_horizon_days = fields.Float(allow_none=True, metadata={
        "description": "how far back the pack reads history; null when it reads all of it"})


class HealthSchema(Schema):
    status = fields.String()
    engine = fields.String()
    pack = fields.Nested(PackRefSchema)
    store = fields.String()
    worker_pid = fields.Integer(metadata={"description": "the process that answered (each "
                                                         "gunicorn worker follows the active "
                                                         "pack version on its own)"})
    store_circuit = fields.String(allow_none=True, metadata={
        "description": "circuit breaker of a networked store: closed, open or half_open"})


class ErrorDetailSchema(Schema):
    status = fields.Integer()
    code = fields.String()
    message = fields.String()
    fields_ = fields.Raw(data_key="fields")


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)
