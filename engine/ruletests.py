"""Rule test cases: ``<ID>.test.yaml`` beside each rule, run through both evaluators.

A case gives facts (partial: missing fields take their type's zero value) or a
snapshot directory, says whether the rule must ``fire`` or stay ``ok``, and may
assert on the findings. Durable and the oracle must produce the same findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.errors import KubetriageError, Problem
from kubetriage.findings import Finding
from kubetriage.knowledge import Knowledge
from kubetriage.normalize import normalize
from kubetriage.normalize.common import parse_time
from kubetriage.rulefile import Rule
from kubetriage.schema import check as check_schema
from kubetriage.triage import evaluable, run_rules
from kubetriage.yamlsource import load_located


@dataclass
class CaseResult:
    rule_id: str
    name: str
    path: str
    line: int
    passed: bool
    failures: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.rule_id} · {self.name}"


def cases_path(rule: Rule) -> Path:
    return Path(rule.path).with_suffix(".test.yaml")


def complete(fact: dict[str, Any], where: str) -> dict[str, Any]:
    """Fill a partial fact with zero values; unknown kinds or fields are errors."""
    kind = CATALOG.get(str(fact.get("kind")))
    if kind is None:
        raise KubetriageError(f"{where}: unknown fact kind {fact.get('kind')!r}")
    try:
        return kind.filled(**{k: v for k, v in fact.items() if k != "kind"})
    except TypeError as exc:
        raise KubetriageError(f"{where}: {exc}") from None


def run_rule_tests(knowledge: Knowledge, rule_ids: Sequence[str] | None = None) -> Iterator[CaseResult]:
    for rule in knowledge.rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        path = cases_path(rule)
        if not path.exists():
            yield CaseResult(rule.id, "(no test file)", str(path), 1, False,
                             [f"every rule needs fire and ok cases in {path.name}"])
            continue
        yield from _run_file(rule, path, knowledge)


def _run_file(rule: Rule, path: Path, knowledge: Knowledge) -> Iterator[CaseResult]:
    problems: list[Problem] = []
    doc = load_located(path, problems)
    if doc is not None:
        problems += check_schema(doc, "ruletest", "E100")
    if doc is not None and not problems and doc.value["rule"] != rule.id:
        problems.append(doc.problem("E100", f"rule: {doc.value['rule']} names another rule than {rule.id}", ("rule",)))
    if doc is not None and not problems and {c["expect"] for c in doc.value["cases"]} != {"fire", "ok"}:
        problems.append(doc.problem("E100", "a test file needs at least one 'fire' and one 'ok' case", ("cases",)))
    if doc is None or problems:
        yield CaseResult(rule.id, "(test file)", str(path), 1, False, [str(p) for p in problems])
        return
    for index, case in enumerate(doc.value["cases"]):
        line, _ = doc.locate(("cases", index))
        result = CaseResult(rule.id, case["name"], str(path), line, True)
        try:
            result.failures = _run_case(rule, case, path, f"{path}:{line}", knowledge)
        except KubetriageError as exc:
            result.failures = [str(exc)]
        result.passed = not result.failures
        yield result


def _run_case(rule: Rule, case: dict[str, Any], path: Path, where: str, knowledge: Knowledge) -> list[str]:
    if "snapshot" in case:
        bundle = SnapshotBundle((path.parent / str(case["snapshot"])).resolve())
        moment = parse_time(str(case.get("now") or bundle.meta.collected_at))
        if moment is None:
            return [f"{where}: the case needs 'now' (or a snapshot with collected_at)"]
        base = normalize(bundle, moment, knowledge.signatures)
        rules, skipped = evaluable([rule], base)
        if skipped:
            return [f"{where}: rule not evaluable on this snapshot: {skipped[0]['missing']}"]
        facts = base.facts
    else:
        rules = [rule]
        facts = [complete(f, where) for f in case["facts"]]
    found = {engine: run_rules(rules, facts, engine) for engine in ("durable", "oracle")}
    failures = []
    if _digest(found["durable"]) != _digest(found["oracle"]):
        failures.append("durable_rules and the oracle disagree:\n  durable: "
                        f"{_digest(found['durable'])}\n  oracle:  {_digest(found['oracle'])}")
    findings = found["durable"]
    if case["expect"] == "ok" and findings:
        failures.append(f"expected no finding, got: {[f.summary for f in findings]}")
    if case["expect"] == "fire" and not findings:
        failures.append("expected the rule to fire; it did not")
    for i, expected in enumerate(case.get("findings", [])):
        if i >= len(findings):
            failures.append(f"expected finding #{i + 1}, only {len(findings)} found")
            continue
        failures += _check_finding(findings[i], expected, i + 1)
    return failures


def _check_finding(f: Finding, expected: dict[str, Any], n: int) -> list[str]:
    out = []
    if "summary_contains" in expected and expected["summary_contains"] not in f.summary:
        out.append(f"finding #{n}: summary {f.summary!r} lacks {expected['summary_contains']!r}")
    missing = set(expected.get("subjects", [])) - set(f.subjects)
    if missing:
        out.append(f"finding #{n}: subjects {f.subjects} lack {sorted(missing)}")
    for text in expected.get("evidence_contains", []):
        if not any(text in line for line in f.evidence):
            out.append(f"finding #{n}: no evidence line contains {text!r}: {f.evidence}")
    if "matches" in expected and expected["matches"] != f.matches:
        out.append(f"finding #{n}: {f.matches} matches, expected {expected['matches']}")
    return out


def _digest(findings: list[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], sort_keys=True)
