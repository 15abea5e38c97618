"""The call-centre screen, served by the service: ``/agent``.

Server-rendered pages (Jinja templates in ``templates/agent``, CSS and a little
JavaScript in ``static``, nothing from a CDN). An agent signs in with an API key
of role agent, supervisor or admin and their agent id; the session (a signed
cookie) keeps the role, the agent id and a fingerprint of the key, checked
against the configured keys on every request. Views call the same use cases as
the JSON API: the agenda, the contact card, the decision on the inbound agent
channel (a dry run with explanations: viewing a screen records nothing), and a
call's result (``record_task_result``).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from api.core.errors import Unauthorized
from api.web.labels import LANGUAGES, translator
from engine.agenda.hours import agent_zone
from engine.agenda.model import RESULTS, Agent, Task, TaskResult
from engine.agenda.service import AgendaError, contact_card
from engine.journeys.tasks import record_task_result, start_call
from engine.model import DecisionRequest

blueprint = Blueprint("agent_web", __name__, url_prefix="/agent", template_folder="templates",
                      static_folder="static", static_url_path="/static")
ROLES = ("agent", "supervisor", "admin")


def _nba():
    return current_app.extensions["nba"]


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _language() -> str:
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or "fr"


@blueprint.app_template_filter("local")
def _local(moment: datetime | None, agent: Agent | None = None, form: str = "%H:%M") -> str:
    if moment is None:
        return "—"
    tz = agent_zone(agent) if agent is not None else None
    return (moment.astimezone(tz) if tz else moment).strftime(form)


def _page(template: str, **values: Any) -> str:
    language = _language()
    return render_template(f"agent/{template}", t=translator(language), lang=language,
                           csrf=session.get("csrf", ""), me=session.get("agent_id"),
                           role=session.get("role"), **values)


def signed_in(view: Callable) -> Callable:
    """The view needs a valid session, else the sign-in page."""
    @wraps(view)
    def guarded(*args, **kwargs):
        if not _session_valid():
            session.clear()
            return redirect(url_for("agent_web.login", next=request.full_path))
        if request.method == "POST" and not hmac.compare_digest(
                request.form.get("csrf", ""), session.get("csrf", "")):
            abort(400, "the form is out of date: reload the page")
        return view(*args, **kwargs)
    return guarded


def _session_valid() -> bool:
    role, agent_id = session.get("role"), session.get("agent_id")
    if role not in ROLES or not agent_id:
        return False
    keys = _nba().api_keys
    if keys and not any(fingerprint(k) == session.get("key") and r == role
                        for k, r in keys.items()):
        return False  # the key was revoked or its role changed
    return _nba().agenda.store.get_agent(agent_id) is not None


@blueprint.get("/login")
def login():
    return _page("login.html", error=None, next=request.args.get("next", ""))


@blueprint.post("/login")
def login_post():
    key, agent_id = request.form.get("key", "").strip(), request.form.get("agent_id", "").strip()
    role = _role_of(key)
    error = None
    if role not in ROLES:
        error = "unknown key, or a key whose role is not agent, supervisor or admin"
    elif not agent_id or _nba().agenda.store.get_agent(agent_id) is None:
        error = f"no agent {agent_id!r}"
    if error:
        return _page("login.html", error=error, next=request.form.get("next", "")), 401
    language = session.get("lang")
    session.clear()
    session.update(role=role, agent_id=agent_id, key=fingerprint(key),
                   csrf=secrets.token_urlsafe(24), lang=language)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/agent") else url_for("agent_web.agenda"))


def _role_of(key: str) -> str | None:
    from api.core.auth import role_of

    keys = _nba().api_keys
    if not keys:
        return "admin"  # an open service (no keys configured) lets anyone in
    try:
        return role_of(keys, f"Bearer {key}")
    except Unauthorized:
        return None


@blueprint.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("agent_web.login"))


@blueprint.get("/lang/<language>")
def language(language: str):
    if language in LANGUAGES:
        session["lang"] = language
    back = request.args.get("back", "")
    return redirect(back if back.startswith("/agent") else url_for("agent_web.agenda"))


@blueprint.get("")
@signed_in
def agenda():
    nba = _nba()
    agent = _viewed_agent()
    today = nba.clock().astimezone(agent_zone(agent)).date()
    day = _day(request.args.get("date"), today)
    entries = nba.agenda.agenda(agent, day)
    return _page("agenda.html", agent=agent, day=day, today=today, entries=entries,
                 previous=day - timedelta(days=1), following=day + timedelta(days=1))


def _viewed_agent() -> Agent:
    """The session's agent; supervisors and admins may look at another's agenda."""
    store = _nba().agenda.store
    wanted = request.args.get("agent")
    if wanted and session["role"] in ("supervisor", "admin"):
        agent = store.get_agent(wanted)
        if agent is not None:
            return agent
    return store.get_agent(session["agent_id"])


def _day(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw and len(raw) == 10 else default
    except ValueError:
        return default


@blueprint.get("/tasks/<task_id>")
@signed_in
def task(task_id: str):
    nba = _nba()
    found = _task(task_id)
    entry = nba.agenda.entry(found)
    agent = nba.agenda.store.get_agent(found.agent_id) if found.agent_id else None
    return _page("task.html", entry=entry, task=found, agent=agent or _viewed_agent(),
                 advice=_advice(found.contact_id), results=RESULTS,
                 run=_run(found), recorded=request.args.get("recorded"))


def _task(task_id: str) -> Task:
    found = _nba().agenda.store.get_task(task_id) if len(task_id) <= 300 else None
    if found is None:
        abort(404, f"no task {task_id!r}")
    if session["role"] == "agent" and found.agent_id != session["agent_id"]:
        abort(403, "this call is in another agent's agenda")
    return found


def _run(found: Task):
    if found.run_id is None:
        return None
    return _nba().journeys.contact_runs(found.contact_id).run(found.run_id)


def _advice(contact_id: str) -> dict[str, Any]:
    """The decision on the inbound agent channel, explained, recording nothing."""
    nba = _nba()
    channel = current_app.config.get("NBA_AGENT_CHANNEL", "agent")
    plan = nba.pack.plan
    if channel not in plan.channels or not plan.channels[channel].inbound:
        return {"channel": None}
    request_ = DecisionRequest(contact_id, channel, nba.clock(), explain=True, dry_run=True,
                               limit=3)
    decision = nba.decisions.decide(request_).decision
    return {"channel": channel, "actions": decision.actions, "excluded": decision.excluded}


@blueprint.post("/tasks/<task_id>/result")
@signed_in
def task_result(task_id: str):
    nba = _nba()
    found = _task(task_id)
    outcome = request.form.get("outcome", "")
    if outcome not in RESULTS:
        abort(400, f"outcome is one of {', '.join(RESULTS)}")
    now = nba.clock()
    result = TaskResult(outcome, now, request.form.get("notes") or None,
                        _amount(request.form.get("value")),
                        _callback(request.form.get("callback_at"), found), session["agent_id"])
    try:
        _, first = record_task_result(nba.journeys, found.task_id, result)
    except AgendaError as exc:
        abort(409 if exc.code == "task_not_open" else 400, str(exc))
    return redirect(url_for("agent_web.task", task_id=found.task_id,
                            recorded="new" if first else "again"))


def _amount(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        abort(400, "the amount is a number")
    if value is not None and not 0 <= value < 1e9:
        abort(400, "the amount is a positive number")
    return value


def _callback(raw: str | None, found: Task) -> datetime | None:
    """A ``datetime-local`` value, read in the agent's time zone."""
    if not raw:
        return None
    agent = _nba().agenda.store.get_agent(found.agent_id or session["agent_id"])
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        abort(400, "call back at: a date and time")
    return moment.replace(tzinfo=agent_zone(agent)) if moment.tzinfo is None else moment


