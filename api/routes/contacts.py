"""Contact profiles, consents and history: /v1/contacts/<id>."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from api.core.auth import authorize, current_actor
from api.core.bodies import load_body
from api.core.errors import InvalidRequest, NotFound
from api.schemas.common import MAX_ID, ContactBodySchema, ContactSchema, HistorySchema
from api.schemas.journeys import ContactEventsSchema, ContactJourneysSchema
from engine.model import ContactRecord

blueprint = Blueprint("contacts", __name__, url_prefix="/v1/contacts")
_body = ContactBodySchema()
_contact = ContactSchema()
_history = HistorySchema()
_events = ContactEventsSchema()
_journeys = ContactJourneysSchema()


def _checked_id(contact_id: str) -> str:
    if not contact_id or len(contact_id) > MAX_ID:
        raise InvalidRequest(f"a contact id has 1 to {MAX_ID} characters")
    return contact_id


def _checked_consents(consents: dict) -> dict:
    known = current_app.extensions["nba"].pack.plan.channels
    unknown = sorted(set(consents) - set(known))
    if unknown:
        raise InvalidRequest("consents name channels this pack does not serve",
                             {"consents": {c: [f"unknown channel; known: {', '.join(known)}"]
                                           for c in unknown}})
    return consents


def _answer(record: ContactRecord):
    return jsonify(_contact.dump({"contact_id": record.contact_id, "profile": record.profile,
                                  "consents": record.consents}))


@blueprint.get("/<path:contact_id>/history")
def contact_history(contact_id: str):
    authorize("read_contacts")
    store = current_app.extensions["nba"].store
    contact_id = _checked_id(contact_id)
    entries = store.history(contact_id)
    if not entries and store.get_contact(contact_id) is None:
        raise NotFound(f"no contact {contact_id!r}")
    return jsonify(_history.dump({"contact_id": contact_id, "entries": entries}))


@blueprint.get("/<path:contact_id>/events")
def contact_events(contact_id: str):
    authorize("read_contacts")
    nba = current_app.extensions["nba"]
    contact_id = _checked_id(contact_id)
    events = nba.journeys.store.events(contact_id)
    if not events and nba.store.get_contact(contact_id) is None:
        raise NotFound(f"no contact {contact_id!r}")
    return jsonify(_events.dump({"contact_id": contact_id,
                                 "events": [e.as_value() | {"event_id": e.event_id}
                                            for e in events]}))


@blueprint.get("/<path:contact_id>/journeys")
def contact_journeys(contact_id: str):
    authorize("read_contacts")
    nba = current_app.extensions["nba"]
    contact_id = _checked_id(contact_id)
    state = nba.journeys.contact_runs(contact_id)
    if not state.runs and nba.store.get_contact(contact_id) is None:
        raise NotFound(f"no contact {contact_id!r}")
    runs = [{**vars(run), "next_due_at": run.due_at} for run in state.runs]
    return jsonify(_journeys.dump({"contact_id": contact_id, "runs": runs}))


@blueprint.get("/<path:contact_id>")
def get_contact(contact_id: str):
    authorize("read_contacts")
    record = current_app.extensions["nba"].store.get_contact(_checked_id(contact_id))
    if record is None:
        raise NotFound(f"no contact {contact_id!r}")
    return _answer(record)


@blueprint.put("/<path:contact_id>")
def replace_contact(contact_id: str):
    authorize("write_contacts")
    body = load_body(_body)
    record = ContactRecord(_checked_id(contact_id), body["profile"],
                           _checked_consents(body["consents"]))
    nba = current_app.extensions["nba"]
    stored = nba.store.put_contact(record)
    nba.journeys.profile_changed(stored.contact_id, nba.clock())
    return _answer(stored)


@blueprint.patch("/<path:contact_id>")
def merge_contact(contact_id: str):
    authorize("write_contacts")
    body = load_body(_body)
    store = current_app.extensions["nba"].store
    record = store.patch_contact(_checked_id(contact_id), body["profile"],
                                 _checked_consents(body["consents"]))
    nba = current_app.extensions["nba"]
    nba.journeys.profile_changed(record.contact_id, nba.clock())
    return _answer(record)


@blueprint.delete("/<path:contact_id>")
def erase_contact(contact_id: str):
    authorize("erase_contacts")
    nba = current_app.extensions["nba"]
    contact_id = _checked_id(contact_id)
    erased = nba.store.delete_contact(contact_id)
    erased = nba.journeys.erase(contact_id) or erased  # events, runs, timers, messages
    erased = nba.agenda.store.erase_contact(contact_id) or erased  # tasks, assignments
    if not erased:
        raise NotFound(f"no contact {contact_id!r}")
    nba.authoring.record_erasure(contact_id, current_actor())
    return "", 204
