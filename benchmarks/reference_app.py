"""The reference for benchmarks/http.py: only the unavoidable work of one decision.

Parse a decision request of the same shape with marshmallow, read the
contact in one Redis call (the same keys and data as the real store), run
one Lua script that checks a window cap and records an entry atomically,
and answer JSON. No rules, no policies: what any implementation must pay.

    REFERENCE_REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -c gunicorn.conf.py \
        benchmarks.reference_app:create_app()
"""
from __future__ import annotations

import json
import os
import time
import uuid

import redis
from flask import Flask, jsonify, request
from marshmallow import Schema, fields, validate

READ = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HVALS', KEYS[3])}
"""
RESERVE = """
local since = ARGV[1]
if redis.call('ZCOUNT', KEYS[2], since, '+inf') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
return 1
"""
WEEK_US = 7 * 86_400 * 1_000_000


class DecisionRequestSchema(Schema):
    contact_id = fields.String(required=True, validate=validate.Length(1, 128))
    channel = fields.String(required=True, validate=validate.Length(1, 64))
    placement = fields.String(load_default=None, allow_none=True)
    context = fields.Dict(load_default=dict)
    profile = fields.Dict(load_default=dict)
    limit = fields.Integer(load_default=1, validate=validate.Range(1, 20))
    explain = fields.Boolean(load_default=False)
    dry_run = fields.Boolean(load_default=False)
    at = fields.AwareDateTime(load_default=None, allow_none=True)


def create_app() -> Flask:
    app = Flask(__name__)
    client = redis.Redis.from_url(os.environ["REFERENCE_REDIS_URL"], decode_responses=True)
    read, reserve = client.register_script(READ), client.register_script(RESERVE)
    schema = DecisionRequestSchema()

    @app.post("/v1/decisions")
    def decide():
        body = schema.load(request.get_json())
        tag = "nba:{" + body["contact_id"] + "}:"
        profile, consents, history = read(keys=[tag + "profile", tag + "consents", tag + "hist"])
        entries = [json.loads(raw) for raw in history]
        now = int(time.time() * 1_000_000)
        decision_id = uuid.uuid4().hex
        field = f"{decision_id}\x1freference"
        entry = json.dumps({"d": decision_id, "a": "reference", "c": body["channel"],
                            "t": str(now)})
        granted = reserve(keys=[tag + "hist", tag + "times"],
                          args=[now - WEEK_US, 1_000_000, field, entry, now])
        return jsonify({"decision_id": decision_id, "contact_id": body["contact_id"],
                        "recorded": bool(granted), "history": len(entries),
                        "actions": [{"action_id": "reference", "channel": body["channel"]}]})

    @app.get("/readyz")
    def ready():
        return jsonify({"status": "ready" if client.ping() else "down"})

    return app
