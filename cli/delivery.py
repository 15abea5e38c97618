"""Push delivery of outboxes: POST each message of a webhook channel, signed.

An edge, like wsgi.py and cli/worker.py: it does network I/O, so it lives outside
``engine/``. The worker calls ``WebhookDelivery.deliver(now)`` after each pass.

Each message is POSTed as JSON with these headers::

    Content-Type: application/json
    User-Agent: nba-decision-service
    X-NBA-Message-Id: <message id>   (the same on every attempt: deduplicate on it)
    X-NBA-Timestamp: <unix seconds when sent>
    X-NBA-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">

A receiver checks it like this (``verify`` below does exactly that)::

    expected = hmac.new(secret, timestamp.encode() + b"." + raw_body, "sha256").hexdigest()
    ok = (hmac.compare_digest("sha256=" + expected, signature_header)
          and abs(time.time() - int(timestamp)) <= 300)

A 2xx acknowledges the message; a 429, a 5xx, a network error or a timeout is
retried with exponential backoff until the channel's ``max_attempts``; any
other status fails the message at once (redirects are not followed). A message
may arrive twice (a lease that ends mid-batch, an ack lost after a 2xx).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from api.config import ConfigurationError
from engine.journeys.model import UTC, OutboxMessage
from engine.journeys.ports import JourneyStore
from engine.plan import ChannelPlan

log = logging.getLogger("nba.delivery")
USER_AGENT = "nba-decision-service"
MAX_BACKOFF_S = 3600.0

# post(url, body, headers, timeout_s) -> HTTP status; raises OSError or
# http.client.HTTPException when no status came back.
Post = Callable[[str, bytes, Mapping[str, str], float], int]


class DeliveryConfigurationError(ConfigurationError):
    """A webhook channel the worker cannot deliver (its secret is not set)."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body``."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature_header: str, now: float,
           tolerance_s: float = 300) -> bool:
    """Whether ``signature_header`` (``sha256=<hex>``) signs this body at this
    timestamp and the timestamp is within ``tolerance_s`` of ``now``."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(f"sha256={sign(secret, timestamp, body)}", signature_header)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be resent as a GET without its body: refuse it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> int:
    """POST with the standard library; the response status, whatever it is."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@dataclass(frozen=True)
class _Endpoint:
    channel: str
    url: str
    secret: bytes = field(repr=False)
    max_attempts: int


def message_body(message: OutboxMessage) -> bytes:
    """The JSON a receiver gets for ``message`` (``attempt`` counts from 1)."""
    return json.dumps({
        "message_id": message.message_id, "channel": message.channel,
        "contact_id": message.contact_id, "action_id": message.action_id,
        "content": dict(message.content), "decision_id": message.decision_id,
        "journey_id": message.journey_id, "run_id": message.run_id,
        "step_id": message.step_id,
        "due_at": message.due_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "attempt": message.attempts,
    }, separators=(",", ":"), default=str).encode()


def retry_delay(backoff_s: float, attempts: int) -> timedelta:
    """``backoff_s`` doubled for each attempt after the first, at most an hour."""
    return timedelta(seconds=min(backoff_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


class WebhookDelivery:
    """Leases the outboxes of webhook channels and POSTs their messages."""

    def __init__(self, store: JourneyStore, channels: Mapping[str, ChannelPlan],
                 environ: Mapping[str, str] = os.environ, timeout_s: float = 5.0,
                 lease_s: float = 60.0, backoff_s: float = 30.0, post: Post | None = None):
        self._store = store
        self._endpoints = [_endpoint(plan, environ) for plan in channels.values()
                           if plan.webhook]
        self._timeout_s = timeout_s
        self._lease_s = lease_s
        self._backoff_s = backoff_s
        self._post = post or urllib_post

    def deliver(self, now: datetime, limit: int = 100) -> dict[str, int]:
        """One round: up to ``limit`` due messages per webhook channel; how many
        were delivered, retried later and failed."""
        counts = {"delivered": 0, "retried": 0, "failed": 0}
        for endpoint in self._endpoints:
            leased = self._store.lease_outbox(endpoint.channel, now, limit, self._lease_s)
            for message in leased:
                counts[self._deliver_one(endpoint, message, now)] += 1
        return counts

    def _deliver_one(self, endpoint: _Endpoint, message: OutboxMessage, now: datetime) -> str:
        status, error = self._send(endpoint, message)
        if status is not None and 200 <= status < 300:
            self._store.ack_outbox(endpoint.channel, [message.message_id])
            return "delivered"
        retryable = status is None or status == 429 or status >= 500
        log.warning("webhook %s: message %s attempt %d: %s", endpoint.channel,
                    message.message_id, message.attempts, error)
        if retryable and message.attempts < endpoint.max_attempts:
            at = now + retry_delay(self._backoff_s, message.attempts)
            self._store.retry_outbox(endpoint.channel, message.message_id, at, error)
            return "retried"
        self._store.fail_outbox(endpoint.channel, message.message_id, error)
        return "failed"

    def _send(self, endpoint: _Endpoint, message: OutboxMessage) -> tuple[int | None, str]:
        """The status (None if none came back) and what to record if it failed."""
        body = message_body(message)
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "X-NBA-Message-Id": message.message_id, "X-NBA-Timestamp": timestamp,
                   "X-NBA-Signature": f"sha256={sign(endpoint.secret, timestamp, body)}"}
        try:
            status = self._post(endpoint.url, body, headers, self._timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return status, f"HTTP {status}"


def _endpoint(plan: ChannelPlan, environ: Mapping[str, str]) -> _Endpoint:
    """The channel's webhook with its secret read from the environment."""
    name = plan.webhook_secret_env
    secret = environ.get(name) if name else None
    if not secret:
        variable = f"the environment variable {name}" if name else "a secret_env"
        raise DeliveryConfigurationError(
            f"channel {plan.name!r} delivers to a webhook but {variable} is not set: "
            "messages are never posted unsigned")
    return _Endpoint(plan.name, plan.webhook, secret.encode(), plan.webhook_max_attempts)
