"""Structured logs: one JSON object per line, carrying the decision id.

``NBA_LOG_FORMAT=json`` (the default) or ``text``. An access line is written
for every request with its method, path, status, duration, request id and,
for decisions and outcomes, the decision id and pack hash. Request bodies
and API keys are never logged.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request

access = logging.getLogger("nba.access")
CONTEXT = ("request_id", "decision_id", "pack_hash")
# json.dumps(line, ensure_ascii=False, default=str), without a new encoder per line
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            line.update({k: getattr(g, k) for k in CONTEXT if getattr(g, k, None)})
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _ENCODE(line)


def configure_logging(level: str, fmt: str) -> None:
    """Send the service's logs to stderr in ``fmt`` (json or text)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "nba", False)]:
        root.removeHandler(old)
    handler.nba = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def register_access_log(app: Flask) -> None:
    """Time every request and log one access line when it ends."""

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex

    @app.after_request
    def log_access(response):
        started = getattr(g, "started", None)
        duration = (time.perf_counter() - started) * 1000 if started is not None else None
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        method, path, status = request.method, request.path, response.status_code
        access.info("%s %s %s", method, path, status,
                    extra={"fields": {"method": method, "path": path, "status": status,
                                      "duration_ms": round(duration or 0.0, 3)}})
        return response
