"""The journey worker: advances runs whose time has come and pushes webhook
outboxes. An edge, like wsgi.py: it wires the stores to the core.

    python -m engine worker                      # until SIGTERM/SIGINT, on real time
    python -m engine worker --once [--now ISO]   # everything due up to now, then exit

It reads the same NBA_* settings as the API (NBA_STORE_URL, NBA_PACK,
NBA_ENGINE...). Several workers may run at once, on one machine or many: due
timers are claimed with a lease, and a step's effects are keyed by its run and
seq, so a step is never executed twice and a worker stopped mid-step leaves it
to the next one with one effect.
"""
from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from api.config import ConfigurationError, load_config, store_options
from api.core.logs import configure_logging
from engine.agenda.service import AgendaService
from engine.authoring.follower import PackFollower
from engine.backends import backend_from_name
from engine.errors import EngineError, InvalidPack, StoreUnavailable
from engine.journeys.runner import DEFAULT_LEASE_S, JourneyService, PassSummary
from engine.language.compiler import load_pack
from engine.plan import Plan
from engine.reports.recorder import ReportRecorder
from engine.service import DecisionService
from engine.timeutil import UTC
from store import (
    agenda_from_url,
    journeys_from_url,
    packs_from_url,
    reports_from_url,
    store_from_url,
)

log = logging.getLogger("nba.worker")
IDLE_SLEEP_S = 0.5


class WorkerMetrics:
    """Throughput of this worker process, served on its own port
    (``--metrics-port`` or NBA_WORKER_METRICS_PORT) for Prometheus."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.steps = Counter("nba_worker_steps_total", "What the worker's passes did",
                             ["result"], registry=self.registry)
        self.seconds = Histogram("nba_worker_pass_seconds", "Time of one worker pass",
                                 registry=self.registry,
                                 buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))

    def serve(self, port: int) -> None:
        from prometheus_client import start_http_server

        start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def record(self, summary: PassSummary, seconds: float) -> None:
        self.seconds.observe(seconds)
        for name in ("claimed", "sent", "deferred", "skipped", "ended", "stale", "conflicts"):
            value = getattr(summary, name)
            if value:
                self.steps.labels(name).inc(value)


class FollowingDelivery:
    """The webhook delivery of the pack being served, rebuilt when it changes."""

    def __init__(self, journeys: Any, plan: Plan) -> None:
        self.journeys = journeys
        self.follow(plan)

    def follow(self, plan: Plan) -> None:
        from cli.delivery import WebhookDelivery

        self.current = WebhookDelivery(self.journeys, plan.channels)

    def deliver(self, now: datetime, limit: int = 100) -> dict[str, int]:
        return self.current.deliver(now, limit)


def build(settings: dict[str, Any]) -> tuple[JourneyService, Any, PackFollower]:
    """The journey service, the webhook delivery and the follower of the active pack
    version (NBA_PACK registered, and activated if none is, as the API does)."""
    file_plan = load_pack(settings["NBA_PACK"])
    backend = backend_from_name(settings["NBA_ENGINE"])
    options = store_options(settings)
    contacts = store_from_url(settings["NBA_STORE_URL"], options)
    journeys = journeys_from_url(settings["NBA_STORE_URL"], options)
    follower = PackFollower(packs_from_url(settings["NBA_STORE_URL"], options), backend)
    pack = follower.start(file_plan, settings["NBA_PACK_FORCE"], datetime.now(UTC))
    delivery = FollowingDelivery(journeys, pack.plan)
    follower.on_swap = delivery.follow
    # Journey sends count in the ROI report like the API's decisions (flushed when
    # due at the next send, and at exit).
    reports = ReportRecorder(reports_from_url(settings["NBA_STORE_URL"], options),
                             flush_s=settings["NBA_REPORTS_FLUSH_S"])
    atexit.register(reports.flush)
    decisions = DecisionService(contacts, pack, backend, events=journeys, observers=(reports,))
    agenda = AgendaService(agenda_from_url(settings["NBA_STORE_URL"], options), decisions)
    return JourneyService(decisions, journeys, agenda), delivery, follower


def run_once(service: JourneyService, delivery: Any, now: datetime, limit: int,
             lease_s: float) -> dict[str, Any]:
    """Everything due up to ``now``, then one round of webhook deliveries."""
    summary = service.run_until_idle(now, limit, lease_s=lease_s)
    delivered = delivery.deliver(now)
    return {"now": now.isoformat(), **asdict(summary), "webhooks": delivered}


def run_forever(service: JourneyService, delivery: Any, limit: int, lease_s: float,
                stop: threading.Event, metrics: WorkerMetrics,
                follower: PackFollower | None = None) -> PassSummary:
    """Passes on real time until ``stop`` is set; idle passes sleep briefly. Each
    pass first follows the active pack version (a new one is served within a second)."""
    total = PassSummary()
    while not stop.is_set():
        if follower is not None:
            follower.refresh()
        now = datetime.now(UTC)
        started = time.perf_counter()
        try:
            summary = service.run_due(now, limit, lease_s)
            delivery.deliver(now)
        except StoreUnavailable as exc:
            log.warning("store unavailable, retrying: %s", exc)
            stop.wait(IDLE_SLEEP_S)
            continue
        metrics.record(summary, time.perf_counter() - started)
        total.add(summary)
        if summary.claimed:
            log.info("pass: %s", json.dumps(asdict(summary)))
        else:
            stop.wait(IDLE_SLEEP_S)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine worker",
                                     description="advance journey runs and deliver outboxes")
    parser.add_argument("--once", action="store_true", help="do what is due, then exit")
    parser.add_argument("--now", help="with --once: the time to run as of (ISO-8601)")
    parser.add_argument("--limit", type=int, default=100, help="timers claimed per pass")
    parser.add_argument("--lease", type=float, default=DEFAULT_LEASE_S,
                        help="seconds a claimed timer stays leased (default 60)")
    parser.add_argument("--metrics-port", type=int,
                        default=int(os.environ.get("NBA_WORKER_METRICS_PORT", "0") or 0),
                        help="serve this worker's Prometheus metrics on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    try:
        settings = load_config()
        configure_logging(settings["NBA_LOG_LEVEL"], settings["NBA_LOG_FORMAT"])
        service, delivery, follower = build(settings)
        now = _moment(args.now) if args.now else datetime.now(UTC)
    except (ConfigurationError, InvalidPack, EngineError, ValueError) as exc:
        print(f"worker cannot start: {exc}", file=sys.stderr)
        return 2
    if args.once:
        print(json.dumps(run_once(service, delivery, now, args.limit, args.lease)))
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metrics = WorkerMetrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    log.info("worker started on pack %s (%s)", service.plan.name, service.plan.hash)
    total = run_forever(service, delivery, args.limit, args.lease, stop, metrics, follower)
    log.info("worker stopped: %s", json.dumps(asdict(total)))
    return 0


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"--now {text!r} needs a time zone, like 2026-11-20T10:00:00Z")
    return moment.astimezone(UTC)


if __name__ == "__main__":
    sys.exit(main())
