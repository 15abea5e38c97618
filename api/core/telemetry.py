"""Sentry error reports and log context, carrying the decision id and pack hash."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import g

log = logging.getLogger("nba.api")


def init_sentry(config: Mapping[str, Any], release: str) -> bool:
    """Initialise sentry-sdk when SENTRY_DSN is set; True if it was."""
    dsn = config.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(dsn=dsn, integrations=[FlaskIntegration()], release=release,
                    environment=config.get("SENTRY_ENVIRONMENT") or None)
    log.info("sentry error reporting enabled")
    return True


def tag_decision(decision_id: str, pack_hash: str) -> None:
    """Attach the decision id and pack hash to this request's logs and error reports."""
    g.decision_id = decision_id
    g.pack_hash = pack_hash
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover - sentry-sdk is a declared dependency
        return
    if sentry_sdk.is_initialized():
        scope = sentry_sdk.get_isolation_scope()
        scope.set_tag("decision_id", decision_id)
        scope.set_tag("pack_hash", pack_hash)


def report_exception(exc: BaseException) -> None:
    """Send an unexpected error to Sentry, when it is enabled."""
    import sentry_sdk

    if sentry_sdk.is_initialized():
        sentry_sdk.capture_exception(exc)
