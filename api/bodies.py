"""Reading request bodies: JSON objects only, through a schema."""
from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema

from api.errors import InvalidRequest, MalformedJSON


def load_body(schema: Schema) -> dict[str, Any]:
    """The request body, parsed and loaded by ``schema``."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedJSON("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return schema.load(body)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
