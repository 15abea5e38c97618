"""The active pack, health, readiness, the OpenAPI document and the API docs."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from api.core import metrics
from api.core.auth import authorize
from api.core.errors import error_body
from api.schemas.common import HealthSchema, PackSchema
from api.schemas.openapi import build_spec

blueprint = Blueprint("meta", __name__)
_pack = PackSchema()
_health = HealthSchema()
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Next-best-action API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#docs"});</script>
</body></html>"""


def _pack_ref(plan) -> dict:
    return {"name": plan.name, "version": plan.version, "hash": plan.hash}


@blueprint.get("/v1/pack")
def active_pack():
    authorize("read_pack")
    nba = current_app.extensions["nba"]
    plan = nba.pack.plan
    return jsonify(_pack.dump({
        **_pack_ref(plan), "timezone": plan.timezone, "engine": nba.backend_name,
        "channels": [{**vars(c), "quiet_hours": c.quiet_hours_text} for c in plan.channels.values()],
        "actions": [{"id": a.id, "program": a.program, "kind": a.kind, "channels": a.channels,
                     "placements": sorted(a.placements), "priority": a.priority,
                     "group": a.group} for a in plan.actions],
        "policies": {"pressure": [p.id for p in plan.pressure],
                     "suppress": [s.id for s in plan.suppress],
                     "arbitration": plan.arbitration.source},
        "fallbacks": {channel: dict(slots) for channel, slots in plan.fallbacks.items()},
        "history_horizon_days": None if plan.history_horizon is None
        else plan.history_horizon.total_seconds() / 86_400,
    }))


@blueprint.get("/healthz")
def health():
    nba = current_app.extensions["nba"]
    return jsonify(_health.dump({"status": "ok", "engine": nba.backend_name,
                                 "pack": _pack_ref(nba.pack.plan), "store": nba.store_kind,
                                 "worker_pid": os.getpid()}))


@blueprint.get("/readyz")
def ready():
    nba = current_app.extensions["nba"]
    try:
        healthy = nba.store.ping()
    except Exception:  # any store failure means not ready
        healthy = False
    circuit = getattr(nba.store, "circuit_state", None)
    if not healthy:
        detail = f" (circuit {circuit})" if circuit else ""
        return error_body(503, "store_unavailable",
                          f"the contact store cannot be reached{detail}")
    return jsonify(_health.dump({"status": "ready", "engine": nba.backend_name,
                                 "pack": _pack_ref(nba.pack.plan), "store": nba.store_kind,
                                 "store_circuit": circuit}))


@blueprint.get("/metrics")
def prometheus_metrics():
    """Prometheus text format; no API key: expose it on the internal network only."""
    body, content_type = metrics.exposition()
    nba = current_app.extensions["nba"]
    try:
        queue = nba.journeys.store
        body += metrics.journey_queue_lines(queue.oldest_due(), queue.pending_timers(),
                                            nba.clock())
    except Exception:  # the store down must not hide the other metrics
        pass
    return Response(body, content_type=content_type)


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(build_spec())


@blueprint.get("/docs")
def docs():
    return Response(_DOCS_PAGE, mimetype="text/html")


@blueprint.get("/docs/static/<path:filename>")
def docs_static(filename: str):
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(Path(swagger_ui_path), filename)
