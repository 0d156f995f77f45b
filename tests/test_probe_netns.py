"""The probe agent on a real data plane (network namespaces, VXLAN on UDP 8472), end to end:
agent JSON lines -> probes/mesh.json -> triage -> the fault named and ranked as root cause."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage

from .netns import Lab, dns_server, lab, run, write_mesh

pytestmark = pytest.mark.netns
KNOWLEDGE = Knowledge.load()
API = "192.168.77.11"  # the "API server" listens on node-1's underlay address, like a real control plane
VIP, DNS = "10.96.0.1", "10.244.1.2"  # DNS is answered by the pod on node-1 (CoreDNS' place)
DNS_NAME = "kubernetes.default.svc.cluster.local"

_API_SERVER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("{API}", 6443)); s.listen(64)
print("ready", flush=True)
while True:
    s.accept()[0].close()
"""
ARGS = ["--count=2", "--timeout=3", f"--service=default/kubernetes={VIP}:443",
        f"--endpoint=default/kubernetes={API}:6443", f"--dns-server={DNS}", f"--dns-name={DNS_NAME}"]


@pytest.fixture(scope="module")
def plane() -> Iterator[Lab]:
    with lab(3) as built:
        for i in (1, 2, 3):  # kube-proxy's part: the ClusterIP DNATed to the endpoint on every node
            run("iptables", "-t", "nat", "-A", "PREROUTING", "-d", VIP, "-p", "tcp", "--dport", "443", "-j", "DNAT",
                "--to-destination", f"{API}:6443", ns=built.node(i))
        built.serve(built.node(1), _API_SERVER)
        built.serve(built.pod(1), dns_server(DNS, VIP))
        yield built


def _entries(lines: list[str]) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, lines) if e["kind"] != "done"]


@contextmanager
def _dropped(ns: str, *rule: str) -> Iterator[None]:
    """An iptables rule inserted in ``ns`` for the duration of the block."""
    run("iptables", "-I", *rule, ns=ns)
    try:
        yield
    finally:
        run("iptables", "-D", *rule, ns=ns)


def _triage(plane: Lab, tmp_path: Path) -> list[tuple[str, bool, list[str]]]:
    bundle = SnapshotBundle(write_mesh(plane.agents(ARGS), tmp_path / "snap"))
    report = triage(bundle, KNOWLEDGE, resolve_now(bundle, None))
    return [(f.rule_id, f.root_cause, f.subjects) for f in report.findings]


def test_healthy_plane_reports_every_probe_good_and_no_finding(plane: Lab, tmp_path: Path) -> None:
    lines = plane.agents(ARGS)
    entries = _entries(lines)
    assert len(entries) == 3 * (2 * 2 + 2 + 1)  # per pod: 2 peers x (small, large), VIP + endpoint, DNS
    assert all(not e["error"] for e in entries), [e for e in entries if e["error"]]
    pings = [e for e in entries if e["kind"] == "pod-to-pod"]
    assert {(e["size"], e["dont_fragment"]) for e in pings} == {(56, False), (1422, True)}
    assert all(e["from"]["mtu"] == 1450 and e["from"]["ip"] == plane.pod_ip(int(e["from"]["node"][-1]))
               for e in entries)
    bundle = SnapshotBundle(write_mesh(lines, tmp_path / "snap"))
    assert triage(bundle, KNOWLEDGE, resolve_now(bundle, None)).findings == []


def test_vxlan_port_dropped_on_one_node_isolates_it_and_explains_its_symptoms(plane: Lab, tmp_path: Path) -> None:
    with _dropped(plane.node(2), "INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"):
        findings = _triage(plane, tmp_path)
    root, *symptoms = findings
    assert root == ("NET-PROBE-001", True, ["Node/node-2"])
    # DNS (answered on node-1) and the VIP (DNAT to node-1's address, reply over the overlay) fail from node-2
    assert {(r, c) for r, c, _ in symptoms} == {("NET-PROBE-004", False), ("NET-PROBE-005", False)}


def test_underlay_mtu_too_small_on_one_node_is_an_mtu_finding(plane: Lab, tmp_path: Path) -> None:
    run("ip", "link", "set", "eth0", "mtu", "1400", ns=plane.node(3))
    try:
        lines = plane.agents(ARGS)
    finally:
        run("ip", "link", "set", "eth0", "mtu", "1500", ns=plane.node(3))
    failed = {(e["from"]["node"], e["to"]["node"], e["size"]) for e in _entries(lines)
              if e["kind"] == "pod-to-pod" and e["received"] == 0}
    assert failed and all(size == 1422 and "node-3" in (a, b) for a, b, size in failed)
    bundle = SnapshotBundle(write_mesh(lines, tmp_path / "snap"))
    [finding] = triage(bundle, KNOWLEDGE, resolve_now(bundle, None)).findings
    assert (finding.rule_id, finding.subjects) == ("NET-PROBE-003", ["Node/node-3"])


def test_a_missing_route_on_one_node_cuts_one_pair(plane: Lab, tmp_path: Path) -> None:
    run("ip", "route", "del", "10.244.3.0/24", ns=plane.node(1))
    try:
        findings = _triage(plane, tmp_path)
    finally:
        plane.add_route(1, 3)
    root, *symptoms = findings
    assert root == ("NET-PROBE-002", True, ["Node/node-1", "Node/node-3"])
    # node-1 cannot answer node-3's pod: the VIP (DNAT to node-1) and DNS fail from node-3, explained
    assert {(r, c, tuple(s)) for r, c, s in symptoms} <= {
        ("NET-PROBE-004", False, ("Node/node-3", "Service/default/kubernetes")),
        ("NET-PROBE-005", False, ("Node/node-3",))}


def test_dns_unreachable_from_one_node(plane: Lab, tmp_path: Path) -> None:
    with _dropped(plane.node(3), "FORWARD", "-p", "udp", "--dport", "53", "-j", "DROP"):
        findings = _triage(plane, tmp_path)
    assert findings == [("NET-PROBE-005", True, ["Node/node-3"])]


def test_stale_service_rules_on_one_node(plane: Lab, tmp_path: Path) -> None:
    rule = ["PREROUTING", "-d", VIP, "-p", "tcp", "--dport", "443", "-j", "DNAT", "--to-destination", f"{API}:6443"]
    run("iptables", "-t", "nat", "-D", *rule, ns=plane.node(2))
    try:
        findings = _triage(plane, tmp_path)
    finally:
        run("iptables", "-t", "nat", "-A", *rule, ns=plane.node(2))
    assert findings == [("NET-PROBE-004", True, ["Node/node-2", "Service/default/kubernetes"])]
