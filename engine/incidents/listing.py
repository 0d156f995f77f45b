"""``kubetriage history``: the recent incidents, as a table or JSON."""

from __future__ import annotations

import json
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubetriage.escape import terminal
from kubetriage.incidents.history import Incident


def render_history(incidents: list[Incident], output: str, console: Console) -> None:
    if output == "json":
        console.file.write(json.dumps({"incidents": [i.as_dict() for i in incidents]}, indent=2) + "\n")
        return
    if not incidents:
        console.print("No incidents recorded.")
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("STATUS", "SEVERITY", "RULE", "FIRST SEEN", "LAST SEEN", "RESOLVED", "FLAPS"):
        table.add_column(column, no_wrap=True)
    table.add_column("INCIDENT", overflow="fold")
    for i in incidents:
        status = Text("resolved", style="dim") if i.resolved_at else Text("OPEN", style="bold red")
        table.add_row(status, Text(terminal(i.severity)), Text(terminal(i.rule_id)), _short(i.first_seen),
                      _short(i.last_seen), _short(i.resolved_at), str(i.flaps), Text(terminal(i.title)))
    console.print(table)


def _short(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at else "—"
