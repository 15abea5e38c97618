"""Events, journeys and outboxes: /v1/events, /v1/journeys, /v1/outbox."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from api.core import metrics
from api.core.auth import authorize
from api.core.bodies import load_body
from api.core.errors import InvalidRequest, NotFound
from api.schemas.journeys import (
    MAX_LEASE,
    AckRequestSchema,
    AckResponseSchema,
    EventRequestSchema,
    EventResponseSchema,
    JourneyListSchema,
    JourneyStatsSchema,
    OutboxLeaseSchema,
)
from engine.journeys.model import ContactEvent
from engine.journeys.stats import journey_stats, journey_summary

blueprint = Blueprint("journeys", __name__, url_prefix="/v1")
_event_request = EventRequestSchema()
_event_response = EventResponseSchema()
_lease = OutboxLeaseSchema()
_ack_request = AckRequestSchema()
_ack_response = AckResponseSchema()
_journeys = JourneyListSchema()
_stats = JourneyStatsSchema()
DEFAULT_LEASE_S = 60.0


@blueprint.post("/events")
def post_event():
    authorize("post_events")
    nba = current_app.extensions["nba"]
    body = load_body(_event_request)
    body["at"] = body["at"] or nba.clock()
    event = ContactEvent(body["event_id"], body["contact_id"], body["type"], body["at"],
                         body["data"])
    result = nba.journeys.ingest(event)
    metrics.record_event(event.type, result.duplicate)
    return jsonify(_event_response.dump({**body, "duplicate": result.duplicate,
                                         "started": result.started,
                                         "advanced": result.advanced,
                                         "ended": result.ended}))


@blueprint.get("/outbox/<channel>")
def lease_outbox(channel: str):
    authorize("read_outbox")
    nba = current_app.extensions["nba"]
    _outbound(nba.pack.plan, channel)
    limit = _int_arg("limit", 10, 1, MAX_LEASE)
    lease_s = float(_int_arg("lease_seconds", int(DEFAULT_LEASE_S), 1, 3600))
    messages = nba.journeys.store.lease_outbox(channel, nba.clock(), limit, lease_s)
    return jsonify(_lease.dump({"channel": channel, "lease_seconds": lease_s,
                                "messages": messages}))


@blueprint.post("/outbox/<channel>/ack")
def ack_outbox(channel: str):
    authorize("read_outbox")
    nba = current_app.extensions["nba"]
    _outbound(nba.pack.plan, channel)
    ids = load_body(_ack_request)["message_ids"]
    acked = nba.journeys.store.ack_outbox(channel, ids)
    return jsonify(_ack_response.dump({"channel": channel, "acked": acked,
                                       "unknown": [i for i in ids if i not in acked]}))


@blueprint.get("/journeys")
def list_journeys():
    authorize("read_journeys")
    plan = current_app.extensions["nba"].pack.plan
    return jsonify(_journeys.dump({"journeys": [journey_summary(j) for j in plan.journeys]}))


@blueprint.get("/journeys/<journey_id>/stats")
def stats(journey_id: str):
    authorize("read_journeys")
    nba = current_app.extensions["nba"]
    journey = nba.pack.plan.journey(journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id!r} in the active pack")
    counts = nba.journeys.store.journey_counts(journey_id)
    return jsonify(_stats.dump(journey_stats(journey, counts)))


def _outbound(plan, channel: str) -> None:
    found = plan.channels.get(channel)
    if found is None:
        raise NotFound(f"unknown channel {channel!r}; this pack serves: "
                       f"{', '.join(plan.channels)}")
    if found.inbound:
        raise InvalidRequest(f"{channel} is an inbound channel: it has no outbox")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name} is a whole number from {low} to {high}",
                             {name: [f"expected {low}..{high}, got {raw!r}"]})
    return int(raw)
