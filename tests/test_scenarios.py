"""Accuracy: every scenario gives exactly its expected findings and root causes, on both evaluators.

A scenario (``tests/scenarios/<name>/``) is a whole cluster snapshot with injected faults
and an ``expected.yaml``; any other finding is a false positive, any missing one a false
negative. The last test prints the precision/recall table per rule.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage

SCENARIOS = sorted(p for p in (Path(__file__).parent / "scenarios").iterdir() if (p / "expected.yaml").exists())
KNOWLEDGE = Knowledge.load()


def _run(path: Path, engine: str) -> dict[str, set[bool]]:
    bundle = SnapshotBundle(path)
    report = triage(bundle, KNOWLEDGE, resolve_now(bundle, None), engine)  # type: ignore[arg-type]
    found: dict[str, set[bool]] = {}
    for f in report.findings:
        found.setdefault(f.rule_id, set()).add(f.root_cause)
    return found


def _expected(path: Path) -> dict[str, bool]:
    return {e["rule"]: e["root_cause"] for e in yaml.safe_load((path / "expected.yaml").read_text())["findings"]}


@pytest.mark.parametrize("engine", ["durable", "oracle"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path, engine: str) -> None:
    found, expected = _run(scenario, engine), _expected(scenario)
    assert set(found) == set(expected), f"extra: {set(found) - set(expected)}, missing: {set(expected) - set(found)}"
    for rule, root in expected.items():
        assert found[rule] == {root}, f"{rule}: root_cause {found[rule]}, expected {root}"


def test_scenario_coverage() -> None:
    """At least one scenario per rule, ten with several faults, three healthy baselines."""
    expected = {p.name: _expected(p) for p in SCENARIOS}
    assert {r.id for r in KNOWLEDGE.rules} <= {rule for e in expected.values() for rule in e}
    assert sum(1 for name in expected if name.startswith("multi-")) >= 10
    assert all(sum(root for root in expected[n].values()) >= 2 for n in expected if n.startswith("multi-"))
    assert {n for n, e in expected.items() if not e} >= {"healthy-kubeadm", "healthy-rke2", "healthy-k3s"}


def test_precision_recall_table(capsys: pytest.CaptureFixture[str]) -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for path in SCENARIOS:
        found, expected = set(_run(path, "durable")), set(_expected(path))
        tp.update(found & expected)
        fp.update(found - expected)
        fn.update(expected - found)
    rows: list[Any] = []
    for rule in sorted({r.id for r in KNOWLEDGE.rules}):
        p = tp[rule] / (tp[rule] + fp[rule]) if tp[rule] + fp[rule] else 1.0
        r = tp[rule] / (tp[rule] + fn[rule]) if tp[rule] + fn[rule] else 1.0
        rows.append((rule, tp[rule], fp[rule], fn[rule], p, r))
    with capsys.disabled():
        print(f"\n{'rule':<13} {'TP':>3} {'FP':>3} {'FN':>3} {'precision':>9} {'recall':>7}")
        for rule, t, f, n, p, r in rows:
            print(f"{rule:<13} {t:>3} {f:>3} {n:>3} {p:>9.2f} {r:>7.2f}")
        total_p = sum(tp.values()) / max(sum(tp.values()) + sum(fp.values()), 1)
        total_r = sum(tp.values()) / max(sum(tp.values()) + sum(fn.values()), 1)
        print(f"{'all':<13} {sum(tp.values()):>3} {sum(fp.values()):>3} {sum(fn.values()):>3} "
              f"{total_p:>9.2f} {total_r:>7.2f}  ({len(SCENARIOS)} scenarios)")
    assert not fp and not fn
