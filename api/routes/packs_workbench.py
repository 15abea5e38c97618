"""The authors' workbench over HTTP: check a draft without storing it
(``POST /v1/packs/check``), lay a version out (``GET /v1/packs/<hash>/outline``),
try a version on one contact (``POST /v1/packs/<hash>/try``), shadow a version on
live traffic (``/v1/packs/<hash>/shadow``), and say what the caller's key may do
(``GET /v1/me``). The authors' page calls these.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, g, jsonify

from api.core.auth import PERMISSIONS, authorize, current_actor
from api.core.bodies import load_body
from api.core.errors import InvalidRequest, NotFound, error_body
from api.routes.decisions import _decision_answer
from api.routes.packs import _MESSAGES, _checked_hash, _upload_body, refused, unknown_version
from api.schemas.common import DecisionResponseSchema
from api.schemas.packs import (
    CheckAnswerSchema,
    PackProblemSchema,
    ShadowRequestSchema,
    TryRequestSchema,
)
from engine.authoring.errors import PackRefused, ShadowRefused, UnknownPackVersion
from engine.authoring.service import normal_hash
from engine.authoring.shadow import MAX_DURATION
from engine.errors import InvalidPack
from engine.model import ContactRecord, DecisionRequest

blueprint = Blueprint("packs_workbench", __name__, url_prefix="/v1")
_check = CheckAnswerSchema()
_problems = PackProblemSchema(many=True)
_try = TryRequestSchema()
_decision = DecisionResponseSchema()
_shadow = ShadowRequestSchema()
blueprint.register_error_handler(UnknownPackVersion, unknown_version)
blueprint.register_error_handler(PackRefused, refused)


@blueprint.errorhandler(ShadowRefused)
def _shadow_refused(exc: ShadowRefused):
    return error_body(409, "shadow_refused", str(exc))


@blueprint.errorhandler(InvalidPack)
def _unservable(exc: InvalidPack):
    return refused(PackRefused("invalid_pack", list(exc.problems)))


def _nba():
    return current_app.extensions["nba"]


@blueprint.post("/packs/check")
def check_pack():
    """Validate, test and lint a draft; 200 whatever the verdict, nothing stored."""
    authorize("upload_pack")
    source, _ = _upload_body()
    checked = _nba().authoring.check(source)
    plan = checked.plan
    return jsonify(_check.dump({
        "valid": checked.reason is None, "reason": checked.reason,
        "message": _MESSAGES.get(checked.reason, "the pack is valid and its tests pass")
        .replace("nothing was stored", "it would not be stored"),
        "pack": None if plan is None else {"name": plan.name, "version": plan.version,
                                           "hash": plan.hash},
        "problems": _problems.dump([asdict(p) for p in checked.problems]),
        "tests": [{"name": r.name, "line": r.line, "passed": r.passed,
                   "failures": list(r.failures)} for r in checked.tests],
        "warnings": [asdict(f) for f in checked.warnings]}))


@blueprint.get("/packs/<pack_hash>/outline")
def pack_outline(pack_hash: str):
    authorize("read_pack")
    return jsonify(_nba().authoring.outline(_checked_hash(pack_hash)))


@blueprint.post("/packs/<pack_hash>/try")
def try_pack(pack_hash: str):
    """A stored version's decision for a stored or a pasted contact, explained, as
    a dry run (nothing recorded, whichever version is active)."""
    authorize("upload_pack")
    body = load_body(_try)
    pasted = body.pop("contact")
    if (pasted is None) == (body["contact_id"] is None):
        raise InvalidRequest("send either contact_id (a stored contact) or contact "
                             "({\"id\", \"profile\", \"consents\"}, a pasted one)",
                             {"contact_id": ["give contact_id or contact, not both"]})
    nba = _nba()
    body["at"] = body["at"] or nba.clock()
    record = None if pasted is None else ContactRecord(pasted["id"], pasted["profile"],
                                                       pasted["consents"])
    request = DecisionRequest(**{**body, "contact_id": body["contact_id"] or pasted["id"]},
                              explain=True, dry_run=True)
    result = nba.authoring.try_on(_checked_hash(pack_hash), request, nba.decisions.store,
                                  nba.decisions.events, record)
    answer = {**body, "contact_id": request.contact_id, "explain": True, "dry_run": True}
    return jsonify(_decision.dump(_decision_answer(result, answer, nba.backend_name)))


@blueprint.post("/packs/<pack_hash>/shadow")
def start_shadow(pack_hash: str):
    """Shadow a stored version on ``share`` of the live decision requests for
    ``duration``; replaces any shadow running. 201 with the (empty) report."""
    authorize("upload_pack")
    body = load_body(_shadow)
    if body["duration"] > MAX_DURATION:
        raise InvalidRequest("a shadow runs for at most 7 days",
                             {"duration": ["at most 7d"]})
    shadows = _nba().shadows
    candidate = normal_hash(_checked_hash(pack_hash))
    _nba().authoring.version(candidate)  # 404 for a version the registry does not hold
    run = shadows.start(candidate, body["share"], body["duration"], current_actor())
    _nba().authoring.record_shadow("shadow_start", candidate, current_actor(), {
        "share": run.share, "ends_at": run.ends_at.isoformat(), "against": run.against})
    return jsonify(shadows.report(run.candidate)), 201


@blueprint.get("/packs/<pack_hash>/shadow")
def shadow_report(pack_hash: str):
    """How the latest shadow of this version differed from the active version."""
    authorize("read_pack")
    found = _nba().shadows.report(normal_hash(_checked_hash(pack_hash)))
    if found is None:
        raise NotFound(f"version {pack_hash!r} was never shadowed")
    return jsonify(found)


@blueprint.delete("/packs/<pack_hash>/shadow")
def stop_shadow(pack_hash: str):
    """End this version's shadow now; its report stays readable."""
    authorize("upload_pack")
    candidate = normal_hash(_checked_hash(pack_hash))
    if not _nba().shadows.stop(candidate):
        return error_body(409, "no_shadow_running", f"no shadow of {candidate} is running")
    _nba().authoring.record_shadow("shadow_stop", candidate, current_actor())
    return jsonify(_nba().shadows.report(candidate))


@blueprint.get("/me")
def whoami():
    """The caller's role and what it may do (any valid key)."""
    authorize("whoami")
    may = sorted(name for name, roles in PERMISSIONS.items() if g.role in roles)
    if current_app.config["NBA_AUTHORS_MAY_ACTIVATE"] and "upload_pack" in may \
            and "activate_pack" not in may:
        may = sorted([*may, "activate_pack"])
    return jsonify({"role": g.role, "may": may,
                    "open": not _nba().api_keys})
