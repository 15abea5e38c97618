"""Reading request bodies: JSON objects only, through a schema."""
from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, missing

from api.core.errors import InvalidRequest, MalformedJSON

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
    return _load(schema, body)


def _load(schema: Schema, body: dict[str, Any]) -> dict[str, Any]:
    """``schema.load(body)``, field by field when the schema has no hooks and the body
    no unknown key: what Schema.load does then, without its error bookkeeping (half
    the cost of a decision request's load). Any error goes through ``schema.load``,
    so that the answer lists every field's problem as before."""
    fields = schema.load_fields
    hooks = getattr(schema, "_hooks", None)
    if schema.many or hooks is None or any(hooks.values()):
        return schema.load(body)
    known = {field.data_key or name for name, field in fields.items()}
    if not known.issuperset(body):
        return schema.load(body)
    loaded: dict[str, Any] = {}
    try:
        for name, field in fields.items():
            key = field.data_key or name
            value = field.deserialize(body.get(key, missing), key, body)
            if value is not missing:
                loaded[field.attribute or name] = value  # no dotted attribute in our schemas
    except ValidationError:
        return schema.load(body)
    return loaded


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
