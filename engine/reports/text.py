"""The ROI report as a table a terminal shows (``python -m engine report programs``)."""
from __future__ import annotations

from typing import Any

COLUMNS = (("messages", "messages", "{:,}"), ("contacts", "contacts", "{:,}"),
           ("cost", "cost", "{:,.2f}"), ("conversions", "conv.", "{:,}"),
           ("revenue", "revenue", "{:,.2f}"), ("unsubscriptions", "unsub.", "{:,}"),
           ("complaints", "compl.", "{:,}"), ("churn_cost", "churn", "{:,.2f}"),
           ("net_value", "net value", "{:,.2f}"), ("roi", "ROI", "{:,.2f}"))
NAME_WIDTH = 34


def report_table(report: dict[str, Any]) -> str:
    """Per program, then each of its actions and channels indented, then totals."""
    costs = ", ".join(f"{o} {v:g}" for o, v in report["costs"].items()) or "none"
    lines = [f"pack {report['pack']}, {report['from']} to {report['to']} (exclusive); "
             f"outcomes priced: {costs}; contacts {report['contacts_method']}",
             _row("program / action", "channel", None)]
    for program in report["programs"]:
        lines.append(_row(program["program"], "", program))
        lines += [_row(f"  {a['action']}", a["channel"], a) for a in program["actions"]]
    if not report["programs"]:
        lines.append("(nothing recorded in this range)")
    lines.append(_row("total", "", report["totals"]))
    return "\n".join(lines)


def _row(name: str, channel: str, figures: dict[str, Any] | None) -> str:
    cells = [name[:NAME_WIDTH].ljust(NAME_WIDTH), channel[:8].ljust(8)]
    for key, title, style in COLUMNS:
        if figures is None:
            text = title
        else:
            value = figures.get(key)
            text = "-" if value is None else style.format(value)
        cells.append(text.rjust(max(len(title), 9)))
    return " ".join(cells).rstrip()
