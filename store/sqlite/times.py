"""Instants as the SQLite stores keep them: aware UTC only (a naive time is
refused before any write, since the store cannot guess its zone), written as
ISO 8601 text or as epoch seconds for the columns that are compared."""
from __future__ import annotations

from datetime import datetime, timezone

from store.errors import NaiveTimestamp


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; NaiveTimestamp for a time without a zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTimestamp(
            f"{moment.isoformat()} has no timezone; the store keeps UTC instants and cannot guess one"
        )
    return moment.astimezone(timezone.utc)


def epoch_seconds(moment: datetime) -> float:
    return utc(moment).timestamp()


def dump_time(moment: datetime) -> str:
    return utc(moment).isoformat()


def load_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)
