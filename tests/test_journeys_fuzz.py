"""No event, outbox request or journey query, however malformed, makes the
service answer 500; the worker then runs over whatever was accepted."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.conftest import PACKS
from tests.test_api_fuzz import values

APP = None


def app():
    global APP
    if APP is None:
        APP = create_app({"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "journeys.yaml")})
    return APP


TYPES = ["cart_abandoned", "order_placed", "signed_up", "quote_signed", "lead_created",
         "page viewed", "", "x" * 101]
field_values = st.one_of(values, st.sampled_from(
    TYPES + ["c1", "e1", "2026-11-22T10:00:00Z", "1970-01-01T00:00:00Z", "2026-13-45",
             "9999-12-31T23:59:59+14:00"]))
data_values = st.one_of(values, st.dictionaries(
    st.sampled_from(["cart_value", "total", "x"]), st.one_of(values, st.floats(0, 1e6)),
    max_size=3))
event_bodies = st.fixed_dictionaries(
    {}, optional={"event_id": field_values, "contact_id": field_values, "type": field_values,
                  "at": field_values, "data": data_values, "other": field_values})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=st.one_of(event_bodies, values))
def test_random_events_never_cause_a_500_and_the_worker_copes_with_what_was_accepted(body):
    client = app().test_client()
    response = client.post("/v1/events", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 422), response.get_json()
    assert response.is_json
    summary = app().extensions["nba"].journeys.run_until_idle(
        datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert summary.errors == 0


@FUZZ
@given(channel=st.sampled_from(["email", "sms", "call", "web", "nope", "%00"]),
       limit=st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 1000).map(str)),
       lease=st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 5000).map(str)))
def test_random_outbox_leases_never_cause_a_500(channel, limit, lease):
    query = "&".join(f"{name}={value}" for name, value in (("limit", limit),
                                                          ("lease_seconds", lease)) if value)
    response = app().test_client().get(f"/v1/outbox/{channel}?{query}")
    assert response.status_code in (200, 404, 422), response.get_json()


@FUZZ
@given(body=st.one_of(st.dictionaries(st.sampled_from(["message_ids", "x"]), values,
                                      max_size=2), values),
       channel=st.sampled_from(["email", "sms", "nope"]))
def test_random_acks_never_cause_a_500(body, channel):
    response = app().test_client().post(f"/v1/outbox/{channel}/ack", data=json.dumps(body),
                                        content_type="application/json")
    assert response.status_code in (200, 400, 404, 422), response.get_json()


@FUZZ
@given(path=st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and
                                                     s not in (".", "..")))
def test_random_journey_and_contact_lookups_never_cause_a_500(path):
    client = app().test_client()
    for url in (f"/v1/journeys/{path}/stats", f"/v1/contacts/{path}/events",
                f"/v1/contacts/{path}/journeys"):
        assert client.get(url).status_code in (200, 404, 422), url


def test_a_path_with_an_empty_segment_is_not_found_not_redirected():
    client = app().test_client()
    for url in ("/v1/contacts//events", "/v1/contacts/\n/journeys", "/v1/journeys//stats"):
        assert client.get(url).status_code == 404, url


def test_an_outbox_lease_in_unicode_digits_is_refused_with_a_clear_error():
    response = app().test_client().get("/v1/outbox/email?lease_seconds=%C2%B9&limit=%D9%A3")
    assert response.status_code == 422
    assert "whole number" in response.get_json()["error"]["message"]
