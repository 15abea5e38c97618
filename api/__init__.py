"""The HTTP edge: a Flask app factory around the decision core."""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from flask import Flask

from api.config import ConfigurationError, load_config, parse_api_keys, store_options
from api.core import metrics
from api.core.errors import register_error_handlers
from api.core.logs import configure_logging, register_access_log
from api.core.sessions import CookieSessions
from api.core.telemetry import init_sentry
from engine.agenda.service import AgendaService
from engine.authoring.follower import PackFollower
from engine.authoring.service import PackAuthoring
from engine.authoring.shadow import ShadowService
from engine.backends import backend_from_name
from engine.errors import InvalidPack
from engine.journeys.runner import JourneyService
from engine.language.compiler import load_pack
from engine.learning.learner import Learner
from engine.learning.tracking import ExperimentTracker
from engine.ports import ContactStore
from engine.reports.recorder import ReportRecorder
from engine.service import ActivePack, DecisionService
from engine.timeutil import UTC
from store import (
    MEMORY_URL,
    REDIS_PREFIXES,
    agenda_from_url,
    experiments_from_url,
    journeys_from_url,
    learning_from_url,
    packs_from_url,
    reports_from_url,
    shadows_from_url,
    store_from_url,
)

log = logging.getLogger("nba.api")


@dataclass
class Services:
    """Per-app objects, kept on ``app.extensions["nba"]``."""

    store: ContactStore
    store_kind: str
    pack: ActivePack
    decisions: DecisionService
    backend_name: str
    api_keys: dict[str, str]
    clock: Callable[[], datetime]
    journeys: JourneyService
    agenda: AgendaService
    authoring: PackAuthoring
    learner: Learner
    reports: ReportRecorder
    report_reader: Any  # the ReportStore reports read (the recorder's, or one with longer timeouts)
    experiment_reader: Any  # the ExperimentStore reports read holdouts from (likewise)
    shadows: ShadowService


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service: configuration, pack, store, engine and routes.

    Raises ConfigurationError or InvalidPack when it cannot start safely.
    """
    settings = load_config(config)
    configure_logging(settings["NBA_LOG_LEVEL"], settings["NBA_LOG_FORMAT"])
    app = Flask(__name__)
    # An API answers a path with an empty segment ("/v1/contacts//events") with 404, not a redirect
    app.url_map.merge_slashes = False
    app.config.update(settings, MAX_CONTENT_LENGTH=settings["NBA_MAX_BODY_BYTES"])
    app.json.sort_keys = False
    app.secret_key = _session_secret(settings)
    app.session_interface = CookieSessions()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    plan = load_pack(settings["NBA_PACK"])
    try:
        backend = backend_from_name(settings["NBA_ENGINE"])
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    keys = parse_api_keys(settings["NBA_API_KEYS"])
    try:
        options = {**store_options(settings), "on_circuit_change": metrics.set_circuit_state,
                   "on_error": metrics.record_store_error}
        store = settings.get("NBA_STORE") or store_from_url(settings["NBA_STORE_URL"], options)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    if getattr(store, "breaker", None) is not None:
        # The stores beside the contacts are on the same Redis: one circuit for all,
        # so that once it is open their flushes before each request fail at once.
        options["breaker"] = store.breaker
    clock = settings.get("NBA_CLOCK") or _now
    registry = _pack_registry(settings, options)
    follower = PackFollower(registry, backend)
    pack = follower.start(plan, settings["NBA_PACK_FORCE"], clock())
    plan = pack.plan
    journey_store = _beside_contacts(settings, options, "NBA_JOURNEY_STORE", journeys_from_url)
    learner = Learner(_beside_contacts(settings, options, "NBA_LEARNING_STORE",
                                       learning_from_url), clock,
                      refresh_s=settings["NBA_LEARNING_REFRESH_S"],
                      flush_s=settings["NBA_LEARNING_FLUSH_S"])
    tracker = ExperimentTracker(_beside_contacts(settings, options, "NBA_EXPERIMENT_STORE",
                                                 experiments_from_url), clock,
                                flush_s=settings["NBA_LEARNING_FLUSH_S"],
                                refresh_s=settings["NBA_LEARNING_REFRESH_S"])
    reports = ReportRecorder(_beside_contacts(settings, options, "NBA_REPORTS_STORE",
                                              reports_from_url),
                             flush_s=settings["NBA_REPORTS_FLUSH_S"])
    report_reader = _reports_reader(settings, options, reports.store, "NBA_REPORTS_STORE",
                                    reports_from_url)
    experiment_reader = _reports_reader(settings, options, tracker.store,
                                        "NBA_EXPERIMENT_STORE", experiments_from_url)
    # A worker stopping adds its last counts.
    atexit.register(_flush_at_exit, learner, tracker, reports)
    decisions = DecisionService(store, pack, backend, events=journey_store, learner=learner,
                                observers=(reports,), experiments=tracker)
    agenda = AgendaService(_beside_contacts(settings, options, "NBA_AGENDA_STORE",
                                            agenda_from_url), decisions)
    app.extensions["nba"] = Services(
        store=store, store_kind=settings["NBA_STORE_URL"].split(":", 1)[0], pack=pack,
        decisions=decisions, backend_name=backend.name,
        api_keys=keys, clock=clock,
        journeys=JourneyService(decisions, journey_store, agenda), agenda=agenda,
        authoring=PackAuthoring(registry, follower,
                                lambda: backend_from_name(settings["NBA_ENGINE"]), clock),
        learner=learner, reports=reports, report_reader=report_reader,
        experiment_reader=experiment_reader,
        shadows=ShadowService(_shadow_store(settings, options), follower.plan_of,
                              registry.active, lambda: backend_from_name(settings["NBA_ENGINE"]),
                              clock),
    )
    app.before_request(_following(follower))
    # An idle worker adds its last report counters at its next request (or its exit).
    app.before_request(reports.flush_if_due)
    app.before_request(learner.flush_if_due)
    app.before_request(tracker.flush_if_due)
    if not keys:
        log.warning("NBA_API_KEYS is empty: the API is open to anyone who can reach it")
    init_sentry(settings, release=plan.hash)
    _register(app)
    log.info("serving pack %s %s (%s) with the %s engine on %s", plan.name, plan.version,
             plan.hash, backend.name, app.extensions["nba"].store_kind)
    return app


def _flush_at_exit(*buffers: Any) -> None:
    """Each buffer's last counts, at interpreter exit. A store already gone is logged
    where logging still works, and never printed as a logging failure."""
    logging.raiseExceptions = False  # streams may be closed this late (test runners)
    for buffer in buffers:
        with contextlib.suppress(Exception):  # what it could not store is lost with us
            buffer.flush()


def _pack_registry(settings: Mapping[str, Any], options: Mapping[str, Any]):
    """Pack versions and the audit log, in the same database as the contacts
    (in memory when a test wires in its own NBA_STORE)."""
    if settings.get("NBA_PACK_REGISTRY") is not None:
        return settings["NBA_PACK_REGISTRY"]
    url = MEMORY_URL if settings.get("NBA_STORE") is not None else settings["NBA_STORE_URL"]
    try:
        return packs_from_url(url, options)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def _shadow_store(settings: Mapping[str, Any], options: Mapping[str, Any]):
    """Shadow runs and their counters, beside the pack registry."""
    if settings.get("NBA_PACK_REGISTRY") is not None or settings.get("NBA_STORE") is not None:
        return shadows_from_url(MEMORY_URL)
    try:
        return shadows_from_url(settings["NBA_STORE_URL"], options)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def _following(follower: PackFollower) -> Callable[[], None]:
    """Before each request: serve the registry's active version if it changed."""
    def follow() -> None:
        try:
            follower.refresh()
        except Exception:  # following must never fail a request; the next one retries
            log.exception("could not follow the active pack version")
    return follow








