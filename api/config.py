"""Configuration in layers: defaults, then NBA_* environment, then the caller's mapping.

The caller's mapping may also carry objects a test wires in: ``NBA_STORE`` (a
ContactStore instance used instead of NBA_STORE_URL) and ``NBA_CLOCK`` (a
function returning the current aware datetime).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    "NBA_STORE_URL": "sqlite:///var/nba.db",
    "NBA_PACK": "rules/retail.yaml",
    "NBA_ENGINE": "compiled",
    "NBA_API_KEYS": "",
    "NBA_MAX_BODY_BYTES": 64 * 1024,
    "NBA_LOG_LEVEL": "INFO",
    "SENTRY_DSN": "",
    "SENTRY_ENVIRONMENT": "",
}
ROLES = ("channel", "author", "admin")


class ConfigurationError(ValueError):
    """A setting the service cannot start with."""


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, overridden by the environment, overridden by ``overrides``."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    config.update({k: v for k, v in environ.items() if k in DEFAULTS})
    config.update(overrides or {})
    try:
        config["NBA_MAX_BODY_BYTES"] = int(config["NBA_MAX_BODY_BYTES"])
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("NBA_MAX_BODY_BYTES must be a number of bytes") from exc
    return config


def parse_api_keys(text: str) -> dict[str, str]:
    """``"key1:channel,key2:author"`` as {key: role}; ConfigurationError if malformed."""
    keys: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, role = item.rpartition(":")
        if not sep or not key or role not in ROLES:
            raise ConfigurationError(
                f"NBA_API_KEYS entry {_masked(item)!r} is not KEY:ROLE with ROLE one of "
                f"{', '.join(ROLES)}")
        if len(key) < 8:
            raise ConfigurationError("API keys must be at least 8 characters long")
        keys[key] = role
    return keys


def _masked(item: str) -> str:
    key, _, role = item.rpartition(":")
    return (key[:3] + "..." + (":" + role if role else "")) if key else item[:3] + "..."
