"""The pipeline of one triage: Bundle -> facts -> engine -> findings, with coverage.

Rules whose facts could not be collected are reported as not evaluated,
never silently healthy.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubetriage.bundle import Bundle, CollectionError, too_little
from kubetriage.compiler import compile_rules
from kubetriage.config import Exclusion
from kubetriage.errors import KubetriageError
from kubetriage.evaluation import EngineName, evaluator
from kubetriage.facts import FactBase
from kubetriage.findings import Finding, build_findings, link
from kubetriage.knowledge import Knowledge
from kubetriage.normalize import normalize
from kubetriage.normalize.common import parse_time, rfc3339
from kubetriage.normalize.currency import EvidenceWindow
from kubetriage.normalize.shapes import checked
from kubetriage.rulefile import Rule


@dataclass
class TriageReport:
    """Everything a report needs; ``as_dict`` is the ``-o json`` contract (docs/findings-json.md)."""

    facts: FactBase
    findings: list[Finding]
    rules_evaluated: list[str]
    not_evaluated: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    suppressed: list[dict[str, str]] = field(default_factory=list)

    @property
    def too_little(self) -> str:
        """Why this triage could judge nothing ('' when it could): exit code 3."""
        return too_little(self.facts.collected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.facts.cluster,
            "collected_at": self.facts.collected_at,
            "now": self.facts.now,
            "findings": [f.as_dict() for f in self.findings],
            "coverage": {
                "collected": self.facts.collected,
                "missing": self.facts.missing,
                "errors": [e.as_dict() for e in self.facts.errors],
                "not_evaluated": self.not_evaluated,
                "too_little": self.too_little or None,
            },
            "rules_evaluated": len(self.rules_evaluated),
            "suppressed": self.suppressed,
            "resolved_earlier": self.facts.resolved_earlier,
        }


#: Sources only an active probe run (``kubetriage probe``, ``--probe``) produces.
OPT_IN = "probes/"


def resolve_now(bundle: Bundle, override: str | None) -> datetime:
    """``--now``, else collected_at (a live collection sets it), else the newest timestamp the
    nodes and events hold, else the wall clock; the last two are said in coverage, because
    only the first two give the same answer every time."""
    for label, text in (("--now", override), ("collected_at", bundle.meta.collected_at)):
        if text:
            moment = parse_time(text)
            if moment is None:
                raise KubetriageError(f"{label}: {text!r} is not an RFC 3339 timestamp")
            return moment
    newest = max(_timestamps(bundle), default=None)
    if newest is not None:
        bundle.errors.append(CollectionError("snapshot", "snapshot.yaml", (
            f"no collected_at: time-based rules evaluated at {rfc3339(newest)}, the newest timestamp in "
            "api/nodes and api/events (pass --now to choose)")))
        return newest
    now = datetime.now(timezone.utc)
    bundle.errors.append(CollectionError("snapshot", "snapshot.yaml", (
        f"no collected_at and no timestamp in api/nodes or api/events: time-based rules evaluated at "
        f"the current time, {rfc3339(now)} (pass --now for a repeatable answer)")))
    return now


def _timestamps(bundle: Bundle) -> Iterator[datetime]:
    """Node heartbeats and transitions, and event times: when the cluster was last heard of."""
    scratch: list[CollectionError] = []  # malformed objects are reported by the triage itself
    for node in checked(bundle.objects("nodes"), "nodes", scratch):
        for cond in (node.get("status") or {}).get("conditions") or []:
            yield from _times(cond, "lastHeartbeatTime", "lastTransitionTime")
    for event in checked(bundle.objects("events"), "events", scratch):
        yield from _times(event, "lastTimestamp", "eventTime", "firstTimestamp")
        yield from _times(event.get("series") or {}, "lastObservedTime")


def _times(obj: dict[str, Any], *keys: str) -> Iterator[datetime]:
    for key in keys:
        moment = parse_time(obj.get(key) or "")
        if moment is not None:
            yield moment


def evaluable(rules: list[Rule], facts: FactBase) -> tuple[list[Rule], list[dict[str, Any]]]:
    """Rules trimmed to the alternatives whose sources were collected, and the rest. Active
    probes are opt-in: when none ran, the rules that need them are left out, not listed."""
    probed = any(c.startswith(OPT_IN) for c in facts.collected)
    ready, skipped = [], []
    for rule in rules:
        kept, missing = [], set()
        for alt in rule.alternatives:
            gaps = {s for p in alt.required for s in facts.missing_sources(p.fact)}
            if gaps and (probed or not all(g.startswith(OPT_IN) for g in gaps)):
                missing |= gaps
            elif not gaps:
                kept.append(alt)
        if kept:
            ready.append(dataclasses.replace(rule, alternatives=tuple(kept)))
        elif missing:
            skipped.append({"rule_id": rule.id, "missing": sorted(missing)})
    return ready, skipped


def run_rules(rules: list[Rule], facts: list[dict[str, Any]], engine: EngineName = "durable",
              params: dict[str, dict[str, Any]] | None = None) -> list[Finding]:
    variants = compile_rules(rules, params)
    kinds = {entry[alias]["$and"][0]["kind"] for v in variants for entry in v.json["all"]
             for alias in entry}
    firings = evaluator(engine)(variants, [f for f in facts if f["kind"] in kinds])
    return build_findings(rules, firings, params)


def triage(bundle: Bundle, knowledge: Knowledge, now: datetime, engine: EngineName = "durable",
           params: dict[str, dict[str, Any]] | None = None,
           exclusions: Sequence[Exclusion] = (), window: EvidenceWindow | None = None) -> TriageReport:
    started = time.perf_counter()
    facts = normalize(bundle, now, knowledge.signatures, window)
    normalized = time.perf_counter()
    rules, skipped = evaluable(knowledge.rules, facts)
    kept, suppressed = [], []
    for finding in run_rules(rules, facts.facts, engine, params):
        reason = next((e.reason for e in exclusions if e.matches(finding.rule_id, finding.subjects)), None)
        if reason is None:
            kept.append(finding)
        else:
            suppressed.append({"id": finding.id, "rule_id": finding.rule_id, "subject": finding.subjects[0],
                               "reason": reason})
    findings = link(kept, rules) if suppressed else kept  # a suppressed cause explains nothing shown
    done = time.perf_counter()
    return TriageReport(
        facts=facts, findings=findings, rules_evaluated=[r.id for r in rules],
        not_evaluated=skipped, suppressed=suppressed,
        timings={"normalize": normalized - started, "evaluate": done - normalized},
    )
