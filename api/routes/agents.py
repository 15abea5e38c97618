"""Agents, call tasks and agendas: /v1/agents, /v1/tasks."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from flask import Blueprint, current_app, jsonify, request

from api.core.auth import authorize
from api.core.bodies import load_body
from api.core.errors import ApiError, InvalidRequest, NotFound
from api.schemas.agents import (
    AgendaSchema,
    AgentListSchema,
    AgentRequestSchema,
    AgentSchema,
    ReassignRequestSchema,
    TaskListSchema,
    TaskResultRequestSchema,
    TaskResultResponseSchema,
    TaskSchema,
)
from api.schemas.common import MAX_ID
from engine.agenda.hours import agent_zone
from engine.agenda.model import Agent, AgentProblems, Task, TaskResult, agent_from_mapping
from engine.agenda.service import AgendaError
from engine.journeys.tasks import agent_left, reassign_task, record_task_result, start_call

blueprint = Blueprint("agents", __name__, url_prefix="/v1")
_agent_request, _agent, _agents = AgentRequestSchema(), AgentSchema(), AgentListSchema()
_task, _tasks, _agenda = TaskSchema(), TaskListSchema(), AgendaSchema()
_result_request, _result_response = TaskResultRequestSchema(), TaskResultResponseSchema()
_reassign = ReassignRequestSchema()


def _services():
    return current_app.extensions["nba"]


def _agent_id(agent_id: str) -> str:
    if not 1 <= len(agent_id) <= MAX_ID or not agent_id.strip():
        raise NotFound(f"no agent {agent_id!r}")
    return agent_id


def _stored_agent(agent_id: str) -> Agent:
    agent = _services().agenda.store.get_agent(_agent_id(agent_id))
    if agent is None:
        raise NotFound(f"no agent {agent_id!r}")
    return agent


def _stored_task(task_id: str) -> Task:
    task = _services().agenda.store.get_task(task_id) if len(task_id) <= MAX_ID else None
    if task is None:
        raise NotFound(f"no task {task_id!r}")
    return task


def task_json(task: Task) -> dict:
    raw = {name: getattr(task, name) for name in TaskSchema().fields if hasattr(task, name)}
    raw["result"] = asdict(task.result) if task.result is not None else None
    return raw


# -- agents ---------------------------------------------------------------------------


@blueprint.get("/agents")
def list_agents():
    authorize("read_agents")
    return jsonify(_agents.dump({"agents": [a.as_json() for a in _services().agenda.store.agents()]}))


@blueprint.get("/agents/<agent_id>")
def get_agent(agent_id: str):
    authorize("read_agents")
    return jsonify(_agent.dump(_stored_agent(agent_id).as_json()))


@blueprint.put("/agents/<agent_id>")
def put_agent(agent_id: str):
    authorize("write_agents")
    nba = _services()
    body = load_body(_agent_request)
    if body.pop("agent_id", agent_id) != agent_id:
        raise InvalidRequest("agent_id in the body differs from the path",
                             {"agent_id": ["must match the path or be left out"]})
    try:
        agent = agent_from_mapping(_agent_id(agent_id), body)
    except AgentProblems as exc:
        raise InvalidRequest("the agent is invalid; see fields", exc.problems) from exc
    before = nba.agenda.store.get_agent(agent_id)
    nba.agenda.store.put_agent(agent)
    moved = []
    if before is not None and before.active and not agent.active:
        moved = agent_left(nba.journeys, agent_id, nba.clock())
    answer = _agent.dump(agent.as_json())
    answer["reassigned_tasks"] = [t.task_id for t in moved]
    return jsonify(answer), 200 if before is not None else 201


@blueprint.delete("/agents/<agent_id>")
def delete_agent(agent_id: str):
    authorize("write_agents")
    nba = _services()
    _stored_agent(agent_id)
    nba.agenda.store.put_agent(_inactive(nba.agenda.store.get_agent(agent_id)))
    moved = agent_left(nba.journeys, agent_id, nba.clock())
    nba.agenda.store.delete_agent(agent_id)
    return jsonify({"agent_id": agent_id, "deleted": True,
                    "reassigned_tasks": [t.task_id for t in moved]})


def _inactive(agent: Agent) -> Agent:
    from dataclasses import replace

    return replace(agent, active=False)


@blueprint.get("/agents/<agent_id>/agenda")
def agenda(agent_id: str):
    authorize("read_agenda")
    nba = _services()
    agent = _stored_agent(agent_id)
    day = _day(request.args.get("date"), nba.clock(), agent)
    entries = nba.agenda.agenda(agent, day)
    tasks = [{**task_json(e.task), "contact": e.card, "content": e.content,
              "reasons": list(e.reasons), "excluded": list(e.excluded), "preview": e.preview}
             for e in entries]
    return jsonify(_agenda.dump({"agent": agent.as_json(), "date": day, "tasks": tasks}))


def _day(raw: str | None, now: datetime, agent: Agent) -> date:
    if raw is None:
        return now.astimezone(agent_zone(agent)).date()
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else _bad_day(raw)
    except ValueError:
        return _bad_day(raw)


def _bad_day(raw: str) -> date:
    raise InvalidRequest("date is a day like 2026-12-02", {"date": [f"got {raw!r}"]})


# -- tasks ----------------------------------------------------------------------------


@blueprint.get("/tasks/unassigned")
def unassigned():
    authorize("read_unassigned")
    tasks = _services().agenda.store.unassigned_tasks(500)
    return jsonify(_tasks.dump({"tasks": [task_json(t) for t in tasks]}))


@blueprint.get("/tasks/<task_id>")
def get_task(task_id: str):
    authorize("read_agenda")
    return jsonify(_task.dump(task_json(_stored_task(task_id))))


@blueprint.get("/contacts/<path:contact_id>/tasks")
def contact_tasks(contact_id: str):
    authorize("read_agenda")
    tasks = _services().agenda.store.contact_tasks(contact_id) if len(contact_id) <= MAX_ID \
        else []
    return jsonify(_tasks.dump({"tasks": [task_json(t) for t in tasks]}))


@blueprint.post("/tasks/<task_id>/result")
def post_result(task_id: str):
    authorize("record_task_result")
    nba = _services()
    _stored_task(task_id)
    body = load_body(_result_request)
    at = body["at"] or nba.clock()
    if body["callback_at"] is not None and body["outcome"] != "callback":
        raise InvalidRequest("callback_at goes with outcome callback",
                             {"callback_at": ["only with outcome callback"]})
    result = TaskResult(body["outcome"], at, body["notes"], body["value"], body["callback_at"],
                        body["by"])
    task, first = record_task_result(nba.journeys, task_id, result)
    run = nba.journeys.contact_runs(task.contact_id).run(task.run_id) if task.run_id else None
    return jsonify(_result_response.dump({"duplicate": not first, "task": task_json(task),
                                          "run": _run_json(run)}))


def _run_json(run) -> dict | None:
    if run is None:
        return None
    return {"run_id": run.run_id, "journey_id": run.journey_id, "step_id": run.step_id,
            "state": run.state, "next_due_at": run.due_at.isoformat() if run.due_at else None,
            "end": run.end}


@blueprint.post("/tasks/<task_id>/start")
def start(task_id: str):
    """The agent calls now, ahead of the slot: the call is decided now."""
    authorize("record_task_result")
    nba = _services()
    _stored_task(task_id)
    task = start_call(nba.journeys, task_id, nba.clock())
    if task.status != "open":
        reasons = why_not_open(nba, task)
        raise CallNotAllowed("the call is not allowed now: " + "; ".join(reasons),
                             {"reasons": reasons})
    return jsonify(_task.dump(task_json(task)))


def why_not_open(nba, task: Task) -> list[str]:
    """Why a call the agent started did not open: what the decision left out
    (deferred: it stays planned for later) or why it was cancelled."""
    if task.status == "planned":
        return list(nba.agenda.entry(task).excluded) or ["the worker decides it at its slot"]
    return [task.moves[-1]] if task.moves else [f"the task is {task.status}"]


class CallNotAllowed(ApiError):
    status, code = 409, "call_not_allowed"


@blueprint.post("/tasks/<task_id>/reassign")
def reassign(task_id: str):
    authorize("reassign_tasks")
    nba = _services()
    _stored_task(task_id)
    body = load_body(_reassign)
    task = reassign_task(nba.journeys, task_id, nba.clock(), body["agent_id"], body["at"])
    return jsonify(_task.dump(task_json(task)))


AGENDA_ERRORS = {"unknown_task": 404, "unknown_agent": 404, "no_agenda": 404,
                 "task_not_open": 409, "invalid_result": 422, "agenda_busy": 503}


def agenda_error_status(exc: AgendaError) -> int:
    return AGENDA_ERRORS.get(exc.code, 422)
