"""`kubetriage probe` against the API-server fixture: the DaemonSet created, its pods' JSON lines
read, probes/mesh.json written, everything deleted; an interrupted run cleaned up by --cleanup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.probe import LABELS, NAME, NAMESPACE
from kubetriage.probe.plan import ProbeSettings, plan

from .apiserver import FakeApiServer
from .conftest import Run, triage_json

NODES = ["cp-1", "worker-1", "worker-2"]


class Cluster:
    """Plays the DaemonSet controller, the garbage collector and the agents for the fixture."""

    def __init__(self, server: FakeApiServer, blocked: str = "", stuck: str = "", silent: bool = False,
                 nodes: list[str] = NODES) -> None:
        self.server, self.blocked, self.stuck, self.silent, self.nodes = server, blocked, stuck, silent, nodes
        server.on_write = self

    def ip(self, node: str) -> str:
        i = self.nodes.index(node)
        return f"10.42.{i // 250}.{i % 250 + 1}"

    def __call__(self, verb: str, plural: str, obj: dict[str, Any]) -> None:
        if plural == "daemonsets" and verb == "post":
            obj["status"] = {"desiredNumberScheduled": len(self.nodes)}
            self.server.write("put", "daemonsets", NAMESPACE, NAME, obj)
            for node in self.nodes:
                waiting = {"waiting": {"reason": "ContainerCreating", "message": "failed to setup network for "
                                       "sandbox: plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename"}}
                status = ({"phase": "Pending", "containerStatuses": [{"name": "agent", "state": waiting}]}
                          if node == self.stuck else {"phase": "Running", "podIP": self.ip(node)})
                self.server.write("post", "pods", NAMESPACE, f"{NAME}-{node}", {
                    "apiVersion": "v1", "kind": "Pod", "spec": {"nodeName": node},
                    "metadata": {"labels": LABELS, "ownerReferences": [{"kind": "DaemonSet", "name": NAME}]},
                    "status": status})
        elif plural == "daemonsets" and verb == "delete":
            for pod in self.server.items("pods", NAMESPACE):
                self.server.write("delete", "pods", NAMESPACE, pod["metadata"]["name"], {})
        elif plural == "configmaps" and verb == "put" and not self.silent:
            for node, peers in json.loads(obj["data"]["peers.json"]).items():
                self._agent(node, peers)

    def _agent(self, node: str, peers: dict[str, str]) -> None:
        origin = {"node": node, "pod": f"{NAMESPACE}/{NAME}-{node}", "ip": self.ip(node), "mtu": 1450}
        lines = []
        for peer, ip in peers.items():
            ok = self.blocked not in (node, peer)
            for size in (56, 1422):
                lines.append({"kind": "pod-to-pod", "from": origin, "to": {"node": peer, "ip": ip}, "size": size,
                              "dont_fragment": size > 56, "protocol": "icmp", "sent": 3, "received": 3 * ok,
                              "error": None if ok else "100% packet loss", "at": "2026-11-25T10:31:00Z"})
        lines.append({"kind": "done", "from": origin})
        log = self.server.root / "logs" / NAMESPACE / f"{NAME}-{node}" / "agent.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("I am starting\n" + "\n".join(json.dumps(line) for line in lines) + "\n")


def _left(server: FakeApiServer) -> list[str]:
    return [f"{plural}/{o['metadata']['name']}" for plural in ("daemonsets", "configmaps", "pods")
            for o in server.items(plural, NAMESPACE)]


def _probe(run: Run, server: FakeApiServer, tmp_path: Path, *extra: str) -> Any:
    kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
    return run("probe", "-o", tmp_path / "snap", "--kubeconfig", kubeconfig, "--probe-timeout", "20", "--no-endpoints",
               *extra)


def test_probe_blocked_node_is_named_and_nothing_is_left(cluster: FakeApiServer, tmp_path: Path,
                                                         kubetriage: Run) -> None:
    Cluster(cluster, blocked="worker-2")
    proc = _probe(kubetriage, cluster, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _left(cluster) == []
    entries = json.loads((tmp_path / "snap" / "probes" / "mesh.json").read_text())["probes"]
    assert len(entries) == 3 * 2 * 2  # all pairs of 3 nodes, small and large
    created = [(r.verb, r.resource) for r in cluster.requests if r.verb != "get" and r.verb != "list"]
    assert created == [("post", "configmaps"), ("post", "daemonsets"), ("put", "configmaps"),
                       ("delete", "daemonsets"), ("delete", "configmaps")]
    report = triage_json(kubetriage, tmp_path / "snap")
    assert [(f["rule_id"], f["subjects"]) for f in report["findings"]] == [("NET-PROBE-001", ["Node/worker-2"])]


def test_a_pod_that_cannot_start_is_evidence_and_the_cni_finding_explains_it(
        cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    Cluster(cluster, stuck="worker-2")
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    proc = kubetriage("triage", "--kubeconfig", kubeconfig, "--probe", "--probe-timeout", "20", "-o", "json",
                      "--now", "2026-11-25T10:32:00Z", "--fail-on", "never")
    report = json.loads(proc.stdout)
    probe = next(f for f in report["findings"] if f["rule_id"] == "NET-PROBE-006")
    assert probe["subjects"] == ["Node/worker-2"] and not probe["root_cause"]
    assert "stat /var/lib/calico/nodename" in probe["summary"]
    cause = next(f for f in report["findings"] if probe["id"] in f["explains"])
    assert cause["rule_id"].startswith("NET-CNI-")
    assert _left(cluster) == []


def test_timeout_still_cleans_up_and_an_interrupted_run_is_removed_by_cleanup(
        cluster: FakeApiServer, tmp_path: Path, kubetriage: Run) -> None:
    Cluster(cluster, silent=True)  # the agents never report: the run ends at its deadline
    proc = _probe(kubetriage, cluster, tmp_path, "--probe-timeout", "3")
    assert proc.returncode == 0, proc.stderr
    assert _left(cluster) == []
    entries = json.loads((tmp_path / "snap" / "probes" / "mesh.json").read_text())["probes"]
    assert {e["error"] for e in entries} == {"probe pod not running: no result before the deadline"}
    # an interrupted run's leftovers (labelled), next to a same-named object kubetriage did not make
    cluster.on_write = None
    cluster.write("post", "daemonsets", NAMESPACE, NAME, {"metadata": {"labels": LABELS}})
    cluster.write("post", "configmaps", NAMESPACE, NAME, {"metadata": {"labels": {"team": "net"}}})
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    done = kubetriage("probe", "--cleanup", "--kubeconfig", kubeconfig)
    assert done.returncode == 0, done.stderr
    assert _left(cluster) == [f"configmaps/{NAME}"] and "daemonsets/kubetriage-probe" in done.stderr


@pytest.mark.parametrize(("nodes", "pairs"), [(3, 6), (20, 380), (50, 100), (500, 1000)])
def test_all_pairs_then_a_ring(nodes: int, pairs: int) -> None:
    peers = plan({f"n{i:03d}": f"10.42.{i // 250}.{i % 250}" for i in range(nodes)}, ProbeSettings())
    assert sum(len(p) for p in peers.values()) == pairs
    assert all(node not in p for node, p in peers.items())
