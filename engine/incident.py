"""The incident report: one document per triage, for whoever is on call next.

Headline (what is broken, since when, blast radius), root causes in rank order
with the symptoms they explain beneath, evidence quoted, each root cause's
runbook rendered with the real names (read-only diagnosis first, changes last,
each with verify and rollback), and what could not be checked. Markdown, JSON
and a self-contained HTML page (no external assets; printable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup, escape

from kubetriage.catalog import CATALOG
from kubetriage.distros import layout
from kubetriage.escape import markdown as md
from kubetriage.escape import markdown_code as md_code
from kubetriage.findings import Finding, tree
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.common import rfc3339
from kubetriage.reports import RESOLVED_HEADING, resolved_line, resolved_md
from kubetriage.runbook import RenderedRunbook
from kubetriage.templates import TemplateFailure
from kubetriage.triage import TriageReport

_TIME_FIELDS = ("first_seen", "last_seen")


@dataclass
class Cause:
    """A root cause, the symptoms it explains, and its runbook for this incident."""

    finding: Finding
    symptoms: list[Finding]
    runbook: RenderedRunbook | None
    runbook_error: str = ""
    runbook_markdown: str = ""  # rendered with its values escaped for Markdown


@dataclass
class Incident:
    report: TriageReport
    headline: str
    since: str
    blast_radius: dict[str, int]
    causes: list[Cause] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = self.report.as_dict()
        by_id = {f["id"]: f for f in data["findings"]}
        return {
            "cluster": data["cluster"], "collected_at": data["collected_at"], "headline": self.headline,
            "since": self.since, "blast_radius": self.blast_radius,
            "root_causes": [{
                **by_id[c.finding.id],
                "symptoms": [by_id[s.id] for s in c.symptoms],
                "runbook": None if c.runbook is None else {
                    "id": c.runbook.id, "title": c.runbook.title, "body": c.runbook.body,
                    "steps": [vars(s) for s in c.runbook.steps], "references": list(c.runbook.references)},
                "runbook_error": c.runbook_error,
            } for c in self.causes],
            "resolved_earlier": data["resolved_earlier"],
            "coverage": data["coverage"], "rules_evaluated": data["rules_evaluated"],
        }


def runbook_context(finding: Finding, report: TriageReport) -> dict[str, Any]:
    """What a runbook template sees: the finding, its first match's facts, the cluster, and the
    commands that read the node files on the cluster's distribution."""
    cluster = next(report.facts.of_kind("cluster"), None) or CATALOG["cluster"].filled(distro="unknown")
    return {**finding.context, "finding": finding.as_dict(), "cluster": cluster,
            "node_files": layout(cluster["distro"]).commands()}


def build_incident(report: TriageReport, knowledge: Knowledge,
                   first_seen: Callable[[str], datetime | None] | None = None) -> Incident:
    """``first_seen``: a finding id -> when the incident history first saw it (``History.since``);
    with it, "since" is the earliest root cause's first sighting rather than the facts' timestamps."""
    causes: list[Cause] = []
    for finding, depth in tree(report.findings):
        if depth:
            causes[-1].symptoms.append(finding)
            continue
        cause = Cause(finding, [], None)
        book = knowledge.runbooks.get(finding.runbook)
        if book is None:
            cause.runbook_error = f"runbook {finding.runbook!r} is not installed"
        else:
            try:
                context = runbook_context(finding, report)
                cause.runbook = book.render(context)
                cause.runbook_markdown = book.render(context, for_markdown=True).markdown(level=3)
            except TemplateFailure as exc:  # a user runbook may still be wrong at 3 a.m.
                cause.runbook_error = f"runbook {book.id} failed to render: {exc}"
        causes.append(cause)
    radius = Counter(subject.split("/", 1)[0] for subject in {s for f in report.findings for s in f.subjects})
    seen = [t for t in (first_seen(c.finding.id) for c in causes) if t] if first_seen else []
    since = rfc3339(min(seen)) if seen else _since(report.findings)
    return Incident(report, _headline(causes), since, dict(sorted(radius.items())), causes)


