"""Populations for simulations: contacts read from JSON Lines or CSV text.

JSON Lines: one object a line, ``{"id": "c1", "profile": {...}, "consents": {...}}``
(``contact_id`` is accepted for ``id``). CSV: a header line; ``id`` (or
``contact_id``), ``consents.<channel>`` columns (true/false, 1/0, yes/no),
and every other column a profile attribute, dotted names nested
(``scores.appetence``), numbers and true/false read as such, empty cells left out.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from engine.model import ContactRecord

MAX_CONTACTS = 1_000_000
_TRUE, _FALSE = ("true", "1", "yes", "y"), ("false", "0", "no", "n", "")


class InvalidPopulation(ValueError):
    """A contacts file that cannot be read, with the line to blame."""


def read_population(text: str, kind: str) -> list[ContactRecord]:
    """The contacts in ``text``, ``kind`` "jsonl" or "csv"."""
    records = _jsonl(text) if kind == "jsonl" else _csv(text)
    if not records:
        raise InvalidPopulation("the contacts file holds no contact")
    return records


def contact_from_mapping(item: Any, where: str) -> ContactRecord:
    """One contact from ``{"id", "profile", "consents"}``; InvalidPopulation if malformed."""
    if not isinstance(item, dict):
        raise InvalidPopulation(f"{where}: a contact is an object with id, profile, consents")
    contact_id = item.get("id", item.get("contact_id"))
    profile, consents = item.get("profile") or {}, item.get("consents") or {}
    if not isinstance(contact_id, (str, int)) or isinstance(contact_id, bool) \
            or not str(contact_id):
        raise InvalidPopulation(f"{where}: a contact needs an id")
    if not isinstance(profile, dict) or not isinstance(consents, dict) \
            or not all(isinstance(v, bool) for v in consents.values()):
        raise InvalidPopulation(f"{where}: profile is an object, consents an object of "
                                "channel to true/false")
    return ContactRecord(str(contact_id), profile, consents)


def _jsonl(text: str) -> list[ContactRecord]:
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InvalidPopulation(f"line {number}: not JSON: {exc}") from exc
        records.append(contact_from_mapping(item, f"line {number}"))
        if len(records) > MAX_CONTACTS:
            raise InvalidPopulation(f"more than {MAX_CONTACTS} contacts")
    return records


def _csv(text: str) -> list[ContactRecord]:
    rows = csv.DictReader(io.StringIO(text))
    records = []
    for number, row in enumerate(rows, 2):
        contact_id = (row.pop("id", None) or row.pop("contact_id", None) or "").strip()
        if not contact_id:
            raise InvalidPopulation(f"line {number}: a contact needs an id")
        profile: dict[str, Any] = {}
        consents: dict[str, bool] = {}
        for column, cell in row.items():
            if column is None or cell is None:
                raise InvalidPopulation(f"line {number}: more cells than columns")
            if column.startswith(("consents.", "consent.")):
                consents[column.split(".", 1)[1]] = _flag(cell, number, column)
            elif cell.strip():
                _nest(profile, column.split("."), _cell(cell.strip()))
        records.append(ContactRecord(contact_id, profile, consents))
    return records


def _flag(cell: str, number: int, column: str) -> bool:
    text = cell.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InvalidPopulation(f"line {number}: {column} is true or false, not {cell!r}")


def _cell(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _nest(profile: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        profile = profile.setdefault(part, {})
        if not isinstance(profile, dict):
            return
    profile[parts[-1]] = value
