"""The authors' workbench: check a draft without storing it, lay a version out,
and try a version on one contact without recording anything.

These are what the authors' page (``/author``) calls while a pack is being
written; the API calls them too (``POST /v1/packs/check``,
``GET /v1/packs/<hash>/outline``, ``POST /v1/packs/<hash>/try``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from engine.backends import ExecutionBackend
from engine.errors import InvalidPack, PackProblem
from engine.language.compiler import compile_pack
from engine.language.lint import Finding, lint_pack
from engine.language.loader import read_yaml
from engine.memory import MemoryStore
from engine.model import ContactRecord, DecisionRequest
from engine.plan import Plan
from engine.ports import ContactStore, EventSource
from engine.service import ActivePack, DecisionResult, DecisionService
from engine.testing import PackTestResult, run_pack_test

log = logging.getLogger("nba.packs")
DRAFT_NAME = "<draft>"
OUTLINE_SECTIONS = ("channels", "facts", "actions", "fallbacks", "journeys")


@dataclass(frozen=True)
class DraftCheck:
    """What an upload of this source would answer, without storing it: its
    problems (``reason`` says which stage refused it), each test's verdict, and
    the lint findings of a valid draft."""

    reason: str | None
    problems: tuple[PackProblem, ...] = ()
    tests: tuple[PackTestResult, ...] = ()
    warnings: tuple[Finding, ...] = ()
    plan: Plan | None = None


def check_draft(source: bytes, backend: ExecutionBackend, now: datetime) -> DraftCheck:
    """Validate ``source`` completely, run every one of its tests, and lint it.
    Never raises for a bad pack: a refused draft is the answer, not an error."""
    try:
        plan = compile_pack(source, DRAFT_NAME)
    except InvalidPack as exc:
        return DraftCheck("invalid_pack", tuple(exc.problems))
    if not plan.tests:
        return DraftCheck("untested_pack", (PackProblem(
            DRAFT_NAME, None, "tests", "the pack has no tests: add at least one under tests: "
            "(an untested pack is never served)"),), plan=plan)
    results = tuple(run_pack_test(plan, test, DRAFT_NAME, backend) for test in plan.tests)
    warnings = _lint(plan, now)
    reason = None if all(r.passed for r in results) else "pack_tests_failed"
    return DraftCheck(reason, (), results, warnings, plan)


def _lint(plan: Plan, now: datetime) -> tuple[Finding, ...]:
    try:
        return tuple(lint_pack(plan, now))
    except Exception:  # lint is advice: a fault in it must not hide the check's answer
        log.exception("lint failed on a draft of %s", plan.name)
        return ()


def outline(source: str) -> dict[str, Any]:
    """A stored (valid) version laid out for reading: its header, channels, facts,
    actions, policies, fallbacks and journeys as written, each item with its line."""
    doc, _ = read_yaml(source, "<pack>")
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    lines = doc.lines if doc is not None else {}
    answer: dict[str, Any] = {key: data.get(key) for key in ("pack", "version", "timezone")}
    for section in OUTLINE_SECTIONS:
        answer[section] = _items(data.get(section), lines, (section,))
    policies = data.get("policies") or {}
    answer["policies"] = {
        name: _items(value, lines, ("policies", name)) if isinstance(value, list) else value
        for name, value in policies.items()}
    answer["tests"] = [{"name": t.get("name"), "line": lines.get(("tests", n))}
                       for n, t in enumerate(data.get("tests") or []) if isinstance(t, dict)]
    return _plain(answer)


def _plain(value: Any) -> Any:
    """JSON-ready: YAML dates and times as ISO-8601 text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _items(value: Any, lines: dict, path: tuple) -> Any:
    """A list of mappings with the line of each; mappings of mappings as a list too."""
    if isinstance(value, list):
        return [{**item, "line": lines.get((*path, n))} if isinstance(item, dict) else item
                for n, item in enumerate(value)]
    if isinstance(value, dict):
        return [{"id": key, **(item if isinstance(item, dict) else {"value": item}),
                 "line": lines.get((*path, key))} for key, item in value.items()]
    return value


def try_version(plan: Plan, request: DecisionRequest, backend: ExecutionBackend,
                contacts: ContactStore | None = None, events: EventSource | None = None,
                pasted: ContactRecord | None = None) -> DecisionResult:
    """The decision ``plan`` would make for one contact, explained, recording
    nothing: a stored contact (its profile, consents and history, read from
    ``contacts``) or a ``pasted`` one (with no history)."""
    request = replace(request, explain=True, dry_run=True)
    if pasted is not None:
        store = MemoryStore()
        store.put_contact(pasted)
        contacts, events = store, None
        request = replace(request, contact_id=pasted.contact_id)
    service = DecisionService(contacts, ActivePack(plan), backend, events=events,
                              new_id=lambda: "try")
    return service.decide(request)
