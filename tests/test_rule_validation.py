"""Authoring mistakes get located errors, all at once; the messages are pinned here.

Each ``invalid_rules/<case>.yaml`` (or directory) has a ``<case>.expected`` with
the exact lines ``kubetriage rules lint`` prints for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubetriage.errors import ValidationError
from kubetriage.knowledge import Knowledge
from kubetriage.rulefile import Ref

from .conftest import Run

CASES = Path(__file__).parent / "invalid_rules"


def _rule_dir(case: Path, tmp_path: Path) -> Path:
    if case.is_dir():
        return case
    target = tmp_path / "rules"
    target.mkdir()
    shutil.copy(case, target / case.name)
    return target


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if p.suffix != ".expected"),
                         ids=lambda p: p.stem)
def test_invalid_rule_messages(case: Path, tmp_path: Path) -> None:
    directory = _rule_dir(case, tmp_path)
    with pytest.raises(ValidationError) as raised:
        Knowledge.load([directory])
    got = [str(p).replace(f"{directory}/", "").replace(f"{CASES.parent.parent}/", "")
           for p in raised.value.problems]
    expected = (CASES / f"{case.stem}.expected").read_text().splitlines()
    assert got == expected


def test_lint_cli_prints_every_problem_and_exits_1(tmp_path: Path, kubetriage: Run) -> None:
    directory = _rule_dir(CASES / "conditions.yaml", tmp_path)
    proc = kubetriage("rules", "lint", directory)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 8 and all(line.startswith(f"{directory}/conditions.yaml:") for line in lines)
    assert "8 problem(s)" in proc.stderr


def test_lint_cli_accepts_the_builtin_rules(kubetriage: Run) -> None:
    proc = kubetriage("rules", "lint")
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().endswith("rule(s) OK")


def test_engine_limit_on_patterns_per_fact_kind(tmp_path: Path) -> None:
    """durable_rules fails past 64 simultaneously true sibling tests: caught at load."""
    template = (CASES.parent.parent / "rules" / "ingress" / "NET-ING-001.yaml").read_text()
    for i in range(66):
        text = template.replace("NET-ING-001", f"NET-GEN-{i:03d}").replace(
            "where: {service_exists: false}", f"where: {{service_exists: false, ingress: gen-{i}}}")
        (tmp_path / f"NET-GEN-{i:03d}.yaml").write_text(text)
    with pytest.raises(ValidationError, match="patterns on fact kind 'ingress_backend' exceed"):
        Knowledge.load([tmp_path])


def test_a_fragment_stands_where_it_is_used(tmp_path: Path) -> None:
    """A user's fragment, used in a user's rule, is its patterns with the join renamed; built-in
    fragments are available to user rules too."""
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "agent-of.yaml").write_text(
        "id: agent-of\ndescription: The CNI agent pod on the node.\n"
        "match:\n  - {as: agent, fact: pod, optional: true, where: {node: {ref: join.node}, role: cni}}\n")
    rule = (CASES.parent.parent / "rules" / "cni" / "NET-CNI-002.yaml").read_text()
    (tmp_path / "NET-TEAM-001.yaml").write_text(rule.replace("NET-CNI-002", "NET-TEAM-001").replace(
        "  - {use: pods-stuck-creating, join: hit}\n",
        "  - {use: pods-stuck-creating, join: hit}\n  - {use: agent-of, join: hit}\n"))
    (team,) = [r for r in Knowledge.load([tmp_path]).rules if r.id == "NET-TEAM-001"]
    (builtin,) = [r for r in Knowledge.load().rules if r.id == "NET-CNI-002"]
    (alt,) = team.alternatives
    assert alt.patterns[:2] == builtin.alternatives[0].patterns
    agent = alt.patterns[2]
    assert (agent.alias, agent.fact, agent.optional) == ("agent", "pod", True)
    assert [(c.field, c.value) for c in agent.conditions] == [("node", Ref("hit", "node")), ("role", "cni")]
