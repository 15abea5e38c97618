"""Marshmallow schemas of the pack registry and audit API (/v1/packs, /v1/audit)."""
from __future__ import annotations

import re
from datetime import timedelta, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from api.schemas.common import MAX_ID, StrictBoolean, _when
from engine.authoring.service import MAX_LABEL
from engine.language.compiler import MAX_PACK_BYTES


class PackUploadSchema(Schema):
    """The JSON form of an upload (the YAML form sends the source as the body)."""

    class Meta:
        unknown = RAISE

    source = fields.String(required=True, validate=validate.Length(1, MAX_PACK_BYTES))
    label = fields.String(load_default=None, validate=validate.Length(max=MAX_LABEL))


class SimContactSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(1, 200))
    profile = fields.Dict(load_default=dict)
    consents = fields.Dict(keys=fields.String(), values=StrictBoolean(), load_default=dict)


class SimulationRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    contacts = fields.List(fields.Nested(SimContactSchema), required=True,
                           validate=validate.Length(1, 1000))
    days = fields.Integer(load_default=7, validate=validate.Range(1, 366))
    start = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc)
    against = fields.String(load_default=None, validate=validate.Length(1, 80))


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    before = fields.Integer(load_default=None, validate=validate.Range(1))


class ActorSchema(Schema):
    role = fields.String()
    key = fields.String(allow_none=True, metadata={
        "description": "fingerprint of the API key (never the key); null for a process start"})


class TestsSchema(Schema):
    ran = fields.Boolean()
    passed = fields.Integer()
    failed = fields.Integer()


class PackVersionSchema(Schema):
    hash = fields.String()
    name = fields.String()
    version = fields.String()
    label = fields.String(allow_none=True)
    uploaded_by = fields.Nested(ActorSchema)
    uploaded_at = fields.DateTime()
    tests = fields.Nested(TestsSchema)
    warnings = fields.List(fields.String())
    size = fields.Integer()
    active = fields.Boolean()


class PackDetailSchema(PackVersionSchema):
    source = fields.String()


class UploadAnswerSchema(Schema):
    created = fields.Boolean(metadata={"description": "false: this exact source was stored "
                                                      "already"})
    pack = fields.Nested(PackVersionSchema)
    tests = fields.List(fields.Dict())
    warnings = fields.List(fields.Nested(lambda: FindingSchema()), metadata={
        "description": "lint findings: not errors, but what an author wants to know"})


class FindingSchema(Schema):
    line = fields.Integer(allow_none=True)
    path = fields.String()
    code = fields.String()
    message = fields.String()


class PackGroupSchema(Schema):
    name = fields.String()
    versions = fields.List(fields.Nested(PackVersionSchema), metadata={
        "description": "newest first"})


class PackListSchema(Schema):
    active = fields.String(allow_none=True)
    packs = fields.List(fields.Nested(PackGroupSchema))


class ActivationSchema(Schema):
    active = fields.String()
    previous = fields.String(allow_none=True)


class AuditEntrySchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.Nested(ActorSchema)
    action = fields.String()
    what = fields.Dict()


class AuditListSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema))
    next_before = fields.Integer(allow_none=True, metadata={
        "description": "pass as ?before= for the next (older) page; null at the end"})


class PackProblemSchema(Schema):
    line = fields.Integer(allow_none=True)
    column = fields.Integer(allow_none=True)
    path = fields.String()
    message = fields.String()


class CheckedTestSchema(Schema):
    name = fields.String()
    line = fields.Integer(allow_none=True)
    passed = fields.Boolean()
    failures = fields.List(fields.String())


class CheckAnswerSchema(Schema):
    valid = fields.Boolean(metadata={"description": "an upload of this source would be stored"})
    reason = fields.String(allow_none=True, metadata={
        "enum": ["invalid_pack", "untested_pack", "pack_tests_failed", None]})
    message = fields.String()
    pack = fields.Dict(allow_none=True, metadata={"description": "name, version, hash"})
    problems = fields.List(fields.Nested(PackProblemSchema))
    tests = fields.List(fields.Nested(CheckedTestSchema))
    warnings = fields.List(fields.Nested(FindingSchema))


class TryRequestSchema(Schema):
    """A decision of a stored version for one contact: stored (``contact_id``) or
    pasted (``contact``); always explained, never recorded."""

    class Meta:
        unknown = RAISE

    contact_id = fields.String(load_default=None, validate=validate.Length(1, MAX_ID))
    contact = fields.Nested(SimContactSchema, load_default=None)
    channel = fields.String(required=True, validate=validate.Length(1, MAX_ID))
    placement = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(1, MAX_ID))
    context = fields.Dict(keys=fields.String(), load_default=dict)
    limit = fields.Integer(strict=True, validate=validate.Range(1, 20), load_default=1)
    at = _when(load_default=None)


_SPAN = re.compile(r"^\s*([1-9][0-9]{0,6})\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Span(fields.Field):
    """A duration: "60s", "10m", "2h", "1d", or a number of seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            seconds = value
        elif isinstance(value, str) and _SPAN.match(value):
            number, unit = _SPAN.match(value).groups()
            seconds = int(number) * _UNIT[unit]
        else:
            raise ValidationError('A duration like "60s", "10m", "2h", "1d" '
                                  "(or a number of seconds).")
        return timedelta(seconds=seconds)


class ShadowRequestSchema(Schema):
    """Shadow a version: ``share`` of the decision requests, for ``duration``."""

    class Meta:
        unknown = RAISE

    share = fields.Float(required=True, allow_nan=False, validate=validate.Range(
        0, 1, min_inclusive=False, error="share is a fraction of requests, above 0 and at most 1"))
    duration = Span(required=True, metadata={"description": '"60s", "10m", "2h", "1d", at most 7d'})
