"""Reading request bodies: JSON objects only, through a schema."""
from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema

from api.errors import InvalidRequest, MalformedJSON

MAX_DEPTH = 32


def load_body(schema: Schema) -> dict[str, Any]:
    """The request body, parsed and loaded by ``schema``."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedJSON("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedJSON(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if _depth(body) > MAX_DEPTH:
        raise InvalidRequest(f"the request body is nested more than {MAX_DEPTH} levels deep")
    return schema.load(body)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests objects and arrays, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")
