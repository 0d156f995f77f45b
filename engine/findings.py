"""Firings -> findings: grouped, rendered, linked root cause -> symptom, ranked.

One fact can join many times (a DaemonSet with three stuck pods fires three
times), so firings are grouped by the rule's ``group_by`` into one finding.
A finding explains another when its rule lists the other's rule in
``explains`` and the two share a subject; unexplained findings are root causes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubetriage.errors import ValidationError
from kubetriage.evaluation import Firing
from kubetriage.rulefile import SEVERITIES, Rule
from kubetriage.templates import TemplateFailure, names_used, render

MAX_EVIDENCE = 25
_CONFIDENCE = ("high", "medium", "low")


@dataclass
class Finding:
    """A root cause or symptom, with the evidence and objects behind it."""

    id: str
    rule_id: str
    severity: str
    confidence: str
    title: str
    summary: str
    subjects: list[str]
    evidence: list[str]
    runbook: str
    matches: int
    key: list[Any]
    root_cause: bool = True
    explains: list[str] = field(default_factory=list)
    explained_by: list[str] = field(default_factory=list)
    #: the first firing's bindings, for runbook rendering
    context: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "rule_id": self.rule_id, "severity": self.severity,
            "confidence": self.confidence, "title": self.title, "summary": self.summary,
            "root_cause": self.root_cause, "subjects": self.subjects, "evidence": self.evidence,
            "explains": self.explains, "explained_by": self.explained_by,
            "runbook": self.runbook, "matches": self.matches,
        }


def build_findings(rules: Sequence[Rule], firings: Sequence[Firing],
                   params: dict[str, dict[str, Any]] | None = None) -> list[Finding]:
    by_id = {r.id: r for r in rules}
    groups: dict[tuple[str, str], tuple[list[Any], list[Firing]]] = {}
    for firing in sorted(firings, key=Firing.sort_key):
        rule = by_id[firing.rule_id]
        key = [_lookup(firing.bindings, path) for path in rule.group_by_for(firing.alternative)]
        groups.setdefault((rule.id, repr(key)), (key, []))[1].append(firing)
    findings = [
        _finding(by_id[rule_id], key, members,
                 {**by_id[rule_id].params, **(params or {}).get(rule_id, {})})
        for (rule_id, _), (key, members) in groups.items()
    ]
    return link(findings, rules)


def tree(findings: list[Finding]) -> list[tuple[Finding, int]]:
    """Root causes in rank order, each followed by what it explains, depth-first (depth 0 = root).
    A symptom explained by several causes is shown under the first; nothing is shown twice."""
    by_id = {f.id: f for f in findings}
    position = {f.id: i for i, f in enumerate(findings)}
    out: list[tuple[Finding, int]] = []
    shown: set[str] = set()

    def visit(finding: Finding, depth: int) -> None:
        shown.add(finding.id)
        out.append((finding, depth))
        for child_id in sorted((i for i in finding.explains if i in by_id), key=position.__getitem__):
            if child_id not in shown:  # a sibling's subtree may have shown it already
                visit(by_id[child_id], depth + 1)

    for finding in findings:
        if finding.root_cause and finding.id not in shown:
            visit(finding, 0)
    for finding in findings:  # explained only by findings inside a cycle: never silently dropped
        if finding.id not in shown:
            visit(finding, 0)
    return out


def rank(findings: list[Finding]) -> list[Finding]:
    """Root causes first, then by severity, confidence, rule id and finding id."""
    return sorted(findings, key=lambda f: (
        not f.root_cause, SEVERITIES.index(f.severity), _CONFIDENCE.index(f.confidence),
        f.rule_id, f.id,
    ))


def _lookup(bindings: dict[str, dict[str, Any]], path: str) -> Any:
    alias, _, name = path.partition(".")
    return bindings[alias][name]


def _finding(rule: Rule, key: list[Any], members: list[Firing], params: dict[str, Any]
             ) -> Finding:
    first = members[0].bindings
    base = {"params": params, "rule": {"id": rule.id, "title": rule.title}, "key": key,
            "firings": [m.bindings for m in members]}
    subjects = _collect(rule, "subjects", members, base, _subject)
    evidence = _collect(rule, "evidence", members, base)
    if len(evidence) > MAX_EVIDENCE:
        evidence = [*evidence[:MAX_EVIDENCE], f"… and {len(evidence) - MAX_EVIDENCE} more lines"]
    digest = hashlib.sha256(repr((rule.id, key)).encode()).hexdigest()[:10]
    return Finding(
        id=f"{rule.id}-{digest}", rule_id=rule.id, severity=rule.severity,
        confidence=rule.confidence, title=rule.title,
        summary=_render(rule, ("conclusion", "summary"), rule.summary, {**base, **first}),
        subjects=subjects, evidence=evidence, runbook=rule.runbook, matches=len(members),
        key=key, context={**base, **first},
    )


def _line(text: str) -> str:
    return " ".join(text.split())


def _subject(text: str) -> str:
    """A subject is one ``Kind/namespace/name``, kept whole (never split at a space in a name)."""
    return text.strip()


def _collect(rule: Rule, part: str, members: list[Firing], base: dict[str, Any],
             tidy: Callable[[str], str] = _line) -> list[str]:
    """Render each template for each firing that binds every alias it uses; keep unique lines."""
    seen: dict[str, None] = {}
    for member in members:
        for i, source in enumerate(getattr(rule, part)):
            if names_used(source) - set(base) <= member.bindings.keys():
                line = _render(rule, ("conclusion", part, i), source, {**base, **member.bindings}, tidy)
                if line:
                    seen.setdefault(line)
    return list(seen)


def _render(rule: Rule, keys: tuple[Any, ...], source: str, context: dict[str, Any],
            tidy: Callable[[str], str] = _line) -> str:
    """One line of a finding; a template that fails is an authoring error located in the rule."""
    try:
        return tidy(render(source, context))
    except TemplateFailure as exc:
        raise ValidationError([rule.problem("E113", f"template failed while rendering: {exc}", keys)]) from None


def link(findings: list[Finding], rules: Sequence[Rule]) -> list[Finding]:
    """(Re)link causes to the symptoms they explain among ``findings``, then rank them."""
    explains = {r.id: set(r.explains) for r in rules}
    for finding in findings:
        finding.explains, finding.explained_by = [], []
    for cause in findings:
        targets = explains[cause.rule_id]
        direct = [s for s in findings if s is not cause and s.rule_id in targets
                  and set(cause.subjects) & set(s.subjects)]
        for symptom in _same_symptom(direct, findings, cause):
            cause.explains.append(symptom.id)
            symptom.explained_by.append(cause.id)
    for finding in findings:
        finding.root_cause = not finding.explained_by
    return rank(findings)


def _same_symptom(seeds: list[Finding], findings: list[Finding], cause: Finding) -> list[Finding]:
    """``seeds`` plus every other instance of their rules that shares a subject with one of them,
    transitively: a rule with several ``group_by`` alternatives reports one problem as several
    findings (the DNS Deployment with no ready pod, its Service with no endpoint), and a cause
    that explains one of them explains them all."""
    linked = {f.id: f for f in seeds}
    frontier = list(seeds)
    while frontier:
        seed = frontier.pop()
        for other in findings:
            if other.id not in linked and other is not cause and other.rule_id == seed.rule_id \
                    and set(other.subjects) & set(seed.subjects):
                linked[other.id] = other
                frontier.append(other)
    return list(linked.values())
