"""Errors of the storage backends."""

from __future__ import annotations


class UnknownStoreURL(ValueError):
    """NBA_STORE_URL names a scheme no backend serves, or no usable path."""


class NaiveTimestamp(ValueError):
    """A datetime without a timezone reached a store that keeps UTC instants."""


class DuplicateHistoryEntry(ValueError):
    """A reservation re-used a (decision_id, action_id) pair already recorded."""
