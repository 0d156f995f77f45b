"""The runbook text a notification carries: rendered with the real names of the triage that found it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubetriage.incident import runbook_context
from kubetriage.knowledge import Knowledge
from kubetriage.triage import TriageReport


def runbook_text(report: TriageReport, knowledge: Knowledge) -> Callable[[dict[str, Any]], str]:
    """For ``Dispatcher(runbook_text=...)``: a finding of ``report`` -> its runbook as Markdown
    (values escaped); '' for a finding the report does not hold (a resolved one) or without a runbook."""
    findings = {f.id: f for f in report.findings}

    def render(finding: dict[str, Any]) -> str:
        found, book = findings.get(finding["id"]), knowledge.runbooks.get(finding.get("runbook", ""))
        if found is None or book is None:
            return ""
        return book.render(runbook_context(found, report), for_markdown=True).markdown(level=2)

    return render
