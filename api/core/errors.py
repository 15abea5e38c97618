"""Every error the API answers, in one JSON shape, from one place."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from api.core.telemetry import report_exception
from engine.agenda.service import AgendaError
from engine.errors import (
    EngineUnavailable,
    InvalidPack,
    StoreUnavailable,
    UnknownChannel,
    UnknownDecision,
)
from engine.journeys.runner import InvalidEvent

log = logging.getLogger("nba.api")


class ApiError(Exception):
    """An error with its HTTP status, a stable code and a readable message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: Any = None):
        super().__init__(message)
        self.message = message
        self.fields = fields


class MalformedJSON(ApiError):
    status, code = 400, "malformed_json"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class InvalidRequest(ApiError):
    status, code = 422, "invalid_request"


def error_body(status: int, code: str, message: str, fields: Any = None):
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    response = jsonify({"error": error})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn domain, validation and HTTP errors into JSON answers."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_body(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError):
        return error_body(422, "invalid_request", "the request does not match the schema; "
                          "see fields", exc.normalized_messages())

    @app.errorhandler(UnknownChannel)
    def unknown_channel(exc: UnknownChannel):
        return error_body(422, "unknown_channel", str(exc), {"channel": [str(exc)]})

    @app.errorhandler(UnknownDecision)
    def unknown_decision(exc: UnknownDecision):
        return error_body(404, "unknown_decision", str(exc))

    @app.errorhandler(InvalidEvent)
    def invalid_event(exc: InvalidEvent):
        return error_body(422, "invalid_event", "the pack refuses this event; see fields",
                          exc.problems)

    @app.errorhandler(AgendaError)
    def agenda_error(exc: AgendaError):
        from api.routes.agents import agenda_error_status

        return error_body(agenda_error_status(exc), exc.code, str(exc))

    @app.errorhandler(InvalidPack)
    def invalid_pack(exc: InvalidPack):
        return error_body(422, "invalid_pack", "the rule pack is invalid",
                          [str(p) for p in exc.problems])

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        log.error("store unavailable: %s", exc)
        return error_body(503, "store_unavailable", "the contact store cannot be reached; "
                          "nothing was recorded, retry later")

    @app.errorhandler(EngineUnavailable)
    def engine_unavailable(exc: EngineUnavailable):
        log.error("engine failure: %s", exc)
        report_exception(exc)
        return error_body(503, "engine_unavailable", "the decision engine failed on this "
                          "request and has recovered; nothing was recorded, retry it")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if exc.code == 413:
            message = (f"the request body is larger than the "
                       f"{app.config['NBA_MAX_BODY_BYTES']} bytes allowed")
        return error_body(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error")
        report_exception(exc)
        return error_body(500, "internal_error", "the service failed to answer; the error "
                          "was logged")
