"""Evidence must be current: per CNI, a healthy cluster whose journals start at boot (bootstrap CNI
errors, an agent restart during install, old events) gives no finding and lists that evidence as
resolved earlier; the same cluster with the error still happening in the last minutes gives the finding.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.currency import EvidenceWindow
from kubetriage.normalize.events import event_facts
from kubetriage.normalize.scope import Scope
from kubetriage.normalize.signatures import HitAggregator, SignatureCatalog
from kubetriage.triage import TriageReport, resolve_now, triage
from tests.support import synth

from .conftest import Run
from .scenarios.build_scenarios import PROFILE, Cluster

KNOWLEDGE = Knowledge.load()
NOW = datetime(2026, 11, 25, 10, 32, tzinfo=timezone.utc)
#: CNI -> the distribution profile that runs it, and the signature its plugin fails with while its agent is down
CNIS = {"calico": ("kubeadm", "calico-node-not-running"), "canal": ("rke2", "calico-node-not-running"),
        "flannel": ("k3s", "flannel-subnet-env-missing"), "cilium": ("kind", "cilium-agent-unavailable")}
NOT_READY = ('kubelet.go:2900] "Container runtime network not ready" networkReady="NetworkReady=false '
             'reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"')
ENGINES = ["durable", "oracle"]


def _triage(cluster: Cluster, tmp_path: Path, engine: str = "oracle", window: EvidenceWindow | None = None
            ) -> TriageReport:
    root = tmp_path / "snapshot"
    cluster.write(root, {"findings": []})
    bundle = SnapshotBundle(root)
    return triage(bundle, KNOWLEDGE, resolve_now(bundle, None), engine, window=window)  # type: ignore[arg-type]


def _resolved(report: TriageReport) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["node"], e["signature"]): e for e in report.facts.resolved_earlier}


def _failing(c: Cluster, minutes: range) -> None:
    """worker-1's runtime network is not ready, and a new pod's sandbox fails, at 10:MM of each minute."""
    c.kubelet["worker-1"] += [c.journal("worker-1", "E", f"10:{m:02d}:02.118304", NOT_READY) for m in minutes]
    c.events.append(synth.event("shop", "Pod", "cart-6c8d9f7b4-n3w7p", "FailedCreatePodSandBox",
                                c._boot_sandbox_error(), count=len(minutes), host="worker-1",
                                last=f"2026-11-25T10:{minutes[-1]:02d}:05Z"))


def _agent_up(c: Cluster, clock: str) -> None:
    """The CNI agent on worker-1 (re)starts and is up at 10:``clock``: the calico-node / canal pod goes
    Ready; k3s's embedded flannel writes its subnet file."""
    if c.distro == "k3s":
        c.kubelet["worker-1"].append(c.journal("worker-1", "I", f"10:{clock}.5", "flannel.go:75] Wrote subnet file "
                                                                                "to /run/flannel/subnet.env"))
        return
    agent = next(p for p in c.pods if p["metadata"]["name"].startswith(PROFILE[c.distro]["cni_ds"][0])
                 and p["spec"]["nodeName"] == "worker-1")
    agent["status"]["containerStatuses"][0].update(restartCount=2,
                                                   state={"running": {"startedAt": f"2026-11-25T10:{clock}Z"}})
    for cond in agent["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["lastTransitionTime"] = f"2026-11-25T10:{clock}Z"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cni", CNIS)
def test_boot_journal_and_old_events_give_no_finding(cni: str, engine: str, tmp_path: Path) -> None:
    distro, plugin_signature = CNIS[cni]
    report = _triage(Cluster(distro), tmp_path, engine)
    assert report.findings == []
    resolved = _resolved(report)
    for node in ("cp-1", "worker-1", "worker-2"):
        boot = resolved[(node, "cni-config-uninitialized")]
        assert boot["count"] == 21 and boot["first_seen"] == "2026-11-25T08:45:07Z"
        assert boot["why"].startswith("recovered at 2026-11-25T08:4")  # node Ready / agent up, not merely old
        assert (node, plugin_signature) in resolved
    events = {e["signature"]: e for e in report.facts.resolved_earlier if e["source"] == "event"}
    assert events["FailedCreatePodSandBox"]["why"] == "last seen 105 min before collection (window 30 min)"
    assert ("BackOff" in events) == (cni != "flannel")  # the calico / canal agent crashed once during install


