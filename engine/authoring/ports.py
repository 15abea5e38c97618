"""The interface through which the authoring workflow reaches its storage."""
from __future__ import annotations

from typing import Protocol

from engine.authoring.model import AuditEntry, PackMeta


class PackRegistry(Protocol):
    """Versions of packs, the stack of activations, and the audit log.

    Each method is atomic on its own, across processes and machines. Every
    change appends its audit entry in the same atomic step.
    """

    def add(self, meta: PackMeta, source: str, audit: AuditEntry) -> bool:
        """Store a version and append its audit entry (True), or change nothing if
        its hash is stored already (False)."""

    def get(self, pack_hash: str) -> PackMeta | None:
        """The version stored under ``pack_hash``, or None."""

    def source(self, pack_hash: str) -> str | None:
        """The source text of a stored version, or None."""

    def versions(self) -> list[PackMeta]:
        """Every stored version, oldest first."""

    def active(self) -> str | None:
        """The hash of the active version, or None before any activation.
        Cheap: every process calls it about twice a second."""

    def activate(self, pack_hash: str, audit: AuditEntry, *, only_if_none: bool = False) -> bool:
        """Make ``pack_hash`` (a stored version) the active one, remembering the one
        it replaces for ``rollback``; the audit entry gets ``previous``. Nothing is
        changed (False) if it is active already, or if ``only_if_none`` and some
        version is active."""

    def rollback(self, audit: AuditEntry, undo: str) -> str | None:
        """If ``undo`` is the active version, go back to the one active before it
        and return that one's hash (the audit entry gets ``from`` and ``to``);
        None if there is none or if ``undo`` is not active (any more): a retried
        or concurrent rollback undoes one activation, not two."""

    def record(self, audit: AuditEntry) -> None:
        """Append an entry to the audit log (changes made elsewhere: erasures)."""

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """Audit entries, newest first, with ``seq`` below ``before`` if given."""
