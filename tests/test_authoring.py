"""The authoring kit: config file, explain, facts, scaffolding, schemas, generated docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubetriage.errors import ValidationError
from kubetriage.explain import explain
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.signatures import SignatureCatalog
from kubetriage.ruledocs import catalog, readme_with_catalog, rule_page
from kubetriage.ruletests import complete

from .conftest import HEALTHY, OUTAGE, ROOT, RULE_COUNT, Run, triage_json


def _config(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "kubetriage.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_config_overrides_severity_params_and_excludes_with_reason(tmp_path: Path, kubetriage: Run) -> None:
    config = _config(tmp_path, {
        "severity": {"NET-ING-005": "low"},
        "disable": ["NET-LB-001"],
        "exclude": [{"namespace": "kube-system", "reason": "platform team owns the CNI (OPS-77)"}],
    })
    report = triage_json(kubetriage, OUTAGE, "--config", str(config))
    assert [(f["rule_id"], f["severity"], f["root_cause"]) for f in report["findings"]] == [
        ("NET-CNI-002", "critical", True), ("NET-ING-005", "low", True),  # CNI-002 is a root cause now
        ("NET-ING-003", "high", False), ("NET-SVC-002", "high", False)]
    assert report["suppressed"] == [{"id": report["suppressed"][0]["id"], "rule_id": "NET-CNI-001",
                                     "subject": "DaemonSet/kube-system/rke2-canal",
                                     "reason": "platform team owns the CNI (OPS-77)"}]
    assert report["rules_evaluated"] == RULE_COUNT - 1


def test_thresholds_apply_to_every_rule_declaring_the_param(tmp_path: Path, kubetriage: Run) -> None:
    assert triage_json(kubetriage, HEALTHY)["findings"] == []
    config = _config(tmp_path, {"thresholds": {"ip_use_percent": 1}})
    report = triage_json(kubetriage, HEALTHY, "--config", str(config))
    (ip,) = report["findings"]  # worker-2: 3 pods in a /24 is 1%
    assert ip["rule_id"] == "NET-CNI-004" and ip["subjects"] == ["Node/worker-2"]
    assert "threshold 1%" in ip["evidence"][0]


def test_config_is_found_in_the_working_directory_and_shown_with_origins(tmp_path: Path) -> None:
    import subprocess
    import sys

    _config(tmp_path, {"disable": ["NET-LB-001"], "ssh": {"user": "ops", "key": "keys/id"}})
    proc = subprocess.run([sys.executable, "-m", "kubetriage", "config", "show"], cwd=tmp_path,
                          capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert f"# disable: from {tmp_path / 'kubetriage.yaml'}:1" in proc.stdout
    assert "# params: from default" in proc.stdout
    assert f"key: {tmp_path / 'keys' / 'id'}" in proc.stdout


@pytest.mark.parametrize(("doc", "message"), [
    ({"severity": {"NET-ING-005": "urgent"}}, "E140 severity.NET-ING-005: 'urgent' is not one of"),
    ({"disable": ["NET-NOPE-001"]}, "kubetriage.yaml:2:3: E140 disable: no rule 'NET-NOPE-001'"),
    ({"params": {"NET-CNI-004": {"ip_use_pct": 90}}},
     "kubetriage.yaml:3:5: E140 params: NET-CNI-004 has no param 'ip_use_pct' (has: ip_use_percent)"),
    ({"params": {"NET-CNI-004": {"ip_use_percent": "90"}}}, "E140 params: NET-CNI-004.ip_use_percent must be int"),
    ({"exclude": [{"namespace": "x"}]}, "E140 exclude.0: 'reason' is a required property"),
    ({"rulez": ["x"]}, "kubetriage.yaml:1:1: E140 unknown key 'rulez'"),
])
def test_config_errors_are_located(tmp_path: Path, kubetriage: Run, doc: dict[str, object], message: str) -> None:
    proc = kubetriage("triage", "--snapshot", HEALTHY, "--config", _config(tmp_path, doc))
    assert proc.returncode == 2
    assert message in proc.stderr


def test_explain_answers_why_not_for_every_pattern(kubetriage: Run) -> None:
    out = kubetriage("rules", "explain", "NET-CNI-001", "--snapshot", HEALTHY).stdout
    assert "alternative agent-not-ready: does not fire" in out
    assert "ds (workload): 3 candidate(s), 0 passed" in out and "failed `not_ready gt 0`" in out
    assert "agent (pod): 0 candidate(s), 0 passed" in out
    join = kubetriage("rules", "explain", "NET-ING-005", "--snapshot", OUTAGE, "--now", "2026-01-01T00:00:00Z")
    assert "1 failed `expired eq True`" in join.stdout and "e.g. shop/shop-tls: expired=False" in join.stdout


def test_explain_reports_joins_without_partner() -> None:
    rule = next(r for r in Knowledge.load().rules if r.id == "NET-CNI-001")
    facts = [complete({"kind": "workload", "type": "DaemonSet", "namespace": "kube-system", "name": "canal",
                       "role": "cni", "desired": 3, "ready": 2, "not_ready": 1}, "t"),
             complete({"kind": "pod", "namespace": "kube-system", "name": "calico-1", "owner_kind": "DaemonSet",
                       "owner_name": "calico-node", "node": "w2"}, "t")]
    (agent, _only_ds) = explain(rule, facts)
    text = "\n".join(agent.lines())
    assert text.startswith("alternative agent-not-ready: does not fire")
    assert "no candidate joins an earlier match (namespace eq ds.namespace, owner_name eq ds.name)" in text


def test_facts_dump_and_catalog(kubetriage: Run) -> None:
    facts = yaml.safe_load(kubetriage("facts", "--snapshot", OUTAGE, "--kind", "node").stdout)
    assert [f["name"] for f in facts] == ["cp-1", "worker-1", "worker-2"]
    described = kubetriage("facts", "-o", "catalog", "--kind", "signature_hit").stdout
    assert described.startswith("signature_hit: A known failure signature") and "  sample (str):" in described


def test_new_rule_lints_passes_and_refuses_to_overwrite(tmp_path: Path, kubetriage: Run) -> None:
    target = tmp_path / "team" / "ingress-wrong-port"
    assert kubetriage("rules", "new", target).returncode == 0
    assert kubetriage("rules", "lint", tmp_path / "team").stdout.strip() == "1 rule(s) OK"
    assert kubetriage("rules", "test", tmp_path / "team").stdout.strip().endswith("2 passed, 0 failed")
    again = kubetriage("rules", "new", target)
    assert again.returncode == 2 and "will not overwrite" in again.stderr
    second = kubetriage("rules", "new", tmp_path / "team" / "other-thing")
    assert "NET-CUSTOM-002.yaml" in second.stdout


def test_schemas_are_printed_and_valid_json(kubetriage: Run) -> None:
    for name in ("rule", "runbook", "config"):
        doc = json.loads(kubetriage("schema", name).stdout)
        assert doc["$id"].endswith(f"/{name}.v1.json") and doc["additionalProperties"] is False


def test_generated_docs_are_current() -> None:
    knowledge = Knowledge.load()
    for rule in knowledge.rules:
        page = ROOT / "docs" / "rules" / f"{rule.id}.md"
        assert page.read_text() == rule_page(rule), f"{page} is stale: run `make regen`"
    assert (ROOT / "docs" / "rules" / "README.md").read_text() == catalog(knowledge.rules)
    readme = (ROOT / "README.md").read_text()
    assert readme == readme_with_catalog(readme, knowledge.rules), "README catalog is stale: run `make regen`"
    assert readme.count("| [NET-") == len(knowledge.rules)


def test_signature_regex_that_cannot_compile(tmp_path: Path) -> None:
    (tmp_path / "signatures").mkdir()
    (tmp_path / "signatures" / "team.yaml").write_text(
        "signatures:\n  - id: team-thing\n    patterns:\n      - 'unclosed (group'\n    tests: {match: [x]}\n")
    with pytest.raises(ValidationError) as raised:
        SignatureCatalog.load([tmp_path])
    assert f"{tmp_path}/signatures/team.yaml:4:9: E104 regex does not compile: missing ) at position 15" in str(
        raised.value)


def test_user_signatures_extend_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "signatures").mkdir()
    (tmp_path / "signatures" / "team.yaml").write_text(
        "signatures:\n  - id: team-proxy-down\n    patterns: ['corp-proxy: connection refused']\n"
        "    tests: {match: ['dial tcp: corp-proxy: connection refused'], no_match: ['corp-proxy: connected']}\n")
    catalog_ = SignatureCatalog.load([tmp_path])
    assert catalog_.classify("E1125 dial tcp: corp-proxy: connection refused") == ["team-proxy-down"]
    assert "cni-config-uninitialized" in {s.id for s in catalog_.signatures}


def test_ssh_settings_in_config_do_not_affect_snapshot_triage(tmp_path: Path, kubetriage: Run) -> None:
    config = _config(tmp_path, {"ssh": {"user": "ops", "inventory": "nodes.yaml"}})
    assert triage_json(kubetriage, HEALTHY, "--config", str(config))["findings"] == []
