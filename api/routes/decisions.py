"""POST /v1/decisions and POST /v1/outcomes."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from api.core import metrics
from api.core.auth import authorize
from api.core.bodies import load_body
from api.core.telemetry import tag_decision
from api.schemas.common import (
    DecisionRequestSchema,
    DecisionResponseSchema,
    OutcomeRequestSchema,
    OutcomeResponseSchema,
)
from engine.model import DecisionRequest, OutcomeReport
from engine.service import DecisionResult

blueprint = Blueprint("decisions", __name__, url_prefix="/v1")
_decision_request = DecisionRequestSchema()
_decision_response = DecisionResponseSchema()
_outcome_request = OutcomeRequestSchema()
_outcome_response = OutcomeResponseSchema()


@blueprint.post("/decisions")
def create_decision():
    nba = current_app.extensions["nba"]
    body = load_body(_decision_request)
    authorize("simulate" if body["dry_run"] else "decide")
    body["at"] = body["at"] or nba.clock()
    decision_id = nba.decisions.new_decision_id(body["contact_id"])
    tag_decision(decision_id, nba.pack.plan.hash)
    started = time.perf_counter()
    asked = DecisionRequest(**body)
    result = nba.decisions.decide(asked, decision_id)
    decision = result.decision
    metrics.record_decision(body["channel"], result.plan.name, len(decision.actions),
                            decision.fallback, decision.exclusion_counts,
                            time.perf_counter() - started)
    if body["explain"]:
        response = jsonify(_decision_response.dump(_decision_answer(result, body,
                                                                    nba.backend_name)))
    else:
        response = jsonify(plain_decision_answer(result, body, nba.backend_name))
    _shadow_after_response(nba, response, asked, result)
    return response


def plain_decision_answer(result: DecisionResult, body: dict, engine: str) -> dict:
    """What DecisionResponseSchema dumps for an answer without explanations, built
    directly: the schema's walk over every field cost about as much as the rest of
    the view (tests/test_api.py holds the two equal). Explanations go through it."""
    decision = result.decision
    plan = result.plan
    fallback = decision.fallback is not None
    return {
        "decision_id": result.decision_id, "contact_id": body["contact_id"],
        "channel": body["channel"], "placement": body["placement"],
        "at": body["at"].isoformat(), "dry_run": body["dry_run"], "recorded": result.recorded,
        "fallback": fallback, "fallback_reason": decision.fallback,
        "pack": {"name": plan.name, "version": plan.version, "hash": plan.hash},
        "engine": engine,
        "actions": [{"action_id": action.action_id, "program": action.program,
                     "kind": action.kind, "channel": action.channel,
                     "score": float(action.score), "content": action.content,
                     "reasons": list(action.reasons), "fallback": fallback}
                    for action in decision.actions],
        "experiments": dict(decision.experiments),
    }


def _shadow_after_response(nba, response, asked: DecisionRequest, result: DecisionResult) -> None:
    """A request drawn into a running shadow is decided by its candidate too, once
    the answer has been sent (gunicorn closes the response after writing it)."""
    run = nba.shadows.sample()
    if run is None:
        return
    actions = tuple(a.action_id for a in result.decision.actions)
    response.call_on_close(lambda: nba.shadows.compare(
        run, nba.decisions.load, asked, result.plan, result.decision_id, actions))


def _decision_answer(result: DecisionResult, body: dict, engine: str) -> dict:
    decision = result.decision
    answer = {
        "decision_id": result.decision_id, "contact_id": body["contact_id"],
        "channel": body["channel"], "placement": body["placement"], "at": body["at"],
        "dry_run": body["dry_run"], "recorded": result.recorded,
        "fallback": decision.fallback is not None, "fallback_reason": decision.fallback,
        "engine": engine,
        "pack": {"name": result.plan.name, "version": result.plan.version,
                 "hash": result.plan.hash},
        # Every action of a fallback answer is the fallback: the flag is the decision's.
        "actions": [{**vars(action), "fallback": decision.fallback is not None}
                    for action in decision.actions],
        "experiments": dict(decision.experiments),
    }
    if body["explain"]:
        answer.update(excluded=decision.excluded, facts=decision.facts, fired=decision.fired)
    return answer


@blueprint.post("/outcomes")
def record_outcome():
    authorize("record_outcome")
    nba = current_app.extensions["nba"]
    body = load_body(_outcome_request)
    body["at"] = body["at"] or nba.clock()
    tag_decision(body["decision_id"], nba.pack.plan.hash)
    recorded = nba.decisions.record_outcome(OutcomeReport(**body))
    if not recorded.duplicate:
        metrics.record_outcome(body["outcome"])
        if recorded.entry.run_id is not None:  # a journey step's message: route its run
            nba.journeys.route_outcome(recorded.contact_id, recorded.entry.run_id,
                                       body["decision_id"], body["outcome"], body["at"])
    return jsonify(_outcome_response.dump({
        "decision_id": body["decision_id"], "action_id": body["action_id"],
        "contact_id": recorded.contact_id, "outcome": body["outcome"],
        "duplicate": recorded.duplicate, "consent_revoked": recorded.consent_revoked,
    }))
