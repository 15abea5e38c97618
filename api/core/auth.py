"""API keys with roles: channel (calling channels), author (rule authors), admin,
agent (call-centre agents: their agenda, contacts, results) and supervisor
(agents' agendas, the unassigned queue, reassignment)."""
from __future__ import annotations

import hmac
from functools import wraps
from typing import Callable

from flask import current_app, g, request

from api.core.errors import Forbidden, Unauthorized
from engine.authoring.model import Actor

PERMISSIONS: dict[str, frozenset[str]] = {
    "decide": frozenset({"channel", "agent", "supervisor", "admin"}),
    "simulate": frozenset({"channel", "author", "admin"}),
    "record_outcome": frozenset({"channel", "agent", "supervisor", "admin"}),
    "read_contacts": frozenset({"channel", "agent", "supervisor", "admin"}),
    "write_contacts": frozenset({"channel", "admin"}),
    "erase_contacts": frozenset({"admin"}),
    "read_pack": frozenset({"author", "admin"}),
    "post_events": frozenset({"channel", "admin"}),
    "read_outbox": frozenset({"channel", "admin"}),
    "read_journeys": frozenset({"channel", "author", "admin", "supervisor"}),
    "read_agents": frozenset({"channel", "agent", "supervisor", "admin"}),
    "write_agents": frozenset({"admin"}),
    "read_agenda": frozenset({"channel", "agent", "supervisor", "admin"}),
    "record_task_result": frozenset({"channel", "agent", "supervisor", "admin"}),
    "reassign_tasks": frozenset({"supervisor", "admin"}),
    "read_unassigned": frozenset({"supervisor", "admin"}),
    "upload_pack": frozenset({"author", "admin"}),
    "activate_pack": frozenset({"admin"}),
    "read_audit": frozenset({"author", "admin"}),
    "read_learning": frozenset({"author", "admin"}),
    "read_reports": frozenset({"author", "admin"}),
    "whoami": frozenset({"channel", "author", "admin", "agent", "supervisor"}),
}


def role_of(keys: dict[str, str], header: str | None) -> str | None:
    """The role of the bearer key in ``header``; Unauthorized if absent or unknown."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    token = token.strip().encode()
    role = None
    for key, key_role in keys.items():
        if hmac.compare_digest(key.encode(), token):
            role = key_role
    if role is None:
        raise Unauthorized("unknown API key")
    return role


def authorize(permission: str) -> None:
    """Check the current request may do ``permission`` (open when no keys are set)."""
    keys = current_app.extensions["nba"].api_keys
    if not keys:
        g.role = "admin"
        return
    g.role = role_of(keys, request.headers.get("Authorization"))
    if g.role not in PERMISSIONS[permission]:
        allowed = ", ".join(sorted(PERMISSIONS[permission]))
        article = "an" if g.role[0] in "aeiou" else "a"
        raise Forbidden(f"{article} {g.role} key may not {permission.replace('_', ' ')}; "
                        f"this needs a key with role {allowed}")


def current_actor() -> Actor:
    """Who makes the current (authorized) request, for the audit log."""
    _, _, token = (request.headers.get("Authorization") or "").partition(" ")
    keys = current_app.extensions["nba"].api_keys
    return Actor.of_key(g.role, token.strip() if keys else None)


def requires(permission: str) -> Callable:
    """Decorator form of ``authorize``."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            authorize(permission)
            return view(*args, **kwargs)
        return guarded
    return decorate
