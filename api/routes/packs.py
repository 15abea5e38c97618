"""The pack registry for rule authors (/v1/packs) and the audit log (/v1/audit).

Each view loads its request, calls the authoring use case once and dumps the
answer; the use cases are engine/authoring/service.py.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict

from flask import Blueprint, Response, current_app, jsonify, request

from api.core.auth import authorize, current_actor
from api.core.bodies import load_body
from api.core.errors import ApiError, InvalidRequest, NotFound, error_body
from api.schemas.packs import (
    ActivationSchema,
    AuditListSchema,
    AuditQuerySchema,
    PackDetailSchema,
    PackListSchema,
    PackProblemSchema,
    PackUploadSchema,
    PackVersionSchema,
    SimulationRequestSchema,
    UploadAnswerSchema,
)
from engine.authoring.errors import (
    NothingToRollBack,
    PackRefused,
    SimulationTooLarge,
    UnknownPackVersion,
)
from engine.authoring.model import PackMeta
from engine.language.schema import pack_schema
from engine.model import ContactRecord

blueprint = Blueprint("packs", __name__, url_prefix="/v1")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
              "text/plain")
_HASH = re.compile(r"^(sha256:)?[0-9a-f]{16}$")
_MESSAGES = {
    "invalid_pack": "the rule pack is invalid; nothing was stored",
    "untested_pack": "the rule pack has no tests; nothing was stored",
    "pack_tests_failed": "the rule pack's own tests fail; nothing was stored",
}
_upload = PackUploadSchema()
_audit_query = AuditQuerySchema()
_version = PackVersionSchema()
_detail = PackDetailSchema()
_listing = PackListSchema()
_activation = ActivationSchema()
_audit = AuditListSchema()
_problems = PackProblemSchema(many=True)
_answer = UploadAnswerSchema()
_simulation = SimulationRequestSchema()


class PackTooLarge(ApiError):
    status, code = 413, "pack_too_large"


class NoRollback(ApiError):
    status, code = 409, "nothing_to_roll_back"


@blueprint.errorhandler(PackRefused)
def refused(exc: PackRefused):
    response = error_body(422, exc.reason, _MESSAGES.get(exc.reason, exc.reason))
    body = response.get_json()
    body["error"]["problems"] = _problems.dump([asdict(p) for p in exc.problems])
    response.set_data(json.dumps(body))
    return response


@blueprint.errorhandler(UnknownPackVersion)
def unknown_version(exc: UnknownPackVersion):
    return error_body(404, "unknown_pack_version", str(exc))


@blueprint.errorhandler(SimulationTooLarge)
def too_large(exc: SimulationTooLarge):
    return error_body(422, "simulation_too_large", str(exc))


@blueprint.errorhandler(NothingToRollBack)
def nothing_to_roll_back(exc: NothingToRollBack):
    return error_body(409, "nothing_to_roll_back", str(exc))


def _authoring():
    return current_app.extensions["nba"].authoring


def _checked_hash(text: str) -> str:
    if not _HASH.match(text):
        raise NotFound(f"no pack version {text!r}: a version is named by its hash, "
                       "like sha256:0123456789abcdef")
    return text


def _meta(meta: PackMeta, active: str | None) -> dict:
    return {**asdict(meta), "active": meta.hash == active}


@blueprint.post("/packs")
def upload_pack():
    authorize("upload_pack")
    source, label = _upload_body()
    upload = _authoring().upload(source, current_actor(), label)
    active = _authoring().registry.active()
    answer = _answer.dump({"created": upload.created, "pack": _meta(upload.meta, active),
                           "tests": [{"name": r.name, "line": r.line, "passed": r.passed}
                                     for r in upload.tests],
                           "warnings": [asdict(f) for f in upload.warnings]})
    return jsonify(answer), 201 if upload.created else 200


def _upload_body() -> tuple[bytes, str | None]:
    """The pack source and label, from a YAML body (``?label=``) or a JSON one."""
    limit = current_app.config["NBA_MAX_PACK_BYTES"]
    if (request.content_length or 0) > limit:
        raise PackTooLarge(f"the pack is larger than the {limit} bytes allowed")
    request.max_content_length = limit
    mimetype = request.mimetype
    if mimetype in YAML_TYPES:
        raw = request.get_data(cache=True)
        if not raw.strip():
            raise InvalidRequest("the request body is empty; send the pack's YAML")
        label = request.args.get("label")
        if label is not None and len(label) > 200:
            raise InvalidRequest("a label has at most 200 characters")
        return raw, label
    if mimetype != "application/json":
        raise InvalidRequest("send the pack as YAML (Content-Type: application/yaml) or as "
                             "JSON {\"source\": \"...\"} (Content-Type: application/json)")
    body = load_body(_upload)
    return body["source"].encode("utf-8"), body["label"]


@blueprint.get("/packs/schema")
def pack_language_schema():
    """The JSON Schema of packs, for editors; no key needed (it is documentation)."""
    return jsonify(pack_schema())


@blueprint.get("/packs")
def list_packs():
    authorize("read_pack")
    active, versions = _authoring().versions()
    groups: dict[str, list[dict]] = {}
    for meta in reversed(versions):
        groups.setdefault(meta.name, []).append(_meta(meta, active))
    return jsonify(_listing.dump({"active": active, "packs": [
        {"name": name, "versions": items} for name, items in groups.items()]}))


@blueprint.get("/packs/<pack_hash>")
def get_pack(pack_hash: str):
    authorize("read_pack")
    meta, source, active = _authoring().version(_checked_hash(pack_hash))
    if request.accept_mimetypes.best_match(["application/json", "application/yaml"]) \
            == "application/yaml":
        return Response(source, mimetype="application/yaml")
    return jsonify(_detail.dump({**asdict(meta), "active": active, "source": source}))


@blueprint.get("/packs/<pack_hash>/diff/<other>")
def diff_packs(pack_hash: str, other: str):
    authorize("read_pack")
    return jsonify(_authoring().diff(_checked_hash(pack_hash), _checked_hash(other)))


@blueprint.post("/packs/<pack_hash>/simulate")
def simulate_pack(pack_hash: str):
    authorize("upload_pack")
    body = load_body(_simulation)
    nba = current_app.extensions["nba"]
    contacts = [ContactRecord(c["id"], c["profile"], c["consents"]) for c in body["contacts"]]
    against = body["against"]
    if against == "active":
        against = _authoring().registry.active()
    return jsonify(_authoring().simulate(
        _checked_hash(pack_hash), contacts, body["days"], body["start"] or nba.clock(),
        _checked_hash(against) if against else None,
        current_app.config["NBA_SIMULATE_MAX_DECISIONS"]))


@blueprint.post("/packs/<pack_hash>/activate")
def activate_pack(pack_hash: str):
    _authorize_activation()
    active, previous = _authoring().activate(_checked_hash(pack_hash), current_actor())
    return jsonify(_activation.dump({"active": active, "previous": previous}))


@blueprint.post("/packs/rollback")
def rollback_pack():
    _authorize_activation()
    active, undone = _authoring().rollback(current_actor())
    return jsonify(_activation.dump({"active": active, "previous": undone}))


def _authorize_activation() -> None:
    authorize("upload_pack" if current_app.config["NBA_AUTHORS_MAY_ACTIVATE"]
              else "activate_pack")


@blueprint.get("/audit")
def audit_log():
    authorize("read_audit")
    query = _audit_query.load(request.args.to_dict())
    entries = _authoring().audit(query["limit"], query["before"])
    more = len(entries) == query["limit"] and entries[-1].seq > 1
    return jsonify(_audit.dump({"entries": [asdict(e) for e in entries],
                                "next_before": entries[-1].seq if more else None}))
