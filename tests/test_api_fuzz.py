"""No request, however malformed, makes the service answer 500."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.conftest import PACKS

APP = None


def client():
    global APP
    if APP is None:
        APP = create_app({"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "minimal.yaml")})
    return APP.test_client()


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
DECISION_FIELDS = ["contact_id", "channel", "placement", "context", "profile", "limit",
                   "explain", "dry_run", "at"]
field_values = st.one_of(values, st.sampled_from(["email", "sms", "call", "web", "c1",
                                                  "2026-11-22T10:00:00Z", "2026-13-45",
                                                  "0001-01-01T00:00:00Z",
                                                  "9999-12-31T23:59:59+14:00"]))
decision_bodies = st.dictionaries(st.sampled_from(DECISION_FIELDS + ["other"]), field_values,
                                  max_size=9)
outcome_bodies = st.dictionaries(
    st.sampled_from(["decision_id", "action_id", "outcome", "value", "at", "x"]),
    st.one_of(field_values, st.sampled_from(["clicked", "failed", "unsubscribed"])), max_size=6)
contact_bodies = st.dictionaries(st.sampled_from(["profile", "consents", "x"]), values,
                                 max_size=3)

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=st.one_of(decision_bodies, values))
def test_random_decision_bodies_never_cause_a_500(body):
    response = client().post("/v1/decisions", data=json.dumps(body),
                             content_type="application/json")
    assert response.status_code in (200, 400, 422), response.get_json()
    assert response.is_json


@FUZZ
@given(body=st.one_of(outcome_bodies, values))
def test_random_outcome_bodies_never_cause_a_500(body):
    response = client().post("/v1/outcomes", data=json.dumps(body),
                             content_type="application/json")
    assert response.status_code in (200, 400, 404, 422), response.get_json()


@FUZZ
@given(contact_id=st.text(min_size=1, max_size=300).filter(lambda s: "/" not in s and
                                                            s not in (".", "..")),
       body=st.one_of(contact_bodies, values), method=st.sampled_from(["put", "patch"]))
def test_random_contact_writes_never_cause_a_500(contact_id, body, method):
    app = client()
    response = getattr(app, method)(f"/v1/contacts/{contact_id}", data=json.dumps(body),
                                    content_type="application/json")
    assert response.status_code in (200, 400, 404, 422), response.get_json()


@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_cause_a_500(raw):
    response = client().post("/v1/decisions", data=raw, content_type="application/json")
    assert response.status_code in (200, 400, 422)


def _schema_answer(schema, body):
    from marshmallow import ValidationError

    try:
        return "loaded", schema.load(body)
    except ValidationError as exc:
        return "refused", exc.normalized_messages()


def _body_answer(schema, body):
    from marshmallow import ValidationError

    from api.core.bodies import _load

    try:
        return "loaded", _load(schema, body)
    except ValidationError as exc:
        return "refused", exc.normalized_messages()


# Bodies that often load: the required fields present, the others as they come.
nearly_valid_decisions = st.fixed_dictionaries(
    {"contact_id": st.sampled_from(["c1", "x" * 201, ""]),
     "channel": st.sampled_from(["email", "web"])},
    optional={name: st.one_of(field_values, st.booleans(), st.integers(0, 21))
              for name in DECISION_FIELDS[2:]})


@FUZZ
@given(decision=st.one_of(decision_bodies, nearly_valid_decisions), outcome=outcome_bodies,
       contact=contact_bodies)
def test_bodies_load_field_by_field_exactly_as_their_schema_loads_them(decision, outcome,
                                                                       contact):
    from api.schemas.common import ContactBodySchema, DecisionRequestSchema, OutcomeRequestSchema

    for schema, body in ((DecisionRequestSchema(), decision), (OutcomeRequestSchema(), outcome),
                         (ContactBodySchema(), contact)):
        expected = _schema_answer(schema, body)
        assert _body_answer(schema, body) == expected
        if expected[0] == "loaded":
            assert list(_body_answer(schema, body)[1]) == list(expected[1])
