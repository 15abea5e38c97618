"""The rule authors' use cases: upload, read, diff, activate, roll back, audit.

The API and the CLI call these; nothing here knows HTTP or a database.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from engine.authoring.diff import diff_sources
from engine.authoring.errors import (
    NothingToRollBack,
    PackRefused,
    SimulationTooLarge,
    UnknownPackVersion,
)
from engine.authoring.follower import PackFollower
from engine.authoring.model import Actor, AuditEntry, PackMeta, PackTestSummary
from engine.authoring.ports import PackRegistry
from engine.authoring.simulate import compare, decisions_needed, simulate
from engine.authoring.workbench import DraftCheck, check_draft, outline, try_version
from engine.backends import ExecutionBackend
from engine.errors import InvalidPack, PackProblem
from engine.language.compiler import compile_pack
from engine.language.lint import Finding, lint_pack
from engine.language.loader import format_path
from engine.model import ContactRecord, DecisionRequest
from engine.plan import Plan
from engine.ports import ContactStore, EventSource
from engine.service import DecisionResult
from engine.testing import PackTestResult, run_pack_test

log = logging.getLogger("nba.packs")
UPLOAD_NAME = "<upload>"
MAX_LABEL = 200


@dataclass(frozen=True)
class Upload:
    """What an upload stored (or found stored already), with its test results."""

    meta: PackMeta
    created: bool
    tests: tuple[PackTestResult, ...]
    warnings: tuple[Finding, ...] = ()


def normal_hash(text: str) -> str:
    """``sha256:<hex>`` for a hash written with or without its prefix."""
    return text if text.startswith("sha256:") else f"sha256:{text}"


class PackAuthoring:
    """Uploads checked and tested before they are stored; activations audited."""

    def __init__(self, registry: PackRegistry, follower: PackFollower,
                 test_backend: Callable[[], ExecutionBackend], clock: Callable[[], datetime]):
        self.registry = registry
        self.follower = follower
        self.test_backend = test_backend
        self.clock = clock

    def upload(self, source: bytes, actor: Actor, label: str | None = None) -> Upload:
        """Validate ``source`` completely, run its tests, and store it as a new
        (inactive) version. PackRefused lists every problem; nothing is stored then."""
        try:
            plan = compile_pack(source, UPLOAD_NAME)
        except InvalidPack as exc:
            raise PackRefused("invalid_pack", list(exc.problems)) from exc
        results = self._run_tests(plan)
        label = (label or "").strip()[:MAX_LABEL] or None
        now = self.clock()
        findings = self._lint(plan, now)
        meta = PackMeta(plan.hash, plan.name, plan.version, label, actor, now,
                        PackTestSummary(True, sum(r.passed for r in results),
                                        sum(not r.passed for r in results)),
                        tuple(str(f) for f in findings), size=len(source))
        created = self.registry.add(meta, plan.source, AuditEntry(
            meta.uploaded_at, actor, "upload",
            {"hash": plan.hash, "pack": plan.name, "version": plan.version, "label": label}))
        return Upload(meta if created else self.registry.get(plan.hash) or meta, created,
                      tuple(results), findings)

    @staticmethod
    def _lint(plan: Plan, now: datetime) -> tuple[Finding, ...]:
        """Warnings for the author; a fault in lint must not refuse a valid pack."""
        try:
            return tuple(lint_pack(plan, now))
        except Exception:  # lint is advice: log its fault, store the pack anyway
            log.exception("lint failed on pack %s", plan.hash)
            return ()

    def _run_tests(self, plan: Plan) -> list[PackTestResult]:
        if not plan.tests:
            raise PackRefused("untested_pack", [PackProblem(
                UPLOAD_NAME, None, "tests", "the pack has no tests: add at least one under "
                "tests: (an untested pack is never served)")])
        backend = self.test_backend()
        results = [run_pack_test(plan, test, UPLOAD_NAME, backend) for test in plan.tests]
        failed = [(n, r) for n, r in enumerate(results) if not r.passed]
        if failed:
            raise PackRefused("pack_tests_failed", [
                PackProblem(UPLOAD_NAME, r.line, format_path(("tests", n)),
                            f"test {r.name!r} failed: " + "; ".join(r.failures))
                for n, r in failed])
        return results

    def versions(self) -> tuple[str | None, list[PackMeta]]:
        """The active hash and every stored version, oldest first."""
        return self.registry.active(), self.registry.versions()

    def version(self, pack_hash: str) -> tuple[PackMeta, str, bool]:
        """A stored version, its source, and whether it is active."""
        pack_hash = normal_hash(pack_hash)
        meta = self.registry.get(pack_hash)
        source = self.registry.source(pack_hash) if meta else None
        if meta is None or source is None:
            raise UnknownPackVersion(f"no pack version {pack_hash!r}")
        return meta, source, self.registry.active() == pack_hash

    def diff(self, pack_hash: str, other: str) -> dict[str, Any]:
        """What changes from version ``pack_hash`` to version ``other``."""
        before, before_source, _ = self.version(pack_hash)
        after, after_source, _ = self.version(other)
        return {"from": before.hash, "to": after.hash,
                **diff_sources(before_source, after_source)}

    def activate(self, pack_hash: str, actor: Actor) -> tuple[str, str | None]:
        """Make a stored version the active one; (active hash, previous hash).
        PackRefused if this process cannot serve it (it is then not activated)."""
        meta, _, _ = self.version(pack_hash)
        try:
            plan = self.follower.plan_of(meta.hash)
            self.follower.backend.prepare(plan)
        except InvalidPack as exc:
            raise PackRefused("invalid_pack", list(exc.problems)) from exc
        previous = self.registry.active()
        self.registry.activate(meta.hash, AuditEntry(
            self.clock(), actor, "activate", {"hash": meta.hash, "pack": meta.name,
                                              "version": meta.version}))
        self.follower.refresh(now_please=True)
        return meta.hash, previous

    def rollback(self, actor: Actor) -> tuple[str, str | None]:
        """Back to the version active before the current one; (active, undone)."""
        undone = self.registry.active()
        active = self.registry.rollback(AuditEntry(self.clock(), actor, "rollback", {}),
                                        undone) if undone else None
        if active is None:
            raise NothingToRollBack("no earlier active version to roll back to")
        self.follower.refresh(now_please=True)
        return active, undone

    def simulate(self, pack_hash: str, contacts: list, days: int, start: datetime,
                 against: str | None, max_decisions: int) -> dict[str, Any]:
        """A stored version (and optionally another) through a sample of contacts;
        SimulationTooLarge past ``max_decisions`` decisions per version."""
        plan = self.follower.plan_of(self.version(pack_hash)[0].hash)
        other = self.follower.plan_of(self.version(against)[0].hash) if against else None
        needed = decisions_needed(plan, len(contacts), days)
        if needed > max_decisions:
            raise SimulationTooLarge(f"{len(contacts)} contacts over {days} days make {needed} "
                                     f"decisions; at most {max_decisions} here (use "
                                     "python -m engine simulate for more)")
        report = simulate(plan, contacts, days, start, self.test_backend())
        answer = report.as_dict()
        if other is not None:
            answer["comparison"] = compare(report, simulate(other, contacts, days, start,
                                                            self.test_backend()))
        return answer

    def check(self, source: bytes) -> DraftCheck:
        """What an upload of ``source`` would answer, storing nothing."""
        return check_draft(source, self.test_backend(), self.clock())

    def outline(self, pack_hash: str) -> dict[str, Any]:
        """A stored version laid out: actions, policies, journeys, each with its line."""
        meta, source, active = self.version(pack_hash)
        return {"hash": meta.hash, "active": active, **outline(source)}

    def try_on(self, pack_hash: str, request: DecisionRequest, contacts: ContactStore,
               events: EventSource | None, pasted: ContactRecord | None) -> DecisionResult:
        """A stored version's decision for one contact, explained, recording nothing."""
        plan = self.follower.plan_of(self.version(pack_hash)[0].hash)
        return try_version(plan, request, self.test_backend(), contacts, events, pasted)

    def record_shadow(self, action: str, candidate: str, actor: Actor,
                      what: dict[str, Any] | None = None) -> None:
        """Audit the start (``shadow_start``) or stop (``shadow_stop``) of a shadow run."""
        self.registry.record(AuditEntry(self.clock(), actor, action,
                                        {"hash": candidate, **(what or {})}))

    def record_erasure(self, contact_id: str, actor: Actor) -> None:
        """Audit a contact's erasure (by a fingerprint: the log keeps no contact id)."""
        self.registry.record(AuditEntry(self.clock(), actor, "erase_contact",
                                        {"contact": contact_fingerprint(contact_id)}))

    def audit(self, limit: int, before: int | None) -> list[AuditEntry]:
        return self.registry.audit(limit, before)


def contact_fingerprint(contact_id: str) -> str:
    """What the audit log keeps of an erased contact: enough to answer "was this
    contact erased, when, by whom?" for someone who knows the id, nothing more."""
    return "sha256:" + hashlib.sha256(contact_id.encode("utf-8")).hexdigest()[:16]
