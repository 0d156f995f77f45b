"""Every built-in rule's fire/ok cases, one pytest test each, through both evaluators."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetriage.knowledge import Knowledge
from kubetriage.ruletests import CaseResult, run_rule_tests

KNOWLEDGE = Knowledge.load()
RESULTS = list(run_rule_tests(KNOWLEDGE))


@pytest.mark.parametrize("result", RESULTS, ids=[r.label for r in RESULTS])
def test_rule_case(result: CaseResult) -> None:
    assert result.passed, "\n".join(result.failures)


def test_every_rule_has_fire_and_ok_cases() -> None:
    tested = {r.rule_id for r in RESULTS if r.name != "(no test file)"}
    assert tested == {r.id for r in KNOWLEDGE.rules}


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The harness can fail: a case expecting the wrong outcome is reported."""
    rule = next(r for r in KNOWLEDGE.rules if r.id == "NET-ING-001")
    own = tmp_path / "ingress"
    own.mkdir()
    (own / "NET-ING-001.yaml").write_text(Path(rule.path).read_text())
    (own / "NET-ING-001.test.yaml").write_text(
        "rule: NET-ING-001\ncases:\n"
        "  - name: wrongly expects ok\n    expect: ok\n    facts:\n"
        "      - {kind: ingress_backend, namespace: a, ingress: i, service: gone, service_exists: false}\n"
        "  - name: wrongly expects fire\n    expect: fire\n    facts: []\n"
        "  - name: misspelled field\n    expect: ok\n    facts:\n"
        "      - {kind: ingress_backend, servce: x}\n")
    results = list(run_rule_tests(Knowledge.load([tmp_path]), ["NET-ING-001"]))
    assert [r.passed for r in results] == [False, False, False]
    assert "expected no finding" in results[0].failures[0]
    assert results[1].failures == ["expected the rule to fire; it did not"]
    assert "ingress_backend has no field(s) ['servce']" in results[2].failures[0]