@blueprint.post("/tasks/<task_id>/start")
@signed_in
def task_start(task_id: str):
    nba = _nba()
    found = _task(task_id)
    try:
        started = start_call(nba.journeys, found.task_id, nba.clock())
    except AgendaError as exc:
        abort(409 if exc.code == "task_not_open" else 400, str(exc))
    if started.status != "open":
        from api.routes.agents import why_not_open

        abort(409, "; ".join(why_not_open(nba, started)))
    return redirect(url_for("agent_web.task", task_id=found.task_id))


@blueprint.get("/contacts")
@signed_in
def contact():
    nba = _nba()
    contact_id = request.args.get("contact_id", "").strip()
    if not contact_id or len(contact_id) > 200:
        return redirect(url_for("agent_web.agenda"))
    snapshot = nba.decisions.load(nba.pack.plan, contact_id)
    known = bool(snapshot.profile or snapshot.history or snapshot.consents)
    return _page("contact.html", contact_id=contact_id, known=known,
                 card=contact_card(snapshot), advice=_advice(contact_id) if known else None,
                 tasks=nba.agenda.store.contact_tasks(contact_id), agent=_viewed_agent())


@blueprint.errorhandler(400)
@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
@blueprint.errorhandler(409)
def _error_page(exc):
    return _page("error.html", code=exc.code, message=exc.description), exc.code
