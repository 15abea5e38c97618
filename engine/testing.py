"""Running a pack's own ``tests:``, for the CLI and for pytest alike.

Each test gets a fresh in-memory store holding its contact and history, and
goes through the same ``DecisionService`` the API uses. A test with a
``timeline`` drives journeys instead of one decision (``engine/journeys/testing.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

from engine.backends import CompiledBackend, ExecutionBackend
from engine.errors import EngineError
from engine.language.compiler import load_pack
from engine.language.pack_tests import is_journey_test
from engine.memory import MemoryStore
from engine.model import (
    ContactRecord,
    DecisionRequest,
    HistoryEntry,
    OutcomeReport,
    Reservation,
)
from engine.plan import PackTest, Plan
from engine.service import ActivePack, DecisionService
from engine.timeutil import UTC, to_datetime


@dataclass(frozen=True)
class PackTestResult:
    """One pack test's verdict, located in its file."""

    file: str
    name: str
    line: int | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        head = f"{verdict} {self.file}:{self.line or '?'} {self.name}"
        return "\n".join([head] + [f"    {f}" for f in self.failures])


def pack_files(paths: Iterable[str | Path]) -> list[Path]:
    """The pack files named by ``paths`` (folders give their *.yaml files)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


def run_file(path: Path, backend: ExecutionBackend | None = None) -> list[PackTestResult]:
    """Run every test of the pack at ``path``; InvalidPack if it does not load."""
    plan = load_pack(path)
    return [run_pack_test(plan, test, str(path), backend) for test in plan.tests]


def run_pack_test(plan: Plan, test: PackTest, file: str,
                  backend: ExecutionBackend | None = None) -> PackTestResult:
    """Run one test of ``plan`` and compare what it got with what it expects."""
    spec = test.raw
    backend = backend or CompiledBackend()
    try:
        if is_journey_test(spec):
            # Imported here: the journey runner builds on this module's helpers.
            from engine.journeys.testing import run_journey_test

            failures = run_journey_test(plan, spec, backend)
        else:
            failures = _compare(spec["expect"], _decide(plan, spec, backend))
    except (EngineError, ValueError, TypeError, KeyError) as exc:
        return PackTestResult(file, test.name, test.line, (f"could not run: {exc}",))
    return PackTestResult(file, test.name, test.line, tuple(failures))


def _moment(value: Any, plan: Plan) -> datetime:
    """A test's time as an aware UTC datetime (no offset: the pack's timezone)."""
    moment = to_datetime(value, plan.tz)
    if moment is None:
        raise ValueError(f"{value!r} is not a date-time")
    return moment.astimezone(UTC)


def seeded_store(plan: Plan, spec: dict[str, Any]) -> tuple[MemoryStore, str]:
    """A fresh store holding the test's contact and history, and the contact's id."""
    store = MemoryStore()
    contact = dict(spec["contact"])
    contact_id = str(contact.pop("id"))
    consents = contact.pop("consents", None) or {}
    store.put_contact(ContactRecord(contact_id, contact, consents))
    for number, item in enumerate(spec.get("history") or ()):
        _remember(store, plan, contact_id, f"history-{number}", item)
    return store, contact_id


def _decide(plan: Plan, spec: dict[str, Any], backend: ExecutionBackend):
    store, contact_id = seeded_store(plan, spec)
    request = spec["request"]
    decision_request = DecisionRequest(
        contact_id=contact_id, channel=request["channel"], at=_moment(spec["at"], plan),
        placement=request.get("placement"), context=request.get("context") or {},
        profile=request.get("profile") or {}, limit=int(request.get("limit", 1)), explain=True,
    )
    service = DecisionService(store, ActivePack(plan), backend, new_id=lambda: "pack-test")
    return service.decide(decision_request).decision


def _remember(store: MemoryStore, plan: Plan, contact_id: str, decision_id: str,
              item: dict[str, Any]) -> None:
    action = plan.action(item["action"])
    at = _moment(item["at"], plan)
    entry = HistoryEntry(decision_id, action.id, action.program, action.kind, item["channel"],
                         at, item.get("placement"))
    store.reserve(Reservation(contact_id, (entry,)))
    for outcome in item.get("outcomes") or ():
        store.record_outcome(OutcomeReport(decision_id, action.id, outcome,
                                           at + timedelta(minutes=1)))


def _compare(expect: dict[str, Any], decision) -> list[str]:
    failures = []
    got_actions = [a.action_id for a in decision.actions]
    if "actions" in expect and list(expect["actions"] or []) != got_actions:
        failures.append(f"actions: expected {expect['actions']}, got {got_actions}")
    if "fallback" in expect and expect["fallback"] != (decision.fallback is not None):
        failures.append(f"fallback: expected {expect['fallback']}, got "
                        f"{decision.fallback or 'no fallback'}")
    policies = {}
    for exclusion in decision.excluded:
        policies.setdefault(exclusion.action_id, exclusion)
    for action_id, policy in (expect.get("excluded") or {}).items():
        found = policies.get(action_id)
        if found is None:
            failures.append(f"excluded.{action_id}: expected {policy}, but it was not excluded")
        elif found.policy != policy:
            failures.append(f"excluded.{action_id}: expected {policy}, got {found.policy} "
                            f"({found.rule}: {found.reason})")
    for name, value in (expect.get("facts") or {}).items():
        if decision.facts.get(name) != value:
            failures.append(f"facts.{name}: expected {value!r}, got {decision.facts.get(name)!r}")
    return failures
