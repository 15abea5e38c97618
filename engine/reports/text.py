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
    if report["programs"]:
        lines += incremental_lines(report)
    return "\n".join(lines)


def incremental_lines(report: dict[str, Any]) -> list[str]:
    """Each program's incremental revenue (or why none), then each holdout's arms."""
    lines = ["", "incremental revenue against the holdout (goal revenue beyond its control "
                 "group over the range, 95 % interval):"]
    shared = {h["experiment"]: len(h["programs"]) for h in report.get("holdouts", [])}
    for program in report["programs"]:
        figure = program.get("incremental_revenue")
        if figure is None:
            text = f"- ({program.get('incremental_reason')})"
        else:
            text = (f"{figure:,.2f} [{program['incremental_low']:,.2f}, "
                    f"{program['incremental_high']:,.2f}]")
        holdout = program.get("holdout")
        if holdout:
            together = shared.get(holdout, 1)
            text += f" {holdout}" + (f", shared by {together} programs" if together > 1 else "")
        lines.append(f"  {program['program'][:NAME_WIDTH].ljust(NAME_WIDTH)} {text}")
    for holdout in report.get("holdouts", []):
        arms = "; ".join(f"{name} {arm['units']:,} contacts, {arm['goal_events']:,} goal "
                         f"events, {arm['revenue']:,.2f} ({arm['revenue_per_unit']:,.2f} each)"
                         for name, arm in (("treatment", holdout["treatment"]),
                                           ("control", holdout["control"])))
        lines.append(f"  {holdout['experiment']}: {arms}")
    return lines


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
