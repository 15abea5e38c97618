"""The reference for benchmarks/http.py: only the unavoidable work of one decision.

Parse a decision request of the same shape with marshmallow, read the
contact in one Redis call (the same keys and data as the real store), run
one Lua script that checks a window cap and records an entry atomically,
and answer JSON. No rules, no policies: what any implementation must pay.

    REFERENCE_REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -c gunicorn.conf.py \
        benchmarks.reference_app:create_app()
"""
from __future__ import annotations

import os
import time
import uuid

import redis
from flask import Flask, jsonify, request
from marshmallow import Schema, fields, validate

READ = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('GET', KEYS[3]) or ''}
"""
# The store's history log (store/redis/history_log.py): a record per entry after a
# newline, its time the seventh field.
RESERVE = """
local log = redis.call('GET', KEYS[1]) or ''
local since, recent = tonumber(ARGV[1]), 0
for at in string.gmatch(log, '\\n' .. string.rep('[^\\31]*\\31', 6) .. '([^\\31\\30]*)') do
  if tonumber(at) >= since then recent = recent + 1 end
end
if recent >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], log .. '\\n' .. ARGV[3])
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
        profile, consents, log = read(keys=[tag + "profile", tag + "consents", tag + "log"])
        entries = [line.split("\x1f") for line in log.split("\n")[1:]]
        now = int(time.time() * 1_000_000)
        decision_id = uuid.uuid4().hex
        record = "\x1f".join((decision_id, "reference", "p", "3", body["channel"], "",
                              str(now), "", "", ""))
        granted = reserve(keys=[tag + "log"], args=[now - WEEK_US, 1_000_000, record])
        return jsonify({"decision_id": decision_id, "contact_id": body["contact_id"],
                        "recorded": bool(granted), "history": len(entries),
                        "actions": [{"action_id": "reference", "channel": body["channel"]}]})

    @app.get("/readyz")
    def ready():
        return jsonify({"status": "ready" if client.ping() else "down"})

    return app
