"""Error reports reach Sentry with the decision id and the pack hash."""
from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from api import create_app
from engine.memory import MemoryStore
from tests.conftest import PACKS


class BrokenStore(MemoryStore):
    """A store whose reads fail in an unexpected way (a bug, not an outage)."""

    def load(self, contact_id):
        raise RuntimeError("disk controller on fire")


class SentryIngest(BaseHTTPRequestHandler):
    events: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        for line in raw.splitlines():
            item = json.loads(line)
            if item.get("exception"):
                SentryIngest.events.append(item)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        return None


@pytest.fixture
def ingest():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentryIngest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SentryIngest.events = []
    yield f"http://public@127.0.0.1:{server.server_address[1]}/1"
    sentry_sdk.get_client().close()
    server.shutdown()
    server.server_close()


def test_an_unexpected_error_is_reported_with_decision_id_and_pack_hash(ingest):
    app = create_app({"NBA_PACK": str(PACKS / "minimal.yaml"), "NBA_STORE": BrokenStore(),
                      "SENTRY_DSN": ingest})
    response = app.test_client().post("/v1/decisions", json={"contact_id": "c1",
                                                              "channel": "email"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    sentry_sdk.flush(timeout=5)
    [event] = SentryIngest.events
    tags = event["tags"]
    assert len(tags["decision_id"]) == 32
    assert tags["pack_hash"] == app.extensions["nba"].pack.plan.hash
    assert "disk controller on fire" in json.dumps(event["exception"])
