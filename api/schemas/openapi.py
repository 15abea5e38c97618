"""The OpenAPI document, generated from the marshmallow schemas."""
from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from api.routes import reports as rs
from api.schemas import agents as ags
from api.schemas import common as schemas
from api.schemas import journeys as js
from api.schemas import packs as ps

_ERRORS = {
    "400": "malformed JSON", "401": "missing or unknown API key",
    "403": "the key's role may not do this", "404": "unknown contact, decision or pack version",
    "413": "body larger than the limit (64 KiB by default)",
    "422": "schema error, listing each field",
}
_ROUTES = [
    ("/v1/decisions", "post", "Decide the next-best action(s) for a contact on a channel",
     "DecisionRequest", "DecisionResponse"),
    ("/v1/outcomes", "post", "Record what happened after an action", "OutcomeRequest",
     "OutcomeResponse"),
    ("/v1/contacts/{contact_id}", "get", "A contact's profile and consents", None, "Contact"),
    ("/v1/contacts/{contact_id}", "put", "Replace a contact's profile and consents",
     "ContactBody", "Contact"),
    ("/v1/contacts/{contact_id}", "patch", "Merge attributes and consents into a contact",
     "ContactBody", "Contact"),
    ("/v1/contacts/{contact_id}", "delete", "Erase a contact's profile and history", None, None),
    ("/v1/contacts/{contact_id}/history", "get", "A contact's history with outcomes", None,
     "History"),
    ("/v1/contacts/{contact_id}/events", "get", "A contact's events, oldest first", None,
     "ContactEvents"),
    ("/v1/contacts/{contact_id}/journeys", "get", "The journey runs of a contact", None,
     "ContactJourneys"),
    ("/v1/events", "post", "Record an event (idempotent by event_id) and apply it to journeys",
     "EventRequest", "EventResponse"),
    ("/v1/outbox/{channel}", "get", "Lease up to ?limit= messages of an outbound channel "
     "(?lease_seconds=, default 60)", None, "OutboxLease"),
    ("/v1/outbox/{channel}/ack", "post", "Confirm delivered messages", "AckRequest",
     "AckResponse"),
    ("/v1/journeys", "get", "The active pack's journeys", None, "JourneyList"),
    ("/v1/journeys/{journey_id}/stats", "get", "Per-step statistics of a journey", None,
     "JourneyStats"),
    ("/v1/reports/programs", "get", "ROI per program, action and channel over "
     "?from=YYYY-MM-DD (default 28 days before to) to ?to= (exclusive, default tomorrow): "
     "cost, conversions, revenue, unsubscriptions and complaints valued at the pack's "
     "costs, net value, ROI, net value per week (author)", None, "ProgramReport"),
    ("/v1/agents", "get", "Every agent", None, "AgentList"),
    ("/v1/agents/{agent_id}", "get", "An agent", None, "Agent"),
    ("/v1/agents/{agent_id}", "put", "Create or replace an agent (admin); an agent made "
     "inactive hands their open calls to others", "AgentRequest", "Agent"),
    ("/v1/agents/{agent_id}", "delete", "Remove an agent (admin), reassigning their open calls",
     None, None),
    ("/v1/agents/{agent_id}/agenda", "get", "The agent's calls of ?date=YYYY-MM-DD (default "
     "today in the agent's time zone), with each contact's card, script and reasons", None,
     "Agenda"),
    ("/v1/tasks/unassigned", "get", "Calls no agent could take (supervisor)", None, "TaskList"),
    ("/v1/tasks/{task_id}", "get", "A call task", None, "Task"),
    ("/v1/tasks/{task_id}/result", "post", "Record a call's result (once) and route its journey",
     "TaskResultRequest", "TaskResultResponse"),
    ("/v1/tasks/{task_id}/start", "post", "The agent calls now, ahead of the slot: the call "
     "is decided now and opens if allowed (409 call_not_allowed with the reasons otherwise)",
     None, "Task"),
    ("/v1/tasks/{task_id}/reassign", "post", "Move a call to another agent (supervisor)",
     "ReassignRequest", "Task"),
    ("/v1/contacts/{contact_id}/tasks", "get", "A contact's call tasks", None, "TaskList"),
    ("/v1/pack", "get", "The active rule pack", None, "Pack"),
    ("/v1/packs", "post", "Upload a pack version (YAML body, Content-Type: application/yaml, "
     "or JSON): validated, tested, stored inactive; 422 lists every problem", "PackUpload",
     "PackUploadAnswer"),
    ("/v1/packs", "get", "The stored versions of each pack, newest first", None, "PackList"),
    ("/v1/packs/schema", "get", "The JSON Schema of the pack language (no key)", None, None),
    ("/v1/packs/{pack_hash}", "get", "One version with its source (Accept: application/yaml "
     "for the file alone)", None, "PackDetail"),
    ("/v1/packs/{pack_hash}/diff/{other}", "get", "What changes from one version to another",
     None, None),
    ("/v1/packs/{pack_hash}/activate", "post", "Serve a stored version on every worker",
     None, "Activation"),
    ("/v1/packs/rollback", "post", "Back to the previously active version", None,
     "Activation"),
    ("/v1/packs/check", "post", "Validate, test and lint a draft (an upload's body); nothing "
     "is stored, 200 whatever the verdict", "PackUpload", "PackCheck"),
    ("/v1/packs/{pack_hash}/outline", "get", "A version laid out, each item with its line",
     None, None),
    ("/v1/packs/{pack_hash}/try", "post", "A version's decision for a stored or pasted contact, "
     "explained; nothing recorded", "PackTry", "DecisionResponse"),
    ("/v1/packs/{pack_hash}/simulate", "post", "A sample of contacts day by day through a "
     "version (and against another)", "Simulation", None),
    ("/v1/packs/{pack_hash}/shadow", "post", "Shadow a version on a share of the live "
     "decisions for a duration (nothing recorded)", "ShadowRequest", None),
    ("/v1/packs/{pack_hash}/shadow", "get", "How the version's latest shadow differed from "
     "the active version: by channel, by action, examples", None, None),
    ("/v1/packs/{pack_hash}/shadow", "delete", "Stop the version's shadow", None, None),
    ("/v1/me", "get", "The key's role and what it may do", None, None),
    ("/v1/audit", "get", "Uploads, activations, rollbacks, erasures (?limit=, ?before=)",
     None, "AuditList"),
    ("/healthz", "get", "Liveness, active engine and pack", None, "Health"),
    ("/readyz", "get", "Readiness: the store can be reached", None, "Health"),
    ("/metrics", "get", "Prometheus metrics of every worker (no API key: keep it internal)",
     None, None),
]
_SCHEMAS = {
    "DecisionRequest": schemas.DecisionRequestSchema, "DecisionResponse":
    schemas.DecisionResponseSchema, "OutcomeRequest": schemas.OutcomeRequestSchema,
    "OutcomeResponse": schemas.OutcomeResponseSchema, "ContactBody": schemas.ContactBodySchema,
    "Contact": schemas.ContactSchema, "History": schemas.HistorySchema,
    "Pack": schemas.PackSchema, "Health": schemas.HealthSchema, "Error": schemas.ErrorSchema,
    "EventRequest": js.EventRequestSchema, "EventResponse": js.EventResponseSchema,
    "ContactEvents": js.ContactEventsSchema, "ContactJourneys": js.ContactJourneysSchema,
    "OutboxLease": js.OutboxLeaseSchema, "AckRequest": js.AckRequestSchema,
    "AckResponse": js.AckResponseSchema, "JourneyList": js.JourneyListSchema,
    "JourneyStats": js.JourneyStatsSchema,
    "Agent": ags.AgentSchema, "AgentList": ags.AgentListSchema,
    "AgentRequest": ags.AgentRequestSchema, "Agenda": ags.AgendaSchema, "Task": ags.TaskSchema,
    "TaskList": ags.TaskListSchema, "TaskResultRequest": ags.TaskResultRequestSchema,
    "TaskResultResponse": ags.TaskResultResponseSchema,
    "ReassignRequest": ags.ReassignRequestSchema,
    "PackUpload": ps.PackUploadSchema, "PackUploadAnswer": ps.UploadAnswerSchema,
    "PackList": ps.PackListSchema, "PackDetail": ps.PackDetailSchema,
    "Activation": ps.ActivationSchema, "AuditList": ps.AuditListSchema,
    "ProgramReport": rs.ProgramReportSchema,
    "PackCheck": ps.CheckAnswerSchema, "PackTry": ps.TryRequestSchema,
    "Simulation": ps.SimulationRequestSchema, "ShadowRequest": ps.ShadowRequestSchema,
}


@lru_cache(maxsize=1)
def build_spec() -> dict:
    """The OpenAPI 3 document of this API."""
    spec = APISpec(title="Next-best-action decision service", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Decisions, outcomes and contact state. Send "
                                        "'Authorization: Bearer <key>' when keys are set."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in _SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    paths: dict[str, dict] = {}
    for path, method, summary, request, response in _ROUTES:
        paths.setdefault(path, {})[method] = _operation(path, summary, request, response)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(path: str, summary: str, request: str | None, response: str | None) -> dict:
    operation: dict = {"summary": summary, "security": [{"bearer": []}], "responses": {
        code: {"description": text, "content": {"application/json": {"schema": "Error"}}}
        for code, text in _ERRORS.items()}}
    ok = {"description": "OK"}
    if response:
        ok["content"] = {"application/json": {"schema": response}}
    operation["responses"]["204" if response is None else "200"] = ok
    if request:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": request}}}
    names = [name for name in ("contact_id", "channel", "journey_id", "agent_id", "task_id",
                               "pack_hash", "other")
             if f"{{{name}}}" in path]
    if names:
        operation["parameters"] = [{"name": name, "in": "path", "required": True,
                                    "schema": {"type": "string"}} for name in names]
    return operation
