"""A circuit breaker: when the store keeps failing, fail fast instead of waiting.

After ``failures`` consecutive failures the circuit opens: every call fails at
once for ``reset_after`` seconds. Then one call is let through (half-open);
its success closes the circuit, its failure opens it again. One breaker per
process: each gunicorn worker finds out on its own.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpen(Exception):
    """The circuit is open: the call was not attempted."""


class CircuitBreaker:
    """Counts consecutive failures and decides whether a call may go out."""

    def __init__(self, failures: int = 3, reset_after: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.failures = max(1, failures)
        self.reset_after = reset_after
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failed = 0
        self._opened_at = 0.0
        self._trial_out = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self.clock() - self._opened_at >= self.reset_after:
                return HALF_OPEN
            return self._state

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may be attempted now."""
        with self._lock:
            if self._state == CLOSED:
                return
            if self._state == OPEN and self.clock() - self._opened_at < self.reset_after:
                raise CircuitOpen(self._retry_in())
            if self._trial_out:
                raise CircuitOpen(self._retry_in())
            self._trial_out = True
            self._set(HALF_OPEN)

    def succeeded(self) -> None:
        with self._lock:
            self._failed = 0
            self._trial_out = False
            self._set(CLOSED)

    def failed(self) -> None:
        with self._lock:
            self._failed += 1
            self._trial_out = False
            if self._state == HALF_OPEN or self._failed >= self.failures:
                self._opened_at = self.clock()
                self._set(OPEN)

    def _retry_in(self) -> str:
        wait = max(0.0, self.reset_after - (self.clock() - self._opened_at))
        return f"circuit open after {self._failed} consecutive failures; next try in {wait:.2f} s"

    def _set(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self.on_change is not None:
                self.on_change(state)