@pytest.mark.parametrize("cni", CNIS)
def test_agent_restart_within_the_window_ends_the_errors_before_it(cni: str, tmp_path: Path) -> None:
    cluster = Cluster(CNIS[cni][0])
    _failing(cluster, range(15, 21))
    _agent_up(cluster, "21:30")
    report = _triage(cluster, tmp_path)
    assert report.findings == []
    why = _resolved(report)[("worker-1", "cni-config-uninitialized")]["why"]
    assert why.startswith("recovered at 2026-11-25T10:21:30Z: ")
    assert any(e["last_seen"] == "2026-11-25T10:20:05Z" and e["why"].startswith("recovered at 2026-11-25T10:21:30Z")
               for e in report.facts.resolved_earlier if (e["node"], e["signature"]) == ("worker-1", CNIS[cni][1]))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cni", CNIS)
def test_the_error_still_happening_gives_the_finding(cni: str, engine: str, tmp_path: Path) -> None:
    cluster = Cluster(CNIS[cni][0])
    _failing(cluster, range(15, 21))
    _agent_up(cluster, "21:30")
    _failing(cluster, range(28, 32))  # again, after the recovery
    report = _triage(cluster, tmp_path, engine)
    found = {f.rule_id: f for f in report.findings}
    assert set(found) == {"NET-CNI-002", "NET-CNI-007"}
    assert found["NET-CNI-002"].subjects == ["Node/worker-1"] and "last at 2026-11-25T10:31:02Z" in \
        found["NET-CNI-002"].evidence[0]
    assert ("worker-1", "cni-config-uninitialized") not in _resolved(report)
    assert ("worker-2", "cni-config-uninitialized") in _resolved(report)  # the boot is still over there


def test_a_crash_long_ago_is_not_a_crash_loop(tmp_path: Path) -> None:
    """A previous container's undated lines take the moment it ended: three days ago is not now."""
    cluster = Cluster("kubeadm")
    loop = ('[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone ".", see '
            'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."')
    dns = cluster.pods_of("kube-system", "kube-dns")[0]
    dns["status"]["containerStatuses"][0].update(restartCount=1, lastState={"terminated": {
        "exitCode": 1, "reason": "Error", "finishedAt": "2026-11-22T07:12:00Z"}})
    cluster.logs[f"kube-system/{dns['metadata']['name']}/coredns.previous.log"] = [loop]
    report = _triage(cluster, tmp_path)
    assert report.findings == []
    entry = next(e for e in report.facts.resolved_earlier if e["signature"] == "coredns-loop")
    assert entry["last_seen"] == "2026-11-22T07:12:00Z" and entry["why"].startswith("last seen 3 days before")

    dns["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"] = "2026-11-25T10:30:41Z"
    assert {f.rule_id for f in _triage(cluster, tmp_path / "now").findings} == {"NET-DNS-002"}


def test_undated_lines_take_the_time_of_the_line_before(tmp_path: Path) -> None:
    """calico-node prints BIRD's lines undated: they belong to the dated line before them. A file with no
    dated line at all cannot be shown stale, so it counts."""
    cluster = Cluster("kubeadm")
    agent = next(p for p in cluster.pods if p["metadata"]["name"].startswith("calico-node")
                 and p["spec"]["nodeName"] == "worker-2")
    cluster.break_pod(agent, "", "Running")
    readiness = "calico/node is not ready: BIRD is not ready: BGP not established with 10.0.0.10,10.0.0.11"
    name = agent["metadata"]["name"]
    cluster.logs[f"kube-system/{name}/calico-node.log"] = [
        f"2026-11-25 10:20:0{i}.583 [INFO][68] felix/summary.go 100: Summarising 18 dataplane reconciliation loops"
        for i in range(3)] + [readiness, "bird: Mesh_10_0_0_10: State changed to start"]
    report = _triage(cluster, tmp_path)
    assert {f.rule_id for f in report.findings} == {"NET-CNI-001", "NET-CNI-009"}  # 10:20:02 is current

    cluster.logs[f"kube-system/{name}/calico-node.log"][-1] = "bird: Mesh_10_0_0_10: State changed to up"
    cluster.logs[f"kube-system/{name}/calico-node.log"].insert(-1, "2026-11-25 10:21:00.002 [INFO][68] "
                                                                   "felix/summary.go 100: Summarising")
    report = _triage(cluster, tmp_path / "up")
    assert {f.rule_id for f in report.findings} == {"NET-CNI-001"}  # BGP came up at 10:21:00 (its dated line)
    assert _resolved(report)[("worker-2", "calico-bgp-not-ready")]["why"].startswith(
        "recovered at 2026-11-25T10:21:00Z: pod-log: bird: Mesh_10_0_0_10: State changed to up")

    cluster.logs[f"kube-system/{name}/calico-node.log"] = [readiness]
    assert {f.rule_id for f in _triage(cluster, tmp_path / "undated").findings} == {"NET-CNI-001", "NET-CNI-009"}


