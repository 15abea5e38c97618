"""Learned propensities as authors see them: GET /v1/learning."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, fields

from api.auth import authorize
from api.errors import NotFound
from engine.learning.report import learning_report

blueprint = Blueprint("learning", __name__, url_prefix="/v1")


class _Row(Schema):
    action = fields.String()
    segment = fields.String()
    success = fields.String()
    prior = fields.Float()
    posterior_mean = fields.Float()
    evidence = fields.Float(metadata={"description": "decayed exposures"})
    weighted_successes = fields.Float()
    exposures = fields.Integer()
    successes = fields.Integer()
    cold = fields.Boolean()
    warm_since = fields.String(allow_none=True)


class _Action(_Row):
    segments = fields.List(fields.Nested(_Row))


class _Settings(Schema):
    success = fields.String()
    prior_weight = fields.Float()
    half_life = fields.String()
    segment_by = fields.List(fields.String())
    exploration = fields.String()


class LearningReportSchema(Schema):
    pack = fields.String()
    version = fields.String()
    pack_hash = fields.String()
    learning = fields.Nested(_Settings, allow_none=True)
    actions = fields.List(fields.Nested(_Action))


_report = LearningReportSchema()


@blueprint.get("/learning")
def get_learning():
    """Per learned action of the active pack (and per segment): the posterior now."""
    authorize("read_learning")
    nba = current_app.extensions["nba"]
    plan = nba.pack.plan
    counts = nba.learner.refresh(plan) if plan.learning is not None else {}
    report = learning_report(plan, counts, nba.clock())
    action = request.args.get("action")
    if action is not None:
        report["actions"] = [a for a in report["actions"] if a["action"] == action]
        if not report["actions"]:
            raise NotFound(f"no action {action!r} with a learned propensity in the active pack")
    return jsonify(_report.dump(report))
