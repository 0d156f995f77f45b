"""Live triage and `collect` with the real kubernetes client against the API-server fixture."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .apiserver import FakeApiServer, Fault
from .conftest import INGRESS_LOG, OUTAGE, ROOT, RULE_COUNT, Run

FINDING_KEYS = ("rule_id", "root_cause", "subjects", "summary", "severity")
#: Every live run states its request timeout (generous: these tests run on loaded machines), and every
#: test asserts coverage errors before findings, so that a failure shows its cause.
TIMEOUT = ("--request-timeout", "60")  # a safety net only: far beyond an answer on a loaded machine


def _live(run: Run, server: FakeApiServer, tmp: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    kubeconfig = server.kubeconfig(tmp / "kubeconfig")
    proc = run("triage", "--kubeconfig", kubeconfig, "-o", "json", "--fail-on", "never", *TIMEOUT, *extra)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout else {}, proc.stderr


def _collect(run: Run, server: FakeApiServer, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("collect", "-o", out, "--kubeconfig", server.kubeconfig(out.parent / "kubeconfig"), *TIMEOUT, *extra)


def _essence(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(json.dumps(f[k]) for k in FINDING_KEYS) for f in report["findings"]]


def test_live_triage_finds_what_the_snapshot_shows(cluster: FakeApiServer, tmp_path: Path,
                                                   kubetriage: Run) -> None:
    code, live, stderr = _live(kubetriage, cluster, tmp_path, "--now", "2026-11-25T10:32:00Z")
    assert code == 0, stderr
    assert live["coverage"]["errors"] == []
    assert live["cluster"] == "fixture"
    assert [(f["rule_id"], f["root_cause"]) for f in live["findings"]] == [
        ("NET-CNI-001", True), ("NET-ING-005", True), ("NET-CNI-002", False), ("NET-ING-003", False),
        ("NET-SVC-002", False)]
    snap = json.loads(kubetriage("triage", "--snapshot", OUTAGE, "-o", "json", "--fail-on", "never").stdout)
    # Same objects, same faults; live has no node files, so CNI-002 is read from events.
    assert [(f["rule_id"], f["subjects"]) for f in live["findings"]] == [
        (f["rule_id"], f["subjects"]) for f in snap["findings"]]
    logs = {c for c in live["coverage"]["collected"] if c.startswith("logs/")}
    # Networking pods' logs, ready or not (the ingress controller and CoreDNS are Running and Ready),
    # and the previous instance of the restarted canal agent; never an application pod's.
    assert {"logs/kube-system/rke2-canal-x7k2p/calico-node.previous.log",
            "logs/kube-system/rke2-canal-x7k2p/calico-node.log",
            "logs/kube-system/rke2-canal-h0q4z/calico-node.log",
            "logs/kube-system/rke2-ingress-nginx-controller-0abcd/rke2-ingress-nginx-controller.log",
            "logs/kube-system/rke2-coredns-rke2-coredns-5b9f7d7c6d-lq2vw/rke2-coredns-rke2-coredns.log"} <= logs
    assert len(logs) == 8 and not any("/shop/" in log for log in logs)


def test_collect_then_triage_gives_the_same_findings(cluster: FakeApiServer, tmp_path: Path,
                                                     kubetriage: Run) -> None:
    out = tmp_path / "snap"
    collected = _collect(kubetriage, cluster, out, "--chunk-size", "3")
    assert collected.returncode == 0, collected.stderr
    meta = yaml.safe_load((out / "snapshot.yaml").read_text())
    assert meta["errors"] == []
    now = meta["collected_at"]
    _, live, _ = _live(kubetriage, cluster, tmp_path, "--now", now, "--chunk-size", "3")
    offline = json.loads(kubetriage("triage", "--snapshot", out, "-o", "json", "--now", now,
                                    "--fail-on", "never").stdout)
    assert offline["coverage"]["errors"] == live["coverage"]["errors"] == []
    assert [f for f in offline["findings"]] == live["findings"]
    assert len(json.loads((out / "api" / "pods.json").read_text())["items"]) == 10
    assert [n["metadata"]["name"] for n in json.loads((out / "api" / "namespaces.json").read_text())["items"]] == [
        "default", "kube-system", "shop"]
    log = out / "logs" / "kube-system" / "rke2-ingress-nginx-controller-0abcd" / "rke2-ingress-nginx-controller.log"
    assert log.read_text() == INGRESS_LOG
    assert (out / "logs" / "kube-system" / "rke2-canal-x7k2p" / "calico-node.previous.log").exists()
    text = "\n".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "PRIVATE KEY" not in text and "secretstuff" not in text
    assert base64.b64encode(b"-----BEGIN PRIVATE KEY-----").decode()[:20] not in text
    again = _collect(kubetriage, cluster, out)
    assert again.returncode == 2 and "not empty (use --force" in again.stderr


def test_pagination_reads_every_page(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    _, report, _ = _live(kubetriage, cluster, tmp_path, "--chunk-size", "2")
    assert report["coverage"]["errors"] == []
    pod_lists = [r for r in cluster.requests if r.resource == "pods" and r.verb == "list"]
    assert len(pod_lists) == 5  # 10 pods, 2 per page
    assert report["findings"][0]["rule_id"] == "NET-CNI-001"


def test_forbidden_secret_is_a_coverage_error(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    cluster.faults["secrets"] = Fault(status=403)
    code, report, _ = _live(kubetriage, cluster, tmp_path)
    assert code == 0
    (error,) = report["coverage"]["errors"]
    assert error["target"] == "secrets/shop/shop-tls" and error["message"].startswith("forbidden (RBAC)")
    # NET-ING-005 still runs on what the ingress controller logs; NET-ING-006 needs the Secret itself
    assert {"rule_id": "NET-ING-006", "missing": ["api/secrets"]} in report["coverage"]["not_evaluated"]
    assert "NET-CNI-001" in {f["rule_id"] for f in report["findings"]}


def test_missing_api_group_falls_back_to_v1_endpoints(cluster: FakeApiServer, tmp_path: Path,
                                                       kubetriage: Run) -> None:
    cluster.faults["endpointslices"] = Fault(status=404)
    _, report, _ = _live(kubetriage, cluster, tmp_path)
    assert [e["target"] for e in report["coverage"]["errors"]] == ["endpointslices"]
    assert "api/endpoints" in report["coverage"]["collected"]
    assert "api/endpointslices" not in report["coverage"]["missing"]
    assert report["coverage"]["not_evaluated"] == []
    assert any(r.resource == "endpoints" for r in cluster.requests)


def test_server_error_on_pods_is_retried_then_reported(cluster: FakeApiServer, tmp_path: Path,
                                                        kubetriage: Run) -> None:
    cluster.faults["pods"] = Fault(status=500)
    code, report, _ = _live(kubetriage, cluster, tmp_path, "--now", "2026-11-25T10:32:00Z")  # the events' day
    assert code == 0
    errors = {e["target"]: e["message"] for e in report["coverage"]["errors"]}
    assert errors["pods"] == "HTTP 500: injected 500"
    assert len([r for r in cluster.requests if r.resource == "pods"]) == 3  # 1 + 2 retries
    skipped = {n["rule_id"] for n in report["coverage"]["not_evaluated"]}
    assert {"NET-LB-001", "NET-SVC-001", "NET-CNI-011"} <= skipped
    assert all(n["missing"] == ["api/pods"] for n in report["coverage"]["not_evaluated"])
    # Without pods, the CNI agent cannot be tied to worker-2, nor the Ingress to pods: separate root causes.
    assert [(f["rule_id"], f["root_cause"]) for f in report["findings"]] == [
        ("NET-CNI-001", True), ("NET-CNI-002", True), ("NET-ING-003", True), ("NET-ING-005", True)]


def test_a_transient_error_is_absorbed(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    cluster.faults["pods"] = Fault(status=503, times=1)
    _, report, _ = _live(kubetriage, cluster, tmp_path)
    assert report["coverage"]["errors"] == []
    assert report["findings"][0]["rule_id"] == "NET-CNI-001"


def test_slow_endpoint_times_out_and_triage_finishes(cluster: FakeApiServer, tmp_path: Path,
                                                     kubetriage: Run) -> None:
    cluster.faults["events"] = Fault(delay=60.0)  # far beyond the timeout, which is far beyond a loaded answer
    code, report, _ = _live(kubetriage, cluster, tmp_path, "--request-timeout", "5")
    assert report["coverage"]["errors"] == [{"source": "api", "target": "events", "message": "timed out after 5s"}]
    assert code == 0
    assert "api/events" in report["coverage"]["missing"]


def test_expired_continue_token_restarts_without_duplicates(cluster: FakeApiServer, tmp_path: Path,
                                                            kubetriage: Run) -> None:
    cluster.faults["pods"] = Fault(status=410, times=1, on_continue=True)
    out = tmp_path / "snap"
    proc = _collect(kubetriage, cluster, out, "--chunk-size", "4")
    assert yaml.safe_load((out / "snapshot.yaml").read_text())["errors"] == []
    assert proc.returncode == 0, proc.stderr
    names = [p["metadata"]["name"] for p in json.loads((out / "api" / "pods.json").read_text())["items"]]
    assert len(names) == len(set(names)) == 10


def test_wrong_token_reports_every_gap(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig", token="wrong")
    proc = kubetriage("triage", "--kubeconfig", kubeconfig, "-o", "json", *TIMEOUT)
    report = json.loads(proc.stdout)
    assert all(e["message"].startswith("unauthorized") for e in report["coverage"]["errors"])
    assert report["rules_evaluated"] == 0 and len(report["coverage"]["not_evaluated"]) == RULE_COUNT
    # Nothing was seen: exit 3 and say so, never a healthy-looking 0 (docs/findings-json.md).
    assert proc.returncode == 3 and report["findings"] == [] and report["coverage"]["too_little"]
    assert "NOTHING TO JUDGE" in proc.stderr
    assert "wrong" not in proc.stderr + proc.stdout
    collected = kubetriage("collect", "-o", tmp_path / "snap", "--kubeconfig", kubeconfig)
    assert collected.returncode == 3 and "NOTHING TO JUDGE" in collected.stderr


def test_collect_that_got_nothing_says_so_and_exits_3(cluster: FakeApiServer, tmp_path: Path,
                                                      kubetriage: Run) -> None:
    out = tmp_path / "snap"
    proc = kubetriage("collect", "-o", out, "--kubeconfig", cluster.kubeconfig(tmp_path / "kc", token="wrong"),
                      *TIMEOUT)
    errors = yaml.safe_load((out / "snapshot.yaml").read_text())["errors"]
    assert errors and all(e["message"].startswith("unauthorized") for e in errors)
    assert proc.returncode == 3, proc.stderr
    assert "NOTHING TO JUDGE: neither nodes nor pods were collected" in proc.stderr
    cluster.faults["nodes"] = cluster.faults["pods"] = Fault(status=403)
    partial = _collect(kubetriage, cluster, tmp_path / "partial")
    assert partial.returncode == 3 and "NOTHING TO JUDGE: neither nodes nor pods" in partial.stderr


def test_verbose_logs_each_api_call(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    _, _, stderr = _live(kubetriage, cluster, tmp_path, "-v")
    assert "GET https://127.0.0.1" in stderr and "/api/v1/pods -> 200 in" in stderr
    assert cluster.token not in stderr


def test_kubeconfig_list_and_context(cluster: FakeApiServer, tmp_path: Path) -> None:
    first = tmp_path / "first"
    # The first file's current context points where nothing listens: --context must win.
    first.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "other",
                                     "clusters": [{"name": "other", "cluster": {"server": "https://127.0.0.1:1"}}],
                                     "users": [{"name": "other", "user": {"token": "x"}}],
                                     "contexts": [{"name": "other", "context": {"cluster": "other",
                                                                                 "user": "other"}}]}))
    second = cluster.kubeconfig(tmp_path / "second", context="prod")
    env = {**os.environ, "KUBECONFIG": f"{first}{os.pathsep}{second}"}
    proc = subprocess.run([sys.executable, "-m", "kubetriage", "triage", "--context", "prod", "-o", "json",
                           "--fail-on", "never", *TIMEOUT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["coverage"]["errors"] == []
    assert json.loads(proc.stdout)["cluster"] == "prod"
    bad = subprocess.run([sys.executable, "-m", "kubetriage", "triage", "--context", "nope"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "cannot load Kubernetes credentials" in bad.stderr


def test_in_cluster_service_account(cluster: FakeApiServer, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import incluster_config

    from kubetriage.collectors.kube import ApiSettings, LiveBundle, api_client
    from kubetriage.knowledge import Knowledge
    from kubetriage.triage import resolve_now, triage

    (tmp_path / "token").write_text(cluster.token)
    (tmp_path / "ca.crt").write_bytes(cluster.ca_pem)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(cluster.port))
    api, name = api_client(None, None, in_cluster=True)
    bundle = LiveBundle(api, name, ApiSettings(timeout=20.0))
    try:
        report = triage(bundle, Knowledge.load(), resolve_now(bundle, "2026-11-25T10:32:00Z"))
    finally:
        bundle.close()
    assert report.facts.errors == []
    assert name == "in-cluster"
    assert report.findings[0].rule_id == "NET-CNI-001"


def test_every_api_call_is_granted_by_the_shipped_rbac_and_nothing_more(
        cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    first = _collect(kubetriage, cluster, tmp_path / "a")
    assert first.returncode == 0, first.stderr
    cluster.faults["endpointslices"] = Fault(status=404)
    second = _collect(kubetriage, cluster, tmp_path / "b")
    assert second.returncode == 0, second.stderr
    used = {(r.group, r.resource + (f"/{r.subresource}" if r.subresource else ""), r.verb)
            for r in cluster.requests}
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert used == granted


def test_one_object_per_page_never_stalls(cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    """Every list spans many pages: workers must not fill up on lists nobody reads yet."""
    _, paged, _ = _live(kubetriage, cluster, tmp_path, "--chunk-size", "1", "--now", "2026-11-25T10:32:00Z")
    _, whole, _ = _live(kubetriage, cluster, tmp_path, "--now", "2026-11-25T10:32:00Z")
    assert paged["coverage"]["errors"] == whole["coverage"]["errors"] == []
    assert paged["findings"] == whole["findings"]
