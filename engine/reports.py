"""Render a TriageReport: table (rich), JSON (the contract in docs/findings-json.md), YAML, Markdown, JUnit.

Every value is escaped for its medium (``kubetriage.escape``): the table never lets Rich
read markup in it nor the terminal an escape sequence; Markdown is inert text and code
spans; JUnit is well-formed XML whatever the cluster sent.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubetriage.escape import markdown as md
from kubetriage.escape import markdown_code as md_code
from kubetriage.escape import terminal, xml
from kubetriage.findings import Finding, tree
from kubetriage.triage import TriageReport

FORMATS = ("table", "json", "yaml", "markdown", "junit")
_COLOURS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def render_report(report: TriageReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        console.file.write(json.dumps(report.as_dict(), indent=2) + "\n")
    elif fmt == "yaml":
        console.file.write(yaml.safe_dump(report.as_dict(), sort_keys=False, allow_unicode=True))
    elif fmt == "markdown":
        console.file.write(markdown(report))
    elif fmt == "junit":
        console.file.write(junit(report))
    else:
        _table(report, console)


def _text(text: str, style: str = "") -> Text:
    """Untrusted text for the terminal: never read as markup, control characters made visible."""
    return Text(terminal(text), style=style)


def _table(report: TriageReport, console: Console) -> None:
    data = report.as_dict()
    console.print(Text.assemble(
        ("kubetriage", "bold"), _text(f" · cluster {data['cluster'] or '(unnamed)'}"),
        _text(f" · collected {data['collected_at'] or 'now'} · {data['rules_evaluated']} rules evaluated")))
    if report.too_little:
        console.print(Text(f"Nothing to judge: {_text(report.too_little)}.", style="bold red"))
    if not report.findings:
        console.print(Text("No findings." if not report.too_little else "No findings (nothing was seen).",
                           style="bold green" if not report.too_little else "bold red"))
    else:
        ordered = [(n, f, depth) for n, (f, depth) in enumerate(tree(report.findings), 1)]
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("#", "SEVERITY", "RULE", "FINDING", "SUBJECTS"):
            table.add_column(column, overflow="fold")
        for number, finding, depth in ordered:
            title = ("  " * (depth - 1) + "  └ " if depth else "") + finding.title + (" (symptom)" if depth else "")
            table.add_row(str(number), Text(finding.severity, style=_COLOURS[finding.severity]),
                          _text(finding.rule_id), _text(title), str(len(finding.subjects)))
        console.print(table)
        for number, finding, depth in ordered:
            _details(console, number, finding, depth)
    if data["resolved_earlier"]:
        console.print()
        console.print(Text(RESOLVED_HEADING, style="bold"))
        for entry in data["resolved_earlier"]:
            console.print(Text("  • " + resolved_line(entry), style="dim"))
    _coverage(data["coverage"], console)


def _details(console: Console, number: int, f: Finding, depth: int) -> None:
    kind = "Symptom" if depth else "Root cause"
    console.print()
    console.print(Text.assemble(_text(f"{number}. {kind}: {f.title}", "bold"),
                                _text(f"  [{f.severity} · {f.rule_id} · {f.id}]", _COLOURS[f.severity])))
    console.print(_text("   " + f.summary))
    console.print(_text("   Subjects: " + ", ".join(f.subjects), style="cyan"))
    console.print(Text("   Evidence:"))
    for line in f.evidence:
        console.print(_text("     • " + line, style="dim"))
    console.print(_text(f"   Runbook: {f.runbook}", style="italic"))


RESOLVED_HEADING = "Resolved earlier (no longer current: shown, not used as evidence)"


def resolved_line(entry: dict[str, Any]) -> str:
    """One stale hit or event in a sentence: what, where, how often, when, and why it is not current."""
    what = entry["signature"] or "event"
    where = " ".join(p for p in (entry["source"], entry["subject"] and f"of {entry['subject']}",
                                  entry["node"] and f"on {entry['node']}") if p)
    return (f"{what} ({where}): {entry['count']}×, last {entry['last_seen'] or 'undated'}; {entry['why']}"
            f" — {entry['sample']}")


def _coverage(coverage: dict[str, Any], console: Console) -> None:
    if coverage["errors"]:
        console.print(Text("Could not collect:", style="bold yellow"))
        for e in coverage["errors"]:
            console.print(_text(f"  {e['source']} {e['target']}: {e['message']}"))
    if coverage["not_evaluated"]:
        console.print(Text("Rules not evaluated (data missing):", style="bold yellow"))
        for item in coverage["not_evaluated"]:
            console.print(_text(f"  {item['rule_id']}: needs {', '.join(item['missing'])}"))


def markdown(report: TriageReport) -> str:
    data = report.as_dict()
    out = [f"# kubetriage report: {md(data['cluster'] or 'cluster')}", "",
           md(f"Collected at {data['collected_at'] or 'unknown'}; {data['rules_evaluated']} rules "
              f"evaluated; {len(report.findings)} findings."), ""]
    for f, depth in tree(report.findings):
        out += _md_finding(f, "#" * min(depth + 2, 6), symptom=depth > 0)
    out += resolved_md(data["resolved_earlier"])
    cov = data["coverage"]
    out += ["## Coverage", ""]
    out += [f"- could not collect {md_code(e['target'])} ({md(e['source'])}): {md(e['message'])}"
            for e in cov["errors"]]
    out += [f"- {md(n['rule_id'])} not evaluated: needs {md(', '.join(n['missing']))}" for n in cov["not_evaluated"]]
    out += [f"- not collected: {md(', '.join(cov['missing']) or 'nothing')}", ""]
    return "\n".join(out)


def resolved_md(entries: list[dict[str, Any]]) -> list[str]:
    if not entries:
        return []
    return [f"## {RESOLVED_HEADING}", "", *(f"- {md_escape(resolved_line(e))}" for e in entries), ""]


def md_escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _md_finding(f: Finding, level: str, symptom: bool = False) -> list[str]:
    label = "Symptom" if symptom else "Root cause"
    lines = [f"{level} {label}: {md(f.title)} ({md(f.rule_id)}, {f.severity})", "", md(f.summary), "",
             "Subjects: " + ", ".join(md_code(s) for s in f.subjects), "", "Evidence:", ""]
    lines += [f"- {md(e)}" for e in f.evidence]
    return [*lines, "", f"Runbook: {md_code(f.runbook)}", ""]


def junit(report: TriageReport) -> str:
    """One testcase per rule: failed when it found something, skipped when it could not run."""
    suite = ET.Element("testsuite", name="kubetriage", timestamp=xml(report.facts.collected_at or report.facts.now))
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    failures = 0
    for rule_id in sorted(report.rules_evaluated):
        case = ET.SubElement(suite, "testcase", classname=xml(f"kubetriage.{rule_id.split('-')[1].lower()}"),
                             name=xml(rule_id))
        found = by_rule.get(rule_id, [])
        if found:
            failures += 1
            failure = ET.SubElement(case, "failure", type=found[0].severity,
                                    message=xml(f"{found[0].title}: {len(found)} finding(s)"))
            failure.text = xml("\n\n".join(f"{f.summary}\n" + "\n".join(f"  - {e}" for e in f.evidence)
                                           for f in found))
    for skipped in report.not_evaluated:
        case = ET.SubElement(suite, "testcase", classname="kubetriage.not-evaluated", name=xml(skipped["rule_id"]))
        ET.SubElement(case, "skipped", message=xml(f"needs {', '.join(skipped['missing'])}"))
    suite.set("tests", str(len(report.rules_evaluated) + len(report.not_evaluated)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(len(report.not_evaluated)))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
