"""The durable-rules execution backend (``NBA_ENGINE=durable``).

durable-rules (a Rete engine with a C core) is imported only when this
backend loads a pack, so the rest of the engine never needs it.
"""
from __future__ import annotations

from engine.durable.backend import DurableBackend, DurableDisagreement, DurableEngineFailure

__all__ = ["DurableBackend", "DurableDisagreement", "DurableEngineFailure"]
