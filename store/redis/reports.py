"""Report counters on Redis or Redis Cluster. Per pack and local day, one hash of
sums (field ``program \\x1f action \\x1f channel \\x1f measure``, grown with
HINCRBYFLOAT) and one HyperLogLog of the contacts reached per program, action
and channel (distinct contacts over a range are estimated by PFCOUNT over the
days' HyperLogLogs, about 0.81 % standard error). Every key of a pack shares
its hash tag, so one Lua script (``store/redis/lua/reports_add.lua``) applies a
batch atomically, once per batch id, and one PFCOUNT (in ``reports_contacts.lua``) unions
any range of days on a cluster; writes are one batch per process every second or so, so the one
slot per pack is not a hot spot."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping

from engine.reports.model import DayKey, ReportData, RowKey, Tally
from store.redis.base import RedisBackend, hash_tag

US = "\x1f"
BATCH_MARKER_TTL_S = 7 * 86400
IDS_PER_PFADD = 500  # Lua's unpack has a stack limit: contacts go in groups


class RedisReportStore(RedisBackend):
    SCRIPTS = ("reports_add", "reports_contacts")

    def _tag(self, pack: str) -> str:
        return f"{self.prefix}:{{rep:{hash_tag(pack)}}}"

    def _day(self, pack: str, day: date) -> str:
        return f"{self._tag(pack)}:d:{day.isoformat()}"

    def _reached(self, pack: str, day: date, row: RowKey) -> str:
        return f"{self._tag(pack)}:c:{day.isoformat()}:{US.join(row)}"

    def add(self, pack: str, batch_id: str, increments: Mapping[DayKey, Tally],
            contacts: Mapping[DayKey, frozenset[str]]) -> bool:
        keys = [f"{self._tag(pack)}:b:{batch_id}"]
        index: dict[str, int] = {}

        def at(key: str) -> str:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)
            return str(index[key])

        counters: list[str] = []
        for (day, *row), tally in increments.items():
            for measure, amount in tally.measures().items():
                counters += [at(self._day(pack, day)), US.join([*row, measure]), repr(amount)]
        reached: list[str] = []
        for (day, *row), ids in contacts.items():
            ordered = sorted(ids)
            for start in range(0, len(ordered), IDS_PER_PFADD):
                group = ordered[start:start + IDS_PER_PFADD]
                reached += [at(self._reached(pack, day, tuple(row))), str(len(group)), *group]
        args = [str(BATCH_MARKER_TTL_S), str(len(counters) // 3), *counters, *reached]
        script = self._script("reports_add")
        return bool(self._run("reports_add", lambda: script(keys=keys, args=args)))

    def read(self, pack: str, start: date, end: date) -> ReportData:
        days = [start + timedelta(days=n) for n in range((end - start).days)]
        hashes = self._pipelined("reports_read", lambda pipe: [
            pipe.hgetall(self._day(pack, day)) for day in days]) if days else []
        measures: dict[DayKey, dict[str, float]] = {}
        for day, fields in zip(days, hashes, strict=True):
            for name, amount in fields.items():
                program, action, channel, measure = name.split(US)
                measures.setdefault((day, program, action, channel), {})[measure] = float(amount)
        tallies = {key: Tally.from_measures(m) for key, m in measures.items()}
        contacts, programs = self._distinct(pack, [k for k, t in tallies.items() if t.messages])
        return ReportData(tallies, contacts, programs, "estimated")

    def _distinct(self, pack: str, reached: list[DayKey]) -> tuple[dict[RowKey, int],
                                                                   dict[str, int]]:
        rows: dict[RowKey, list[str]] = {}
        programs: dict[str, list[str]] = {}
        for day, *row in reached:
            key = self._reached(pack, day, tuple(row))
            rows.setdefault(tuple(row), []).append(key)  # type: ignore[arg-type]
            programs.setdefault(row[0], []).append(key)
        if not rows:
            return {}, {}
        groups: list[tuple[Any, list[str]]] = [*rows.items(), *programs.items()]
        # One short script per group, pipelined: other clients' commands run between
        # them, and no single reply waits on the union of the whole range.
        scratch = f"{self._tag(pack)}:scratch"
        replies = self._run_scripts("reports_contacts", [
            ("reports_contacts", [*group, scratch], [str(len(group))]) for _, group in groups])
        counts = [reply[0] for reply in replies]
        named = dict(zip([name for name, _ in groups], counts, strict=True))
        return ({row: int(named[row]) for row in rows},
                {program: int(named[program]) for program in programs})
