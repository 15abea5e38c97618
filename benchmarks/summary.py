"""One line per headline figure, for ``benchmarks/all.py`` (``make bench``) to collect.

A benchmark calls ``emit`` for each figure it wants in the summary table; the
line starts with ``SUMMARY`` and carries JSON, so that its own report stays
free-form.
"""
from __future__ import annotations

import json

PREFIX = "SUMMARY "


def emit(benchmark: str, figure: str, value: float, unit: str, target: str = "",
         met: bool | None = None) -> None:
    """Print one figure (and its target, and whether this run met it)."""
    print(PREFIX + json.dumps({"benchmark": benchmark, "figure": figure, "value": value,
                               "unit": unit, "target": target, "met": met}), flush=True)
