"""Prometheus metrics, correct across gunicorn's worker processes.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the workers start: each worker writes its samples there and
``GET /metrics`` adds them up. In a single process (tests, ``flask run``) the
default registry is used. The metric objects are process-wide, as
prometheus_client requires; they hold numbers only, no connection or thread.
"""
from __future__ import annotations

import functools
import os
from typing import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

DECISIONS = Counter("nba_decisions_total", "Decisions answered",
                    ["channel", "pack", "result"])
EXCLUSIONS = Counter("nba_exclusions_total", "Candidates left out, by policy category",
                     ["policy"])
FALLBACKS = Counter("nba_fallbacks_total", "Fallback actions served", ["channel", "reason"])
DECISION_SECONDS = Histogram(
    "nba_decision_seconds", "Time to answer a decision, store calls included", ["channel"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0))
OUTCOMES = Counter("nba_outcomes_total", "Outcomes recorded", ["outcome"])
STORE_ERRORS = Counter("nba_store_errors_total", "Store calls that failed (after retries)",
                       ["operation"])
CIRCUIT = Gauge("nba_store_circuit_state",
                "Store circuit breaker: 0 closed, 1 half-open, 2 open (worst live worker)",
                multiprocess_mode="livemax")
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}


def record_decision(channel: str, pack: str, actions: int, fallback: str | None,
                    exclusions: Mapping[str, int], seconds: float) -> None:
    """Count one answered decision."""
    result = "fallback" if fallback else ("chosen" if actions else "empty")
    _child(DECISIONS, channel, pack, result).inc()
    _child(DECISION_SECONDS, channel).observe(seconds)
    if fallback:
        _child(FALLBACKS, channel, fallback).inc()
    for policy, count in exclusions.items():
        _child(EXCLUSIONS, policy).inc(count)


@functools.lru_cache(maxsize=4096)
def _child(metric, *labels: str):
    """``metric.labels(*labels)``, looked up once: prometheus_client keeps the same
    child for the same labels (nothing here removes one), and its lookup checks and
    locks on every call (about 2 µs, several times per decision)."""
    return metric.labels(*labels)


def record_outcome(outcome: str) -> None:
    OUTCOMES.labels(outcome).inc()


EVENTS = Counter("nba_events_total", "Events posted", ["type", "result"])


def record_event(event_type: str, duplicate: bool) -> None:
    EVENTS.labels(event_type, "duplicate" if duplicate else "recorded").inc()


def journey_queue_lines(oldest_due, pending: int, now) -> bytes:
    """Due-queue figures read from the store at scrape time (not per worker)."""
    lag = 0.0 if oldest_due is None else max(0.0, (now - oldest_due).total_seconds())
    return (
        "# HELP nba_journey_due_lag_seconds Age of the oldest due timer not yet done\n"
        "# TYPE nba_journey_due_lag_seconds gauge\n"
        f"nba_journey_due_lag_seconds {lag}\n"
        "# HELP nba_journey_timers Timers in the due queue (waiting runs and watches)\n"
        "# TYPE nba_journey_timers gauge\n"
        f"nba_journey_timers {pending}\n").encode()


def record_store_error(operation: str) -> None:
    STORE_ERRORS.labels(operation).inc()


def set_circuit_state(state: str) -> None:
    CIRCUIT.set(CIRCUIT_STATES.get(state, 0))


def exposition() -> tuple[bytes, str]:
    """The metrics text of every worker, and its content type."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry), CONTENT_TYPE_LATEST
