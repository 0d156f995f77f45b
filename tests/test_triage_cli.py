"""The main job end to end: `kubetriage triage --snapshot` as a user runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import HEALTHY, OUTAGE, ROOT, RULE_COUNT, Run, triage_json


def test_demo_outage_names_the_three_faults_cni_first(kubetriage: Run) -> None:
    report = triage_json(kubetriage, OUTAGE)
    assert set(report) == {"cluster", "collected_at", "now", "findings", "coverage", "rules_evaluated",
                           "suppressed", "resolved_earlier"}
    assert report["cluster"] == "rke2-prod" and report["collected_at"] == "2026-11-25T10:32:00Z"
    findings = report["findings"]
    assert [(f["rule_id"], f["root_cause"]) for f in findings] == [
        ("NET-CNI-001", True), ("NET-ING-005", True), ("NET-CNI-002", False), ("NET-ING-003", False),
        ("NET-SVC-002", False)]
    cni, cert, node, ingress, service = findings
    # Ingress -> Service -> pods stuck on worker-2 -> CNI on worker-2, linked across layers:
    assert node["explained_by"] == [cni["id"]] and sorted(service["explained_by"]) == sorted([cni["id"], node["id"]])
    assert ingress["explained_by"] == [service["id"]]
    assert service["subjects"] == ["Service/shop/cart", "Node/worker-2"]
    assert {"DaemonSet/kube-system/rke2-canal", "Node/worker-2",
            "Pod/shop/web-7d9f8c6b5-k2x9m", "Pod/shop/cart-6c8d9f7b4-q8w2e"} <= set(cni["subjects"])
    assert cert["subjects"] == ["Secret/shop/shop-tls", "Ingress/shop/storefront"]
    for f in findings:
        assert set(f) >= {"rule_id", "severity", "title", "summary", "root_cause", "subjects", "evidence",
                          "explains", "runbook", "id"}
        assert f["evidence"] and f["runbook"]
    assert report["rules_evaluated"] == RULE_COUNT
    assert report["coverage"]["errors"] == [] and report["coverage"]["not_evaluated"] == []
    assert "nodes/worker-2/kubelet.log" in report["coverage"]["collected"]


def test_finding_ids_are_stable_across_runs(kubetriage: Run) -> None:
    first = [f["id"] for f in triage_json(kubetriage, OUTAGE)["findings"]]
    assert first == [f["id"] for f in triage_json(kubetriage, OUTAGE, "--engine", "oracle")["findings"]]


def test_healthy_baseline_has_zero_findings(kubetriage: Run) -> None:
    proc = kubetriage("triage", "--snapshot", HEALTHY, "-o", "json")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert report["findings"] == [] and report["rules_evaluated"] == RULE_COUNT


@pytest.mark.parametrize(("fail_on", "code"), [("high", 1), ("critical", 1), ("never", 0)])
def test_exit_codes_follow_fail_on(kubetriage: Run, fail_on: str, code: int) -> None:
    assert kubetriage("triage", "--snapshot", OUTAGE, "-o", "json", "--fail-on", fail_on).returncode == code


def test_fail_on_critical_passes_when_only_high_findings(kubetriage: Run) -> None:
    proc = kubetriage("triage", "--snapshot", OUTAGE, "-o", "json", "--fail-on", "critical",
                      "--disable", "NET-CNI-001", "--disable", "NET-CNI-002")
    assert proc.returncode == 0
    assert {f["rule_id"] for f in json.loads(proc.stdout)["findings"]} == {"NET-ING-005", "NET-SVC-002", "NET-ING-003"}


@pytest.mark.parametrize("args", [
    ("triage", "--snapshot", "/nonexistent"),
    ("triage",),
    ("triage", "--snapshot", str(OUTAGE), "--now", "yesterday"),
    ("triage", "--snapshot", str(OUTAGE), "--disable", "NET-NOPE-001"),
    ("triage", "--snapshot", str(ROOT / "engine")),
])
def test_usage_errors_exit_2_with_a_message(kubetriage: Run, args: tuple[str, ...]) -> None:
    proc = kubetriage(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip() and "Traceback" not in proc.stderr


def test_now_moves_certificate_expiry(kubetriage: Run) -> None:
    before = triage_json(kubetriage, OUTAGE, "--now", "2026-11-01T00:00:00Z")
    assert "NET-ING-005" not in {f["rule_id"] for f in before["findings"]}


def test_table_markdown_and_yaml_outputs(kubetriage: Run) -> None:
    table = kubetriage("triage", "--snapshot", OUTAGE, "--fail-on", "never")
    assert table.returncode == 0
    assert table.stdout.index("CNI DaemonSet is not fully ready") < table.stdout.index("has expired")
    assert "└ CNI not initialized on a node" in table.stdout
    markdown = kubetriage("triage", "--snapshot", OUTAGE, "-o", "markdown", "--fail-on", "never").stdout
    assert markdown.startswith("# kubetriage report: rke2-prod")
    assert "## Root cause: CNI DaemonSet is not fully ready (NET-CNI-001, critical)" in markdown
    assert "### Symptom: CNI not initialized on a node" in markdown
    data = yaml.safe_load(
        kubetriage("triage", "--snapshot", OUTAGE, "-o", "yaml", "--fail-on", "never").stdout)
    assert data["findings"][0]["rule_id"] == "NET-CNI-001"


def test_user_rule_directory_overrides_a_builtin_by_id(tmp_path: Path, kubetriage: Run) -> None:
    own = tmp_path / "team-rules"
    own.mkdir()
    text = (ROOT / "rules" / "ingress" / "NET-ING-005.yaml").read_text()
    (own / "NET-ING-005.yaml").write_text(text.replace("severity: high", "severity: low"))
    listing = kubetriage("rules", "list", "--rules", own).stdout
    assert "NET-ING-005   low" in listing and "(overrides built-in)" in listing
    report = triage_json(kubetriage, OUTAGE, "--rules", str(own))
    assert {f["rule_id"]: f["severity"] for f in report["findings"]}["NET-ING-005"] == "low"


def test_missing_node_files_mark_rules_not_evaluated(outage_copy: Path, kubetriage: Run) -> None:
    shutil.rmtree(outage_copy / "nodes")
    (outage_copy / "api" / "events.json").unlink()
    (outage_copy / "api" / "nodes.json").unlink()
    report = triage_json(kubetriage, outage_copy)
    skipped = {n["rule_id"] for n in report["coverage"]["not_evaluated"]}
    assert {"NET-CNI-002", "NET-LB-001"} <= skipped
    assert "nodes/*/kubelet.log" in report["coverage"]["missing"]
    assert [f["rule_id"] for f in report["findings"]] == ["NET-CNI-001", "NET-ING-005", "NET-ING-003",
                                                          "NET-SVC-002"]


def test_rules_show_and_help(kubetriage: Run) -> None:
    shown = kubetriage("rules", "show", "NET-LB-001")
    assert shown.returncode == 0 and "id: NET-LB-001" in shown.stdout
    assert kubetriage("rules", "show", "NET-XXX-000").returncode == 2
    helptext = kubetriage("triage", "--help").stdout
    assert "--fail-on" in helptext and "kubetriage triage --snapshot ./snap" in helptext


def test_rules_test_cli_reports_pytest_style(kubetriage: Run) -> None:
    proc = kubetriage("rules", "test")
    assert proc.returncode == 0
    assert proc.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")
