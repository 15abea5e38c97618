"""Working hours: an agent's next free slot, in the agent's time zone, within
working hours and the agent's calls per day."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Iterable

from engine.agenda.model import UTC, WEEKDAYS, Agent, Task
from engine.timeutil import zone

SEARCH_DAYS = 60  # how far ahead a slot is looked for
GRID = timedelta(minutes=5)  # slots start on a five-minute grid
HALF_DAY = time(13, 0)  # mornings end, afternoons start


def agent_zone(agent: Agent) -> tzinfo:
    return zone(agent.timezone) or UTC


def local_day(moment: datetime, agent: Agent) -> date:
    return moment.astimezone(agent_zone(agent)).date()


def day_load(tasks: Iterable[Task], agent: Agent, day: date) -> int:
    """The calls booked for the agent on a local day (cancelled ones do not count)."""
    return sum(1 for t in tasks if t.slot_at is not None and t.status != "cancelled"
               and local_day(t.slot_at, agent) == day)


def next_free_slot(agent: Agent, booked: Iterable[Task], after: datetime,
                   duration: timedelta) -> datetime | None:
    """The first start at or after ``after`` on the five-minute grid where the agent
    works for ``duration`` without overlapping a booked call, on a day that is not
    full; None if there is none within SEARCH_DAYS."""
    tz = agent_zone(agent)
    tasks = [t for t in booked if t.slot_at is not None and t.status != "cancelled"]
    start_day = after.astimezone(tz).date()
    for offset in range(SEARCH_DAYS):
        day = start_day + timedelta(days=offset)
        intervals = agent.working_hours.get(WEEKDAYS[day.weekday()], ())
        if not intervals or day_load(tasks, agent, day) >= agent.capacity_per_day:
            continue
        busy = sorted((t.slot_at, t.ends_at) for t in tasks if local_day(t.slot_at, agent) == day)
        for opens, closes in intervals:
            found = _gap(datetime.combine(day, opens, tzinfo=tz),
                         datetime.combine(day, closes, tzinfo=tz), busy, after, duration)
            if found is not None:
                return found.astimezone(UTC)
    return None


def _gap(opens: datetime, closes: datetime, busy: list[tuple[datetime, datetime]],
         after: datetime, duration: timedelta) -> datetime | None:
    cursor = _on_grid(max(opens, after), opens)
    for start, end in busy:
        if end <= cursor:
            continue
        if start >= cursor + duration:
            break
        cursor = _on_grid(max(cursor, end), opens)
    return cursor if cursor + duration <= closes else None


def _on_grid(moment: datetime, origin: datetime) -> datetime:
    """``moment`` rounded up to the grid that starts at ``origin``."""
    steps = -((origin - moment) // GRID)
    return origin + steps * GRID if moment > origin else origin


def next_half_day(moment: datetime, agent: Agent) -> datetime:
    """The start of the half-day after the one ``moment`` falls in, in the agent's
    zone: a call retried "on another half-day" is looked for from there."""
    tz = agent_zone(agent)
    local = moment.astimezone(tz)
    if local.time() < HALF_DAY:
        return datetime.combine(local.date(), HALF_DAY, tzinfo=tz).astimezone(UTC)
    return datetime.combine(local.date() + timedelta(days=1), time(0, 0),
                            tzinfo=tz).astimezone(UTC)
