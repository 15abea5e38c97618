"""Webhook delivery against a real HTTP receiver on the loopback interface."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.delivery import DeliveryConfigurationError, WebhookDelivery, verify
from engine.journeys.memory import MemoryJourneyStore
from engine.journeys.model import OutboxMessage, RunChange
from engine.plan import ChannelPlan

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
SECRET_ENV = "NBA_WEBHOOK_SECRET_EMAIL"
SECRET = "s3cret-for-tests"
TIMEOUT_S = 0.3


@dataclass
class Received:
    headers: Message  # names are case-insensitive, as in HTTP
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and how it answers: "200", "500", "410" or "hang"."""

    url: str
    answer: str = "200"
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.receiver.requests.append(Received(self.headers, body))
        if self.receiver.answer == "hang":
            # Past the sender's timeout; the test's end releases it.
            self.receiver.release.wait(10)
            self.close_connection = True
            return
        self.send_response(int(self.receiver.answer))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/email")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield handler.receiver
    handler.receiver.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def store() -> MemoryJourneyStore:
    return MemoryJourneyStore()


def email_channel(url: str, max_attempts: int = 5) -> ChannelPlan:
    return ChannelPlan("email", webhook=url, webhook_secret_env=SECRET_ENV,
                       webhook_max_attempts=max_attempts)


def delivery_for(store: MemoryJourneyStore, *channels: ChannelPlan,
                 backoff_s: float = 30.0) -> WebhookDelivery:
    return WebhookDelivery(store, {c.name: c for c in channels}, environ={SECRET_ENV: SECRET},
                           timeout_s=TIMEOUT_S, backoff_s=backoff_s)


def queue(store: MemoryJourneyStore, message_id: str = "m1", channel: str = "email") -> None:
    message = OutboxMessage(message_id, channel, "c1", "welcome", {"subject": "Hello"}, "d1",
                            "onboarding", "r1", "s1", due_at=NOW, created_at=NOW)
    assert store.commit(RunChange("c1", messages=(message,))).ok


def only(store: MemoryJourneyStore, state: str, channel: str = "email") -> OutboxMessage:
    found = store.outbox_messages(channel, state, 10)
    assert len(found) == 1, f"{len(found)} {state} messages in {channel}"
    return found[0]


def test_a_delivered_message_is_signed_and_acked(store, receiver):
    queue(store)
    counts = delivery_for(store, email_channel(receiver.url)).deliver(NOW)
    assert counts == {"delivered": 1, "retried": 0, "failed": 0}
    [request] = receiver.requests
    headers, body = request.headers, request.body
    timestamp, signature = headers["X-NBA-Timestamp"], headers["X-NBA-Signature"]
    # The scheme the module docstring gives receivers, computed independently.
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert signature == f"sha256={expected.hexdigest()}"
    assert verify(SECRET.encode(), timestamp, body, signature, now=time.time())
    assert not verify(SECRET.encode(), timestamp, body.replace(b"Hello", b"Hellx"), signature,
                      now=time.time())
    assert not verify(b"another secret", timestamp, body, signature, now=time.time())
    assert not verify(SECRET.encode(), timestamp, body, signature, now=time.time() + 301)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "nba-decision-service"
    assert headers["X-NBA-Message-Id"] == "m1"
    sent = json.loads(body)
    assert sent["content"] == {"subject": "Hello"}
    assert (sent["due_at"], sent["attempt"], sent["run_id"]) == ("2026-11-20T10:00:00Z", 1, "r1")
    assert only(store, "acked").message_id == "m1"
    assert store.outbox_messages("email", "leased", 10) == []
    assert store.lease_outbox("email", NOW + timedelta(hours=1), 10, 60) == []


@pytest.mark.parametrize("status", ["500", "503", "429"])
def test_a_500_is_retried_after_the_backoff_then_delivered(store, receiver, status):
    queue(store)
    delivery = delivery_for(store, email_channel(receiver.url))
    receiver.answer = status
    assert delivery.deliver(NOW)["retried"] == 1
    assert only(store, "ready").last_error == f"HTTP {status}"
    receiver.answer = "200"
    assert delivery.deliver(NOW + timedelta(seconds=29))["delivered"] == 0
    assert len(receiver.requests) == 1
    assert delivery.deliver(NOW + timedelta(seconds=30))["delivered"] == 1
    assert [json.loads(r.body)["attempt"] for r in receiver.requests] == [1, 2]
    assert only(store, "acked").attempts == 2