def _beside_contacts(settings: Mapping[str, Any], options: Mapping[str, Any], setting: str,
                     from_url: Callable[..., Any]):
    """A store kept in the same database or Redis as the contacts (events and runs,
    agendas, learning counts, experiments). A test that wires in its own NBA_STORE
    gets an in-memory one unless it wires in ``setting`` too."""
    if settings.get(setting) is not None:
        return settings[setting]
    if settings.get("NBA_STORE") is not None:
        return from_url(MEMORY_URL)
    try:
        return from_url(settings["NBA_STORE_URL"], options)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc




def _reports_reader(settings: Mapping[str, Any], options: Mapping[str, Any], writer: Any,
                    override: str, from_url: Callable[..., Any]):
    """A store reports read (report counters, experiments' daily counters): on Redis,
    its own client whose socket timeout is NBA_REPORTS_READ_TIMEOUT_MS (a long range
    is more than a decision's timeout); elsewhere the writer's own store."""
    url = settings["NBA_STORE_URL"]
    if settings.get(override) is not None or settings.get("NBA_STORE") is not None \
            or not url.startswith(REDIS_PREFIXES):
        return writer
    # Its own circuit: a long read that times out must not open the decisions' one.
    own = {k: v for k, v in options.items() if k != "breaker"}
    return from_url(url, {**own, "timeout_ms": settings["NBA_REPORTS_READ_TIMEOUT_MS"]})


def _session_secret(settings: Mapping[str, Any]) -> bytes:
    """What signs the agent screen's session cookies: NBA_SECRET_KEY, else a value
    derived from the API keys (the same in every worker and machine, and a
    session ends when the keys change)."""
    if settings["NBA_SECRET_KEY"]:
        return settings["NBA_SECRET_KEY"].encode()
    return hashlib.sha256(b"nba-agent-session\0" + settings["NBA_API_KEYS"].encode()).digest()




def _register(app: Flask) -> None:
    from api import web
    from api.routes import (
        agents,
        contacts,
        decisions,
        journeys,
        learning,
        meta,
        packs,
        packs_workbench,
        reports,
    )
    from api.web import author

    register_error_handlers(app)
    register_access_log(app)
    for module in (decisions, contacts, journeys, agents, meta, packs, packs_workbench,
                   learning, reports, web, author):
        app.register_blueprint(module.blueprint)


__all__ = ["create_app", "ConfigurationError", "InvalidPack"]
