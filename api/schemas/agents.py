"""Marshmallow schemas of agents, tasks and agendas."""
from __future__ import annotations

from marshmallow import fields, validate

from api.schemas.common import Strict, _when
from engine.agenda.model import RESULTS, TASK_STATES


class AgentSchema(Strict):
    agent_id = fields.String()
    name = fields.String()
    team = fields.String()
    timezone = fields.String()
    working_hours = fields.Dict(keys=fields.String(), values=fields.String())
    capacity_per_day = fields.Integer()
    skills = fields.List(fields.String())
    zones = fields.List(fields.String(), metadata={"description": "postal-code prefixes"})
    active = fields.Boolean()
    default = fields.Boolean(metadata={
        "description": "takes the team's leads that no agent's zones match"})


class AgentListSchema(Strict):
    agents = fields.List(fields.Nested(AgentSchema))


class TaskResultSchema(Strict):
    outcome = fields.String()
    at = fields.AwareDateTime()
    notes = fields.String(allow_none=True)
    value = fields.Float(allow_none=True)
    callback_at = fields.AwareDateTime(allow_none=True)
    by = fields.String(allow_none=True)


class TaskSchema(Strict):
    task_id = fields.String()
    contact_id = fields.String()
    status = fields.String(metadata={"enum": list(TASK_STATES)})
    queue = fields.String()
    team = fields.String(allow_none=True)
    agent_id = fields.String(allow_none=True)
    assigned_by = fields.String()
    action_id = fields.String()
    channel = fields.String()
    slot_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    not_before = fields.AwareDateTime()
    created_at = fields.AwareDateTime()
    attempt = fields.Integer()
    journey_id = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    step_id = fields.String(allow_none=True)
    decision_id = fields.String(allow_none=True)
    result = fields.Nested(TaskResultSchema, allow_none=True)
    moves = fields.List(fields.String())


class AgendaTaskSchema(TaskSchema):
    contact = fields.Dict(metadata={"description": "profile, consents, last contacts"})
    content = fields.Dict(metadata={"description": "the script or content of the call"})
    reasons = fields.List(fields.String())
    excluded = fields.List(fields.String(), metadata={
        "description": "why the call would not be allowed at its slot (preview)"})
    preview = fields.Boolean(metadata={
        "description": "content and reasons of a decision made at the slot, not yet made"})


class AgendaSchema(Strict):
    agent = fields.Nested(AgentSchema)
    date = fields.Date()
    tasks = fields.List(fields.Nested(AgendaTaskSchema))


class TaskListSchema(Strict):
    tasks = fields.List(fields.Nested(TaskSchema))


class TaskResultRequestSchema(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(RESULTS))
    at = _when(load_default=None, metadata={"description": "when the call ended, default now"})
    notes = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=4000))
    value = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                         validate=validate.Range(min=0))
    callback_at = _when(load_default=None, allow_none=True, metadata={
        "description": "with outcome callback: when to call again"})
    by = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 200))


class TaskResultResponseSchema(Strict):
    duplicate = fields.Boolean(metadata={"description": "already recorded: nothing changed"})
    task = fields.Nested(TaskSchema)
    run = fields.Dict(allow_none=True, metadata={
        "description": "the contact's run after the result: step, state, next due time"})


class ReassignRequestSchema(Strict):
    agent_id = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(1, 200))
    at = _when(load_default=None, allow_none=True, metadata={
        "description": "the earliest new slot (default: the task's slot, or now)"})


class AgentRequestSchema(Strict):
    """Fields are checked by ``engine.agenda.model.agent_from_mapping``."""

    agent_id = fields.Raw()
    name = fields.Raw(required=True)
    team = fields.Raw(required=True)
    timezone = fields.Raw()
    working_hours = fields.Raw(required=True)
    capacity_per_day = fields.Raw()
    skills = fields.Raw()
    zones = fields.Raw()
    active = fields.Raw()
    default = fields.Raw()
