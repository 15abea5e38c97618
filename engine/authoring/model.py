"""The values of the authoring workflow: stored versions and audit entries."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Mapping

ACTIONS = ("upload", "activate", "rollback", "erase_contact", "shadow_start", "shadow_stop")


@dataclass(frozen=True)
class Actor:
    """Who did something: the role of the API key and a fingerprint of the key
    (never the key itself), or the start-up of a process (``key`` None)."""

    role: str
    key: str | None = None

    @classmethod
    def of_key(cls, role: str, api_key: str | None) -> Actor:
        if not api_key:
            return cls(role)
        return cls(role, "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:8])


@dataclass(frozen=True)
class PackTestSummary:
    """The pack's own tests as run when the version was stored."""

    ran: bool
    passed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class PackMeta:
    """One stored version of a pack, without its source."""

    hash: str
    name: str
    version: str
    label: str | None
    uploaded_by: Actor
    uploaded_at: datetime
    tests: PackTestSummary
    warnings: tuple[str, ...] = ()
    size: int = 0

    def to_json(self) -> str:
        body = asdict(self)
        body["uploaded_at"] = self.uploaded_at.isoformat()
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PackMeta:
        body = json.loads(text)
        return cls(**{**body, "uploaded_by": Actor(**body["uploaded_by"]),
                      "uploaded_at": datetime.fromisoformat(body["uploaded_at"]),
                      "tests": PackTestSummary(**body["tests"]),
                      "warnings": tuple(body.get("warnings") or ())})


@dataclass(frozen=True)
class AuditEntry:
    """One change: who, when, what. ``seq`` is given by the registry."""

    at: datetime
    actor: Actor
    action: str
    what: Mapping[str, Any] = field(default_factory=dict)
    seq: int | None = None

    def to_json(self) -> str:
        return json.dumps({"at": self.at.isoformat(), "actor": asdict(self.actor),
                           "action": self.action, "what": dict(self.what)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, seq: int | None = None) -> AuditEntry:
        body = json.loads(text)
        return cls(datetime.fromisoformat(body["at"]), Actor(**body["actor"]), body["action"],
                   body.get("what") or {}, seq if seq is not None else body.get("seq"))
