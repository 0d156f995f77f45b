"""Render a TriageReport: table (rich), JSON (the DESIGN §5 contract), YAML, Markdown."""

from __future__ import annotations

import json
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubetriage.findings import Finding
from kubetriage.triage import TriageReport

FORMATS = ("table", "json", "yaml", "markdown")
_COLOURS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def render_report(report: TriageReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        console.file.write(json.dumps(report.as_dict(), indent=2) + "\n")
    elif fmt == "yaml":
        console.file.write(yaml.safe_dump(report.as_dict(), sort_keys=False, allow_unicode=True))
    elif fmt == "markdown":
        console.file.write(markdown(report))
    else:
        _table(report, console)


def _symptoms(report: TriageReport) -> dict[str, list[Finding]]:
    by_id = {f.id: f for f in report.findings}
    return {f.id: [by_id[i] for i in f.explains if i in by_id] for f in report.findings}


def _table(report: TriageReport, console: Console) -> None:
    data = report.as_dict()
    head = f"cluster {data['cluster'] or '(unnamed)'}, collected {data['collected_at'] or 'now'}"
    console.print(Text(f"kubetriage: {head}", style="bold"))
    if not report.findings:
        console.print(Text("No findings.", style="green"))
    else:
        table = Table(show_lines=True)
        for column in ("", "Severity", "Rule", "Finding", "Subjects"):
            table.add_column(column, overflow="fold")
        symptoms = _symptoms(report)
        for f in report.findings:
            if not f.root_cause:
                continue
            _row(table, f, "ROOT")
            for s in symptoms[f.id]:
                _row(table, s, "  └ symptom")
        console.print(table)
    _coverage(data["coverage"], console)


def _row(table: Table, f: Finding, marker: str) -> None:
    detail = Text(f.title, style="bold")
    detail.append("\n" + f.summary)
    for line in f.evidence[:3]:
        detail.append("\n• " + line, style="dim")
    if len(f.evidence) > 3:
        detail.append(f"\n• … {len(f.evidence) - 3} more (see -o json)", style="dim")
    detail.append(f"\nrunbook: {f.runbook}", style="italic")
    table.add_row(marker, Text(f.severity, style=_COLOURS[f.severity]), f.rule_id, detail,
                  "\n".join(f.subjects[:6]) + ("\n…" if len(f.subjects) > 6 else ""))


def _coverage(coverage: dict[str, Any], console: Console) -> None:
    if coverage["errors"]:
        console.print(Text("Could not collect:", style="bold yellow"))
        for e in coverage["errors"]:
            console.print(f"  {e['source']} {e['target']}: {e['message']}")
    if coverage["not_evaluated"]:
        console.print(Text("Rules not evaluated (data missing):", style="bold yellow"))
        for item in coverage["not_evaluated"]:
            console.print(f"  {item['rule_id']}: needs {', '.join(item['missing'])}")


def markdown(report: TriageReport) -> str:
    data = report.as_dict()
    out = [f"# kubetriage report: {data['cluster'] or 'cluster'}", "",
           f"Collected at {data['collected_at'] or 'unknown'}; {data['rules_evaluated']} rules "
           f"evaluated; {len(report.findings)} findings.", ""]
    symptoms = _symptoms(report)
    for f in report.findings:
        if not f.root_cause:
            continue
        out += _md_finding(f, "##")
        for s in symptoms[f.id]:
            out += _md_finding(s, "###", symptom=True)
    cov = data["coverage"]
    out += ["## Coverage", ""]
    out += [f"- could not collect `{e['target']}` ({e['source']}): {e['message']}" for e in cov["errors"]]
    out += [f"- {n['rule_id']} not evaluated: needs {', '.join(n['missing'])}" for n in cov["not_evaluated"]]
    out += [f"- not collected: {', '.join(cov['missing']) or 'nothing'}", ""]
    return "\n".join(out)


def _md_finding(f: Finding, level: str, symptom: bool = False) -> list[str]:
    label = "Symptom" if symptom else "Root cause"
    lines = [f"{level} {label}: {f.title} ({f.rule_id}, {f.severity})", "", f.summary, "",
             "Subjects: " + ", ".join(f"`{s}`" for s in f.subjects), "", "Evidence:", ""]
    lines += [f"- {e}" for e in f.evidence]
    return [*lines, "", f"Runbook: `{f.runbook}`", ""]
