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
    # Pack registry: uploads up to this size; NBA_PACK activated at start even when
    # the registry has an active version; authors may activate and roll back.
    "NBA_MAX_PACK_BYTES": 2 * 1024 * 1024,
    "NBA_PACK_FORCE": False,
    "NBA_AUTHORS_MAY_ACTIVATE": False,
    # POST /v1/packs/<hash>/simulate: decisions one request may make per version.
    "NBA_SIMULATE_MAX_DECISIONS": 5000,
    "NBA_LOG_LEVEL": "INFO",
    "NBA_LOG_FORMAT": "json",
    # Redis store: per-call socket timeouts, immediate retries, circuit breaker,
    # and the longest history kept when a pack reads the whole history.
    "NBA_REDIS_TIMEOUT_MS": 50,
    "NBA_REDIS_CONNECT_TIMEOUT_MS": 50,
    "NBA_REDIS_RETRIES": 1,
    "NBA_BREAKER_FAILURES": 3,
    "NBA_BREAKER_RESET_S": 1.0,
    "NBA_HISTORY_MAX_DAYS": 730,
    # Learned propensities: how often a process reads the counts of every process,
    # and how often it adds its own to the store (seconds; 0: at every call).
    "NBA_LEARNING_REFRESH_S": 5.0,
    "NBA_LEARNING_FLUSH_S": 1.0,
    # ROI reports: how often a process adds its counters to the store (seconds).
    "NBA_REPORTS_FLUSH_S": 1.0,
    # Redis socket timeout of report reads (a year of days is more than a decision's
    # 50 ms; the counters' writes keep NBA_REDIS_TIMEOUT_MS).
    "NBA_REPORTS_READ_TIMEOUT_MS": 5000,
    # The agent screen (/agent): the inbound channel of its recommendations, and the
    # secret that signs its session cookies (derived from the API keys when unset).
    "NBA_AGENT_CHANNEL": "agent",
    "NBA_SECRET_KEY": "",
    "SENTRY_DSN": "",
    "SENTRY_ENVIRONMENT": "",
}
ROLES = ("channel", "author", "admin", "agent", "supervisor")
# (setting, type, lowest value)
NUMBERS = (
    ("NBA_MAX_BODY_BYTES", int, 1),
    ("NBA_MAX_PACK_BYTES", int, 1),
    ("NBA_SIMULATE_MAX_DECISIONS", int, 1),
    ("NBA_REDIS_TIMEOUT_MS", float, 1),
    ("NBA_REDIS_CONNECT_TIMEOUT_MS", float, 1),
    ("NBA_REDIS_RETRIES", int, 0),
    ("NBA_BREAKER_FAILURES", int, 1),
    ("NBA_BREAKER_RESET_S", float, 0),
    ("NBA_HISTORY_MAX_DAYS", float, 1),
    ("NBA_LEARNING_REFRESH_S", float, 0),
    ("NBA_LEARNING_FLUSH_S", float, 0),
    ("NBA_REPORTS_FLUSH_S", float, 0),
    ("NBA_REPORTS_READ_TIMEOUT_MS", float, 1),
)

FLAGS = ("NBA_PACK_FORCE", "NBA_AUTHORS_MAY_ACTIVATE")


class ConfigurationError(ValueError):
    """A setting the service cannot start with."""


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, overridden by the environment, overridden by ``overrides``."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    config.update({k: v for k, v in environ.items() if k in DEFAULTS})
    config.update(overrides or {})
    for name, kind, low in NUMBERS:
        try:
            config[name] = kind(config[name])
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{name} must be a number, got {config[name]!r}") from exc
        if config[name] < low:
            raise ConfigurationError(f"{name} must be at least {low}, got {config[name]}")
    for name in FLAGS:
        config[name] = _flag(name, config[name])
    if config["NBA_LOG_FORMAT"] not in ("json", "text"):
        raise ConfigurationError(f"NBA_LOG_FORMAT must be json or text, got "
                                 f"{config['NBA_LOG_FORMAT']!r}")
    return config


def _flag(name: str, value: Any) -> bool:
    """A yes/no setting: 1, true, yes, on (any case) or 0, false, no, off, empty."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true or false), got {value!r}")


def store_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Settings of networked stores (the Redis store), from the configuration."""
    return {
        "timeout_ms": config["NBA_REDIS_TIMEOUT_MS"],
        "connect_timeout_ms": config["NBA_REDIS_CONNECT_TIMEOUT_MS"],
        "retries": config["NBA_REDIS_RETRIES"],
        "breaker_failures": config["NBA_BREAKER_FAILURES"],
        "breaker_reset_s": config["NBA_BREAKER_RESET_S"],
        "max_history_days": config["NBA_HISTORY_MAX_DAYS"],
    }


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
