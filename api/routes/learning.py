"""Learned propensities and experiments as authors see them: GET /v1/learning,
GET /v1/experiments and GET /v1/experiments/<id>."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, fields

from api.core.auth import authorize
from api.core.errors import NotFound
from engine.learning.experiment_report import report_of
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


class _Arm(Schema):
    arm = fields.String()
    units = fields.Integer(metadata={"description": "contacts (runs for a journey split)"})
    conversions = fields.Integer()
    rate = fields.Float()
    rate_low = fields.Float(metadata={"description": "Wilson 95 % interval"})
    rate_high = fields.Float()
    revenue = fields.Float()
    revenue_per_unit = fields.Float()
    unsubscribed = fields.Integer()
    complained = fields.Integer()
    lift = fields.Float(allow_none=True, metadata={"description": "rate minus the baseline's"})
    lift_low = fields.Float(allow_none=True)
    lift_high = fields.Float(allow_none=True)
    relative_lift = fields.Float(allow_none=True)
    significant = fields.Boolean(allow_none=True)


class ExperimentReportSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"enum": ["holdout", "variants", "split"]})
    unit = fields.String()
    goal = fields.Dict(keys=fields.String(), values=fields.String())
    baseline = fields.String()
    arms = fields.List(fields.Nested(_Arm))
    auto_optimise = fields.Boolean()
    winner = fields.String(allow_none=True)


class ExperimentListSchema(Schema):
    experiments = fields.List(fields.Nested(ExperimentReportSchema))


_experiment = ExperimentReportSchema()
_experiments = ExperimentListSchema()


def experiment_answer(plan, experiment) -> dict:
    nba = current_app.extensions["nba"]
    counts = (nba.journeys.store.journey_counts(experiment.journey)
              if experiment.kind == "split" else None)
    return report_of(plan, experiment, nba.decisions.experiments.arms(experiment.id), counts)


@blueprint.get("/experiments")
def list_experiments():
    """Every experiment of the active pack with its report."""
    authorize("read_learning")
    plan = current_app.extensions["nba"].pack.plan
    return jsonify(_experiments.dump(
        {"experiments": [experiment_answer(plan, e) for e in plan.experiments]}))


@blueprint.get("/experiments/<experiment_id>")
def get_experiment(experiment_id: str):
    """One experiment's report: per arm, units, conversions with intervals, lift."""
    authorize("read_learning")
    plan = current_app.extensions["nba"].pack.plan
    experiment = next((e for e in plan.experiments if e.id == experiment_id), None)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id!r} in the active pack; experiments: "
                       f"{', '.join(e.id for e in plan.experiments) or 'none'}")
    return jsonify(_experiment.dump(experiment_answer(plan, experiment)))
