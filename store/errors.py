"""Errors of the storage backends."""
from __future__ import annotations


class UnknownStoreURL(ValueError):
    """NBA_STORE_URL names a scheme no backend serves."""
