"""Report counters in process memory (tests, ``memory://``)."""
from __future__ import annotations

import threading
from datetime import date
from typing import Mapping

from engine.reports.model import DayKey, ReportData, RowKey, Tally


class MemoryReportStore:
    def __init__(self) -> None:
        self._tallies: dict[str, dict[DayKey, Tally]] = {}
        self._contacts: dict[str, dict[DayKey, set[str]]] = {}
        self._batches: set[str] = set()
        self._lock = threading.Lock()

    def add(self, pack: str, batch_id: str, increments: Mapping[DayKey, Tally],
            contacts: Mapping[DayKey, frozenset[str]]) -> bool:
        with self._lock:
            if batch_id in self._batches:
                return False
            self._batches.add(batch_id)
            stored = self._tallies.setdefault(pack, {})
            for key, tally in increments.items():
                stored[key] = stored[key].plus(tally) if key in stored else tally
            reached = self._contacts.setdefault(pack, {})
            for key, ids in contacts.items():
                reached.setdefault(key, set()).update(ids)
        return True

    def read(self, pack: str, start: date, end: date) -> ReportData:
        with self._lock:
            tallies = {k: t for k, t in self._tallies.get(pack, {}).items()
                       if start <= k[0] < end}
            rows: dict[RowKey, set[str]] = {}
            programs: dict[str, set[str]] = {}
            for (day, program, action, channel), ids in self._contacts.get(pack, {}).items():
                if start <= day < end:
                    rows.setdefault((program, action, channel), set()).update(ids)
                    programs.setdefault(program, set()).update(ids)
        return ReportData(tallies, {k: len(v) for k, v in rows.items()},
                          {k: len(v) for k, v in programs.items()}, "exact")

    def close(self) -> None:
        pass
