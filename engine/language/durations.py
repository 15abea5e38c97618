"""Durations as rule authors write them: ``30m``, ``24h``, ``7d``, ``2w``."""
from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: object) -> timedelta:
    """The timedelta for ``text``; ValueError with a readable message if invalid."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: write a positive number and a unit, "
                         "m, h, d or w (for example 30m, 24h, 7d, 2w)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
