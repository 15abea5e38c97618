"""A readable, structured diff of two pack sources: per section (channels, facts,
actions, policies, fallbacks, events, journeys, tests), the items added, removed
and changed, and for a changed item each changed field with its two values.

Lists of mappings with an ``id`` (actions, facts, pressure rules, journeys,
steps) are compared by id, so reordering is not a change and a change deep in
a journey's step is named ``steps[cart_email].wait``.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from engine.language.loader import read_yaml

SECTIONS = ("channels", "facts", "actions", "fallbacks", "events", "journeys", "tests")
POLICY_SECTIONS = ("pressure", "suppress")
_MISSING = object()


def diff_sources(before: str, after: str) -> dict[str, Any]:
    """The diff of two valid pack sources (as stored in the registry)."""
    old, new = _data(before), _data(after)
    header = _field_changes(_scalars(old), _scalars(new), "")
    sections = {name: _section(old.get(name), new.get(name)) for name in SECTIONS}
    old_policies, new_policies = old.get("policies") or {}, new.get("policies") or {}
    sections["policies"] = {name: _section(old_policies.get(name), new_policies.get(name))
                            for name in POLICY_SECTIONS}
    sections["policies"]["other"] = _field_changes(
        {k: v for k, v in old_policies.items() if k not in POLICY_SECTIONS},
        {k: v for k, v in new_policies.items() if k not in POLICY_SECTIONS}, "")
    return {"pack": header, **sections, "identical": before == after,
            "changes": _count(header, sections)}


def _data(source: str) -> dict[str, Any]:
    doc, _ = read_yaml(source, "<pack>")
    return doc.data if doc is not None and isinstance(doc.data, dict) else {}


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in SECTIONS and k != "policies"}


def _keyed(value: Any) -> dict[str, Any]:
    """A section as {key: item}: mappings by key, lists by their items' id (or name)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {_key(item, n): item for n, item in enumerate(value)}
    return {}


def _key(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for name in ("id", "name"):
            if isinstance(item.get(name), (str, int)):
                return str(item[name])
    return f"#{index}"


def _section(before: Any, after: Any) -> dict[str, Any]:
    old, new = _keyed(before), _keyed(after)
    changed = []
    for key in (k for k in new if k in old):
        fields = _field_changes(old[key], new[key], "")
        if fields:
            changed.append({"id": key, "fields": fields})
    return {"added": [k for k in new if k not in old],
            "removed": [k for k in old if k not in new], "changed": changed}


def _field_changes(before: Any, after: Any, path: str) -> list[dict[str, Any]]:
    """Each differing leaf as {field, before, after}; None marks an absent value."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [change for key in _union(before, after)
                for change in _field_changes(before.get(key, _MISSING),
                                             after.get(key, _MISSING), _join(path, key))]
    if _id_list(before) and _id_list(after):
        old, new = _keyed(before), _keyed(after)
        return [change for key in _union(old, new)
                for change in _field_changes(old.get(key, _MISSING), new.get(key, _MISSING),
                                             f"{path}[{key}]")]
    return [{"field": path or "(value)", "before": _shown(before), "after": _shown(after)}]


def _id_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in value)


def _union(before: dict, after: dict) -> list:
    return list(before) + [k for k in after if k not in before]


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _shown(value: Any) -> Any:
    """``value`` as JSON can carry it (YAML dates as ISO texts)."""
    if value is _MISSING:
        return None
    if isinstance(value, dict):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _count(header: list, sections: dict[str, Any]) -> int:
    def size(section: dict[str, Any]) -> int:
        return len(section["added"]) + len(section["removed"]) + len(section["changed"])

    policies = sections["policies"]
    return (len(header) + sum(size(sections[name]) for name in SECTIONS)
            + sum(size(policies[name]) for name in POLICY_SECTIONS) + len(policies["other"]))