def test_the_window_is_set_per_signature(tmp_path: Path) -> None:
    cluster = Cluster("rke2")
    cluster.kernel["worker-2"] = [f"2026-11-25T09:{m:02d}:00+0000 worker-2 kernel: nf_conntrack: nf_conntrack: "
                                  "table full, dropping packet" for m in range(40, 50)]
    assert _triage(cluster, tmp_path).findings == []
    wide = EvidenceWindow(30, {"conntrack-table-full": 60, "cni-config-uninitialized": 240})
    report = _triage(cluster, tmp_path / "wide", window=wide)
    assert {f.rule_id for f in report.findings} == {"NET-NODE-003"}  # the boot stays recovered, whatever the window


def test_events_count_by_their_latest_occurrence() -> None:
    """events.k8s.io events: ``eventTime`` is the first occurrence, ``series.lastObservedTime`` the latest."""
    catalog = SignatureCatalog.load()
    scope = Scope(now=NOW, hits=HitAggregator(catalog, NOW))
    series = {"type": "Warning", "reason": "FailedCreatePodSandBox", "eventTime": "2026-11-25T08:00:00.000000Z",
              "series": {"count": 40, "lastObservedTime": "2026-11-25T10:30:00.000000Z"},
              "regarding": {"kind": "Pod", "namespace": "shop", "name": "web-1"}, "reportingInstance": "worker-1",
              "note": "network is not ready: container runtime network not ready: NetworkReady=false "
                      "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}
    old = {**series, "series": None, "deprecatedCount": 3, "regarding": {"kind": "Pod", "namespace": "shop",
                                                                           "name": "web-2"}}
    facts = list(event_facts([series, old], scope))
    assert [(f["object_name"], f["count"], f["last_seen"]) for f in facts] == [("web-1", 40, "2026-11-25T10:30:00Z")]
    assert [(e["subject"], e["count"], e["last_seen"]) for e in scope.resolved] == [
        ("Pod/shop/web-2", 3, "2026-11-25T08:00:00Z")]
    assert [h["signature"] for h in scope.hits.facts()] == ["cni-config-uninitialized"]


def test_reports_show_what_was_resolved_earlier(kubetriage: Run, tmp_path: Path) -> None:
    cluster = Cluster("k3s")
    cluster.events.append(synth.event("shop", "Pod", "<img_src=x>", "FailedCreatePodSandBox",
                                      cluster._boot_sandbox_error(), last="2026-11-25T08:50:00Z", host="worker-1"))
    root = tmp_path / "snapshot"
    cluster.write(root, {"findings": []})
    config = tmp_path / "kubetriage.yaml"
    config.write_text("evidence_window:\n  minutes: 20\n  signatures: {flannel-subnet-env-missing: 45}\n")
    data = json.loads(kubetriage("triage", "--snapshot", root, "-o", "json", "--config", config).stdout)
    assert data["findings"] == [] and len(data["resolved_earlier"]) == 8
    assert {e["why"].split(" (window")[-1] for e in data["resolved_earlier"] if e["source"] == "event"} == {" 20 min)"}
    table = kubetriage("triage", "--snapshot", root, "--config", config).stdout
    assert "Resolved earlier" in table and "flannel-subnet-env-missing (kubelet-log of Node/cp-1 on cp-1)" in table
    markdown = kubetriage("triage", "--snapshot", root, "-o", "markdown").stdout
    assert "## Resolved earlier" in markdown and "Pod/shop/&lt;img_src=x&gt;" in markdown
    html = kubetriage("runbook", "--snapshot", root, "-o", "html").stdout
    assert "Resolved earlier" in html and "Pod/shop/&lt;img_src=x&gt;" in html and "<img" not in html

    config.write_text("evidence_window:\n  signatures: {no-such-signature: 45}\n")
    proc = kubetriage("triage", "--snapshot", root, "--config", config)
    assert proc.returncode == 2 and "E140 evidence_window: no signature 'no-such-signature'" in proc.stderr