def test_the_backoff_doubles_and_stops_at_an_hour(store, receiver):
    queue(store)
    delivery = delivery_for(store, email_channel(receiver.url), backoff_s=2000)
    receiver.answer = "500"
    first_retry = NOW + timedelta(seconds=2000)
    assert delivery.deliver(NOW)["retried"] == 1
    assert delivery.deliver(first_retry - timedelta(seconds=1))["retried"] == 0
    assert delivery.deliver(first_retry)["retried"] == 1
    second_retry = first_retry + timedelta(hours=1)
    assert delivery.deliver(second_retry - timedelta(seconds=1))["retried"] == 0
    assert delivery.deliver(second_retry)["retried"] == 1
    assert len(receiver.requests) == 3


def test_after_max_attempts_failures_the_message_is_listed_as_failed(store, receiver):
    queue(store)
    delivery = delivery_for(store, email_channel(receiver.url, max_attempts=3))
    receiver.answer = "500"
    assert delivery.deliver(NOW)["retried"] == 1
    assert delivery.deliver(NOW + timedelta(seconds=30))["retried"] == 1
    assert delivery.deliver(NOW + timedelta(seconds=90))["failed"] == 1
    failed = only(store, "failed")
    assert (failed.attempts, failed.last_error) == (3, "HTTP 500")
    assert len(receiver.requests) == 3
    assert delivery.deliver(NOW + timedelta(days=1)) == {"delivered": 0, "retried": 0,
                                                         "failed": 0}


def test_a_410_fails_at_once(store, receiver):
    queue(store)
    receiver.answer = "410"
    counts = delivery_for(store, email_channel(receiver.url)).deliver(NOW)
    assert counts == {"delivered": 0, "retried": 0, "failed": 1}
    failed = only(store, "failed")
    assert (failed.attempts, failed.last_error) == (1, "HTTP 410")


def test_a_receiver_that_hangs_past_the_timeout_counts_as_a_failure_and_is_retried(store,
                                                                                    receiver):
    queue(store)
    delivery = delivery_for(store, email_channel(receiver.url))
    receiver.answer = "hang"
    started = time.monotonic()
    assert delivery.deliver(NOW)["retried"] == 1
    assert time.monotonic() - started < TIMEOUT_S + 2
    assert "timed out" in only(store, "ready").last_error
    receiver.answer = "200"
    assert delivery.deliver(NOW + timedelta(seconds=30))["delivered"] == 1
    assert only(store, "acked").attempts == 2


@pytest.mark.parametrize("environ", [{}, {SECRET_ENV: ""}], ids=["unset", "empty"])
def test_a_missing_secret_variable_is_refused_at_construction(store, environ):
    with pytest.raises(DeliveryConfigurationError) as refused:
        WebhookDelivery(store, {"email": email_channel("http://127.0.0.1:9/")}, environ=environ)
    assert SECRET_ENV in str(refused.value)
    assert "'email'" in str(refused.value)


def test_a_webhook_without_a_secret_variable_is_refused_at_construction(store):
    channel = ChannelPlan("email", webhook="http://127.0.0.1:9/")
    with pytest.raises(DeliveryConfigurationError, match="'email'"):
        WebhookDelivery(store, {"email": channel}, environ={SECRET_ENV: SECRET})


def test_channels_without_a_webhook_are_left_alone(store, receiver):
    queue(store, "m1", "email")
    queue(store, "m2", "sms")
    delivery = delivery_for(store, email_channel(receiver.url), ChannelPlan("sms"))
    assert delivery.deliver(NOW)["delivered"] == 1
    assert [json.loads(r.body)["message_id"] for r in receiver.requests] == ["m1"]
    assert only(store, "ready", "sms").message_id == "m2"
    assert [m.message_id for m in store.lease_outbox("sms", NOW, 10, 60)] == ["m2"]
