"""Fleets: one triage per kubeconfig context, run concurrently, summarised in one table or JSON.

Each cluster is collected and judged on its own thread (bounded: collection waits on the
network, while rule evaluation is serialised by the engine's lock anyway); a cluster that
cannot be reached or loaded is reported as such and the others go on. For an always-on fleet,
run one ``kubetriage watch`` per cluster and let Prometheus and Alertmanager aggregate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubetriage.errors import KubetriageError
from kubetriage.escape import terminal
from kubetriage.rulefile import SEVERITIES
from kubetriage.triage import TriageReport

MAX_WORKERS = 4


@dataclass(frozen=True)
class ClusterResult:
    """One context's triage, or why there is none; ``exit_code`` as for a single triage."""

    name: str
    report: TriageReport | None
    exit_code: int
    error: str = ""

    @property
    def worst_severity(self) -> str | None:
        severities = [f.severity for f in self.report.findings] if self.report else []
        return min(severities, key=SEVERITIES.index, default=None)

    def as_dict(self) -> dict[str, Any]:
        if self.report is None:
            return {"cluster": self.name, "error": self.error, "exit_code": self.exit_code, "worst_severity": None}
        return {**self.report.as_dict(), "context": self.name, "exit_code": self.exit_code,
                "worst_severity": self.worst_severity}


def triage_fleet(contexts: list[str], triage_one: Callable[[str], TriageReport],
                 judge: Callable[[TriageReport], int], error_code: int) -> list[ClusterResult]:
    """Triage every context concurrently, in the order given; a failure stays with its cluster."""
    def one(name: str) -> ClusterResult:
        try:
            report = triage_one(name)
        except KubetriageError as exc:
            return ClusterResult(name, None, error_code, str(exc))
        except Exception as exc:  # one cluster's surprise must not hide the others' results
            return ClusterResult(name, None, error_code, f"internal error: {type(exc).__name__}: {exc}")
        return ClusterResult(name, report, judge(report))

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(contexts)), thread_name_prefix="fleet") as pool:
        return list(pool.map(one, contexts))


def render_fleet(results: list[ClusterResult], output: str, console: Console) -> None:
    """``json``: one object keyed by cluster; ``table``: one line per cluster."""
    if output == "json":
        console.file.write(json.dumps({r.name: r.as_dict() for r in results}, indent=2) + "\n")
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("CLUSTER", "ROOT CAUSES", "WORST", "FINDINGS", "COVERAGE"):
        table.add_column(column, overflow="fold")
    for r in results:
        if r.report is None:
            table.add_row(Text(terminal(r.name)), Text("—"), Text("—"), Text("—"),
                          Text(terminal(f"ERROR: {r.error}"), style="red"))
            continue
        roots = [f.rule_id for f in r.report.findings if f.root_cause]
        facts = r.report.facts
        coverage = (f"NOTHING TO JUDGE: {r.report.too_little}" if r.report.too_little else
                    f"{len(facts.collected)} collected, {len(facts.missing)} missing, {len(facts.errors)} errors")
        table.add_row(Text(terminal(r.name)), Text(terminal(f"{len(roots)}: {', '.join(roots)}" if roots else "0")),
                      Text(r.worst_severity or "none"), Text(str(len(r.report.findings))),
                      Text(terminal(coverage), style="red" if r.report.too_little else ""))
    console.print(table)
