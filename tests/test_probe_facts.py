"""probes/mesh.json and probes/tls/ -> facts: localisation, bad entries located, certificates compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.facts import FactBase
from kubetriage.knowledge import Knowledge
from kubetriage.normalize import normalize
from kubetriage.normalize.common import parse_time
from kubetriage.triage import triage
from tests.support import synth

NOW = parse_time("2026-11-25T10:32:00Z")
KNOWLEDGE = Knowledge.load()
Entry = dict[str, Any]


def _ping(src: str, dst: str, ok: bool = True, size: int = 56) -> Entry:
    return {"kind": "pod-to-pod", "from": {"node": src, "ip": f"10.42.{src[-1]}.5", "mtu": 1450},
            "to": {"node": dst, "ip": f"10.42.{dst[-1]}.5"}, "protocol": "icmp", "size": size,
            "dont_fragment": size > 56, "sent": 3, "received": 3 if ok else 0, "rtt_ms": None,
            "error": None if ok else "100% packet loss", "at": "2026-11-25T10:31:00Z"}


def _mesh(nodes: list[str], broken: frozenset[frozenset[str]] = frozenset(),
          large_broken: frozenset[frozenset[str]] = frozenset()) -> list[Entry]:
    return [entry for a in nodes for b in nodes if a != b
            for entry in (_ping(a, b, frozenset((a, b)) not in broken),
                          _ping(a, b, frozenset((a, b)) not in large_broken, size=1422))]


def _snapshot(root: Path, entries: Any = None, tls: dict[str, bytes] | None = None,
              raw: str | None = None, api: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    (root / "probes" / "tls").mkdir(parents=True)
    (root / "snapshot.yaml").write_text("format: kubetriage/v1\ncollected_at: 2026-11-25T10:32:00Z\n")
    for resource, items in (api or {}).items():
        synth.write_list(root / "api" / f"{resource}.json", items)
    if raw is not None or entries is not None:
        (root / "probes" / "mesh.json").write_text(
            raw if raw is not None else json.dumps({"started_at": "2026-11-25T10:31:00Z", "probes": entries}))
    for name, pem in (tls or {}).items():
        (root / "probes" / "tls" / name).write_bytes(pem)
    return root


def _facts(root: Path) -> FactBase:
    assert NOW is not None
    return normalize(SnapshotBundle(root), NOW, KNOWLEDGE.signatures)


def _kind(base: FactBase, kind: str) -> list[dict[str, Any]]:
    return [f for f in base.facts if f["kind"] == kind]


def _pairs(*names: tuple[str, str]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(p) for p in names)


def test_one_node_against_all_others_is_isolated(tmp_path: Path) -> None:
    nodes = ["node-1", "node-2", "node-3", "node-4"]
    base = _facts(_snapshot(tmp_path, _mesh(nodes, _pairs(("node-3", "node-1"), ("node-3", "node-2"),
                                                          ("node-3", "node-4")))))
    by_node = {f["node"]: f for f in _kind(base, "probe_node")}
    assert [n for n, f in by_node.items() if f["isolated"]] == ["node-3"]
    assert by_node["node-3"]["unreachable"] == ["node-1", "node-2", "node-4"]
    assert by_node["node-1"]["unreachable"] == ["node-3"] and not by_node["node-1"]["isolated"]
    assert _kind(base, "probe_pair") == []  # the isolated node explains every failing pair
    assert "probes/mesh.json" in base.collected


def test_a_partition_is_reported_per_pair_and_blames_no_node(tmp_path: Path) -> None:
    nodes = ["a1", "a2", "b1", "b2"]
    cut = _pairs(("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2"))
    base = _facts(_snapshot(tmp_path, _mesh(nodes, cut)))
    assert not any(f["isolated"] for f in _kind(base, "probe_node"))
    assert {(f["node_a"], f["node_b"]) for f in _kind(base, "probe_pair")} == \
        {("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2")}


def test_large_packets_failing_on_one_node_is_an_mtu_fault_not_isolation(tmp_path: Path) -> None:
    nodes = ["n1", "n2", "n3"]
    base = _facts(_snapshot(tmp_path, _mesh(nodes, large_broken=_pairs(("n2", "n1"), ("n2", "n3")))))
    by_node = {f["node"]: f for f in _kind(base, "probe_node")}
    assert by_node["n2"]["mtu_isolated"] and not by_node["n2"]["isolated"]
    assert by_node["n2"]["mtu_size"] == 1422 and by_node["n2"]["pod_mtu"] == 1450
    assert not by_node["n1"]["mtu_isolated"]
    assert _kind(base, "probe_pair") == []


def test_the_overlay_of_the_detected_cni_is_named(tmp_path: Path) -> None:
    api = {"daemonsets": [synth.daemonset("kube-system", "kube-flannel-ds", "flannel/flannel:v0.25.1",
                                          desired=2, ready=2)]}
    base = _facts(_snapshot(tmp_path, _mesh(["x1", "x2", "x3"], _pairs(("x1", "x2"), ("x1", "x3"))), api=api))
    node = next(f for f in _kind(base, "probe_node") if f["isolated"])
    assert (node["cni"], node["overlay_iface"], node["overlay_ports"]) == ("flannel", "flannel.1", ["udp/8472"])
    assert node["overlay"] == "VXLAN over UDP port 8472"


def test_service_vip_and_dns_failures_carry_what_worked_elsewhere(tmp_path: Path) -> None:
    def svc(node: str, ip: str, port: int, error: str | None, endpoint: bool) -> Entry:
        return {"kind": "pod-to-service", "from": {"node": node}, "protocol": "tcp", "error": error,
                "to": {"service": "default/kubernetes", "ip": ip, "port": port, "endpoint": endpoint}}

    def dns(node: str, error: str | None) -> Entry:
        return {"kind": "pod-to-dns", "from": {"node": node}, "protocol": "dns", "error": error,
                "to": {"name": "kubernetes.default.svc.cluster.local", "server": "10.43.0.10"}}

    entries = [svc("w1", "10.43.0.1", 443, "i/o timeout", False), svc("w1", "10.0.0.10", 6443, None, True),
               svc("w2", "10.43.0.1", 443, None, False), dns("w1", None), dns("w2", "timed out")]
    base = _facts(_snapshot(tmp_path, entries))
    [vip] = _kind(base, "probe_service")
    assert (vip["node"], vip["endpoint"], vip["endpoint_ok"], vip["ok_from_nodes"]) == \
        ("w1", "10.0.0.10:6443", True, 1)
    [lookup] = _kind(base, "probe_dns")
    assert (lookup["node"], lookup["ok_from_nodes"], lookup["failed_from_nodes"]) == ("w2", 1, 1)


def test_a_probe_pod_that_never_ran_is_evidence_about_its_node(tmp_path: Path) -> None:
    entries = [*_mesh(["w1", "w2"]), {"kind": "pod-to-pod", "from": {"node": "w3"}, "to": {"node": "w1"},
                                       "error": "probe pod not running: ContainerCreating"}]
    base = _facts(_snapshot(tmp_path, entries))
    w3 = next(f for f in _kind(base, "probe_node") if f["node"] == "w3")
    assert w3["pod_error"] == "probe pod not running: ContainerCreating" and w3["peers"] == 0


@pytest.mark.parametrize(("entry", "message"), [
    ("a string", "expected an object, got str"),
    ({"kind": "pod-to-pod", "to": {"node": "w1"}}, "from must be an object, got None"),
    ({"kind": "pod-to-pod", "from": {"node": ""}, "to": {"node": "w1"}}, "from.node must be a non-empty string"),
    ({"kind": "teleport", "from": {"node": "w1"}, "to": {}}, "unknown kind 'teleport'"),
    ({"kind": "pod-to-pod", "from": {"node": "w1"}, "to": {"node": "w2"}, "sent": "3"}, "sent must be a number"),
    ({"kind": "pod-to-dns", "from": {"node": "w1"}, "to": {"server": "10.43.0.10"}}, "to.name must be a non-empty"),
])
def test_malformed_entries_are_located_errors_and_the_rest_is_read(tmp_path: Path, entry: Any,
                                                                      message: str) -> None:
    base = _facts(_snapshot(tmp_path, [*_mesh(["w1", "w2"]), entry]))
    [error] = base.errors
    assert error.target == "probes/mesh.json" and error.message.startswith("probes[4]: ") and message in error.message
    assert len(_kind(base, "probe_node")) == 2


def test_malformed_json_is_located_by_line(tmp_path: Path) -> None:
    base = _facts(_snapshot(tmp_path, raw='{"probes": [\n  {"kind": "pod-to-pod",}\n]}'))
    [error] = base.errors
    assert error.target == "probes/mesh.json" and error.message.startswith("line 2, column")


def test_served_chain_compared_with_the_secret(tmp_path: Path) -> None:
    secret_cert, _ = synth.certificate("shop.example.com", ["shop.example.com"], "2026-10-01T00:00:00Z",
                                       "2027-01-01T00:00:00Z", issuer="R11")
    fake, _ = synth.certificate("Kubernetes Ingress Controller Fake Certificate", ["ingress.local"],
                                "2026-10-01T00:00:00Z", "2027-10-01T00:00:00Z")
    api = {"secrets": [synth.tls_secret("shop", "shop-tls", secret_cert)],
           "ingresses": [synth.ingress("shop", "storefront", class_name="nginx",
                                       rules=[("shop.example.com", "/", "web", 80),
                                              ("api.example.com", "/", "api", 80)],
                                       tls=[("shop-tls", ["shop.example.com", "api.example.com"])])]}
    base = _facts(_snapshot(tmp_path, tls={"shop.example.com_443.pem": secret_cert,
                                           "api.example.com_8443.pem": fake,
                                           "bad_443.pem": b"not a certificate", "noport.pem": secret_cert},
                            api=api))
    served = {f["host"]: f for f in _kind(base, "served_certificate")}
    assert served["shop.example.com"]["matches_secret"] and not served["shop.example.com"]["fake_default"]
    api_cert = served["api.example.com"]
    assert (api_cert["port"], api_cert["fake_default"], api_cert["matches_secret"], api_cert["secret_name"]) == \
        (8443, True, False, "shop-tls")
    assert {e.target for e in base.errors} == {"probes/tls/bad_443.pem", "probes/tls/noport.pem"}


def test_a_probed_healthy_cluster_gives_zero_findings_and_a_broken_one_is_ranked(tmp_path: Path) -> None:
    nodes = ["w1", "w2", "w3"]
    healthy = _snapshot(tmp_path / "ok", _mesh(nodes))
    assert NOW is not None
    report = triage(SnapshotBundle(healthy), KNOWLEDGE, NOW)
    assert report.findings == []
    assert {f"NET-PROBE-00{i}" for i in (1, 2, 3, 4, 5, 6, 8, 9)} <= set(report.rules_evaluated)
    assert {"rule_id": "NET-PROBE-007", "missing": ["probes/tls"]} in report.not_evaluated  # probed, partly
    broken = _snapshot(tmp_path / "broken", _mesh(nodes, _pairs(("w2", "w1"), ("w2", "w3"))))
    [finding] = triage(SnapshotBundle(broken), KNOWLEDGE, NOW).findings
    assert (finding.rule_id, finding.subjects, finding.root_cause) == ("NET-PROBE-001", ["Node/w2"], True)