def _headline(causes: list[Cause]) -> str:
    if not causes:
        return "No networking fault found."
    first = causes[0].finding
    more = f" (and {len(causes) - 1} more root cause{'s' if len(causes) > 2 else ''})" if len(causes) > 1 else ""
    return f"{first.title}{more}"


def _since(findings: list[Finding]) -> str:
    moments = [str(fact.get(name)) for f in findings for firing in f.context.get("firings", [])
               for fact in firing.values() for name in _TIME_FIELDS if fact.get(name)]
    return min(moments, default="")


# -- Markdown ---------------------------------------------------------------------------
def incident_markdown(incident: Incident) -> str:
    """Markdown in which nothing from the cluster or a rule pack is more than text (see ``escape``)."""
    data = incident.report.as_dict()
    radius = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in incident.blast_radius.items())
    out = [f"# Incident: {md(incident.headline)}", "",
           f"- Cluster: {md(data['cluster'] or 'unknown')}, collected {md(data['collected_at'] or 'unknown')}",
           f"- Since: {md(incident.since or 'unknown')}",
           f"- Blast radius: {md(radius or 'none')}",
           f"- Rules evaluated: {data['rules_evaluated']}", ""]
    for n, cause in enumerate(incident.causes, 1):
        f = cause.finding
        out += [f"## {n}. Root cause: {md(f.title)}", "", f"**{md(f.severity)}** · {md_code(f.rule_id)} · confidence "
                f"{md(f.confidence)} · finding {md_code(f.id)}", "", md(f.summary), "",
                "Affected: " + ", ".join(md_code(s) for s in f.subjects), "", "Evidence:", ""]
        out += [f"- {md(line)}" for line in f.evidence]
        out.append("")
        for s in cause.symptoms:
            out += [f"### Symptom: {md(s.title)} ({md_code(s.rule_id)}, {md(s.severity)})", "", md(s.summary), ""]
            out += [f"- {md(line)}" for line in s.evidence]
            out.append("")
        out += [cause.runbook_markdown if cause.runbook else f"> {md(cause.runbook_error)}", ""]
    out += resolved_md(data["resolved_earlier"])
    out += _coverage_md(data["coverage"])
    return "\n".join(out).rstrip() + "\n"


def _coverage_md(coverage: dict[str, Any]) -> list[str]:
    out = ["## What could not be checked", ""]
    out += [f"- {md_code(e['target'])} ({md(e['source'])}): {md(e['message'])}" for e in coverage["errors"]]
    out += [f"- {md(n['rule_id'])} not evaluated: needs {md(', '.join(n['missing']))}"
            for n in coverage["not_evaluated"]]
    out += [f"- Not collected: {md(', '.join(coverage['missing']))}" if coverage["missing"] else "- Everything was "
            "collected."]
    return [*out, ""]


# -- HTML -------------------------------------------------------------------------------
def incident_html(incident: Incident, refresh: int = 0, history: list[dict[str, Any]] | None = None) -> str:
    """A self-contained page: inline CSS and JS, nothing fetched, readable when printed. ``watch``
    serves it live: reloaded every ``refresh`` seconds, with the recent ``history`` of incidents."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["prose"] = _prose_html
    env.filters["resolved_line"] = resolved_line
    source = files("kubetriage").joinpath("templates/incident.html.j2").read_text(encoding="utf-8")
    return env.from_string(source).render(incident=incident, data=incident.as_dict(),
                                          resolved_heading=RESOLVED_HEADING, refresh=refresh, history=history)


def _prose_html(text: str) -> Markup:
    """The little Markdown runbook bodies use: '#' headings, paragraphs, `code`. Escaped first."""
    html: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            html.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("#"):
            flush()
            html.append(f"<h4>{_inline(line.lstrip('#').strip())}</h4>")
        elif line.strip():
            paragraph.append(line.strip())
        else:
            flush()
    flush()
    return Markup("\n".join(html))


def _inline(text: str) -> str:
    parts = str(escape(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
