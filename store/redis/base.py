"""What every Redis backend shares: one client per process, calls under a
circuit breaker with bounded retries, Lua scripts shipped in ``store/redis/lua/``,
and the escaping that turns any id into a hash tag.

A client is created on first use in each process (never before gunicorn or
the worker forks) and reconnects by itself. Calls have explicit socket
timeouts, a bounded number of immediate retries and a circuit breaker
(store/redis/breaker.py): an unreachable Redis costs one fast StoreUnavailable,
not a stall per request.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import urlsplit

import redis
from redis import exceptions as rx

from engine.errors import StoreUnavailable
from store.errors import NaiveTimestamp
from store.redis.breaker import CircuitBreaker, CircuitOpen

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
TRANSIENT = (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, rx.ReadOnlyError,
             rx.ClusterDownError, rx.TryAgainError, rx.MasterDownError, rx.OutOfMemoryError)
# Replies that mean "Redis cannot serve this now", not "this call is wrong".
UNAVAILABLE_REPLIES = ("OOM", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY",
                       "BUSY", "MISCONF", "NOREPLICAS", "MASTER_DOWN")
# A script call to send in a pipeline: (script name, keys, args).
ScriptCall = tuple[str, Sequence[str], Sequence[Any]]


class RedisBackend:
    """Connection and resilience of a store on Redis (``redis://``, ``rediss://``,
    ``unix://``) or Redis Cluster (``redis+cluster://``); subclasses name their
    Lua scripts in ``SCRIPTS``."""

    SCRIPTS: tuple[str, ...] = ()

    def __init__(self, url: str, *, timeout_ms: float = 50, connect_timeout_ms: float = 50,
                 retries: int = 1, breaker_failures: int = 3, breaker_reset_s: float = 1.0,
                 prefix: str = "nba", on_circuit_change: Callable[[str], None] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        """``breaker``: another store's, to share one circuit per Redis (stores kept
        beside the contacts fail fast once the contacts' circuit is open)."""
        self.url = url
        self.cluster = url.startswith("redis+cluster://")
        self.timeout_s = timeout_ms / 1000
        self.connect_timeout_s = connect_timeout_ms / 1000
        self.retries = max(0, retries)
        self.prefix = prefix
        self.breaker = breaker or CircuitBreaker(breaker_failures, breaker_reset_s,
                                                 on_change=on_circuit_change)
        self.on_error = on_error
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._client_pid: int | None = None
        self._scripts: dict[str, Any] = {}

    # -- connection -------------------------------------------------------------

    def _redis(self) -> Any:
        """The client of this process, created on first use (never before a fork)."""
        pid = os.getpid()
        if self._client is None or self._client_pid != pid:
            with self._client_lock:
                if self._client is None or self._client_pid != pid:
                    client = self._connect()
                    self._scripts = {name: client.register_script(lua(name))
                                     for name in self.SCRIPTS}
                    self._client_pid = pid
                    self._client = client
        return self._client

    def _connect(self) -> Any:
        options = dict(socket_timeout=self.timeout_s,
                       socket_connect_timeout=self.connect_timeout_s,
                       decode_responses=True, health_check_interval=0)
        if self.cluster:
            parts = urlsplit(self.url)
            from redis.cluster import RedisCluster

            return RedisCluster(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
                                password=parts.password, cluster_error_retry_attempts=1,
                                **options)
        return redis.Redis.from_url(self.url, **options)

    # -- resilience ---------------------------------------------------------------

    def _run(self, operation: str, call: Callable[[], T]) -> T:
        """``call`` under the breaker, retried on transient errors; StoreUnavailable if it fails."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise StoreUnavailable(f"redis store unavailable ({operation}): {exc}") from exc
        last: Exception | None = None
        for _ in range(self.retries + 1):
            try:
                result = call()
            except TRANSIENT as exc:
                last = exc
                continue
            except rx.ResponseError as exc:
                if not str(exc).startswith(UNAVAILABLE_REPLIES):
                    self.breaker.succeeded()  # Redis answered: it is up, the call was wrong
                    raise
                last = exc
                continue
            self.breaker.succeeded()
            return result
        self.breaker.failed()
        if self.on_error is not None:
            self.on_error(operation)
        raise StoreUnavailable(f"redis store unavailable ({operation}): {last}") from last

    # -- scripts ------------------------------------------------------------------

    def _script(self, name: str) -> Any:
        self._redis()
        return self._scripts[name]

    def _pipeline(self) -> Any:
        """A non-transactional pipeline (on a cluster, split by node)."""
        return self._redis().pipeline(transaction=False)

    def _pipelined(self, operation: str, build: Callable[[Any], None]) -> list[Any]:
        """Commands ``build`` adds to one pipeline, under the breaker and retries
        (the whole pipeline is sent again: its commands must be idempotent)."""

        def call() -> list[Any]:
            pipe = self._pipeline()
            build(pipe)
            return list(pipe.execute())

        return self._run(operation, call)

    def _run_scripts(self, operation: str, calls: Sequence[ScriptCall]) -> list[Any]:
        """Script calls in one pipeline (one round trip per node), under ``_run``:
        the calls must be idempotent, since a retry sends them all again."""
        return self._run(operation, lambda: self._scripts_at_once(calls)) if calls else []

    def _scripts_at_once(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """A pipeline cannot load a script the server lost (restart, SCRIPT FLUSH):
        the calls answered NOSCRIPT are sent again once the scripts are loaded;
        the others ran once."""
        results = self._send_scripts(calls)
        missing = [n for n, reply in enumerate(results) if isinstance(reply, rx.NoScriptError)]
        if missing:
            client = self._redis()
            for script in self._scripts.values():
                client.script_load(script.script)  # every primary of a cluster
            for n, reply in zip(missing, self._send_scripts([calls[n] for n in missing]),
                                strict=True):
                results[n] = reply
        for reply in results:
            if isinstance(reply, Exception):
                raise reply
        return results

    def _send_scripts(self, calls: Sequence[ScriptCall]) -> list[Any]:
        pipe = self._pipeline()
        for name, keys, args in calls:
            # ClusterPipeline.evalsha is blocked because it cannot reload a lost
            # script; _scripts_at_once does, so the command goes in directly.
            pipe.execute_command("EVALSHA", self._script(name).sha, len(keys), *keys, *args)
        return list(pipe.execute(raise_on_error=False))

    # -- health -------------------------------------------------------------------

    def ping(self) -> bool:
        """True when Redis answers (through the breaker: an open circuit is not ready)."""
        try:
            return bool(self._run("ping", lambda: self._redis().ping()))
        except StoreUnavailable:
            return False

    @property
    def circuit_state(self) -> str:
        return self.breaker.state

    def close(self) -> None:
        """Release this process's connections."""
        with self._client_lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None


def hash_tag(text: str) -> str:
    """``text`` escaped so that it can sit between ``{`` and ``}`` of a key: every
    key with this tag lands in the same cluster slot, and two texts never share
    a tag."""
    return text.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def lua(name: str) -> str:
    """The text of ``store/redis/lua/<name>.lua``, each ``--#include other`` line replaced by
    the text of ``store/redis/lua/other.lua`` (code several scripts share)."""
    text = resources.files("store.redis").joinpath("lua", f"{name}.lua").read_text()
    return "\n".join(lua(line.split()[1]) if line.startswith("--#include ") else line
                     for line in text.splitlines())


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime; NaiveTimestamp otherwise."""
    if moment.tzinfo is None:
        raise NaiveTimestamp(f"timestamp {moment.isoformat()} has no timezone")
    return (moment - EPOCH) // MICROSECOND


def from_micros(value: int | str) -> datetime:
    """The UTC datetime of a ``micros`` value (as Redis returns it, a string)."""
    return EPOCH + timedelta(microseconds=int(value))
