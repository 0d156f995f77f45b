"""Node-side probes over SSH (``--ssh --probe``): a real VXLAN data plane in network namespaces
is broken three ways (node-1 lost its route to node-3's pods, node-2's firewall drops UDP 8472,
node-3's underlay MTU fell to 1400); what ``ip -j``, ``iptables -S`` and ``ping`` really print
there is recorded, replayed by the fake nodes of the real sshd fixture, read by the SSH
collector, written as a snapshot and triaged: each node's fault is named as root cause and the
failing node-to-pod pairs are its symptoms."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.collectors.ssh import SshNodeBundle, SshSettings, SshTarget
from kubetriage.collectors.writer import write_snapshot
from kubetriage.knowledge import Knowledge
from kubetriage.triage import resolve_now, triage
from tests.support import synth

from .netns import lab as data_plane
from .netns import run
from .sshd import NodeRoot, Sshd, chroot_base, keygen

pytestmark = [pytest.mark.netns, pytest.mark.sshd]
NODES = ("node-1", "node-2", "node-3")
IP = """#!/bin/sh
case "$*" in
  "-j addr show") cat /fixture/net/addr.json;;
  "-j route show") cat /fixture/net/route.json;;
  "-j -d link show") cat /fixture/net/link.json;;
  *) echo "ip: not recorded: $*" >&2; exit 2;;
esac
"""
IPTABLES = "#!/bin/sh\ncat /fixture/net/iptables.txt\n"
PING = """#!/bin/sh
for last; do :; done
cat "/fixture/ping/$last.out"; cat "/fixture/ping/$last.err" >&2; exit "$(cat "/fixture/ping/$last.rc")"
"""


def _record() -> dict[str, dict[str, str]]:
    """Break the data plane, record what each node prints, repair it."""
    with data_plane(3) as plane:
        run("ip", "route", "del", "10.244.3.0/24", ns=plane.node(1))
        run("iptables", "-A", "INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP", ns=plane.node(2))
        run("ip", "link", "set", "eth0", "mtu", "1400", ns=plane.node(3))
        files: dict[str, dict[str, str]] = {}
        for i in (1, 2, 3):
            ns = plane.node(i)
            recorded = {f"/fixture/net/{name}": run(*argv, ns=ns).stdout for name, argv in (
                ("addr.json", ("ip", "-j", "addr", "show")), ("route.json", ("ip", "-j", "route", "show")),
                ("link.json", ("ip", "-j", "-d", "link", "show")), ("iptables.txt", ("iptables", "-S")))}
            for j in (1, 2, 3):
                if j != i:
                    done = run("ping", "-c", "3", "-W", "2", plane.pod_ip(j), ns=ns, check=False)
                    base = f"/fixture/ping/{plane.pod_ip(j)}"
                    recorded |= {f"{base}.out": done.stdout, f"{base}.err": done.stderr,
                                 f"{base}.rc": str(done.returncode)}
            files[f"node-{i}"] = recorded
        return files


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[dict[str, Sshd], Path, Path]]:
    recorded = _record()
    base = chroot_base()
    key = base / "user_key"
    public = keygen(key)
    servers: dict[str, Sshd] = {}
    try:
        for node in NODES:
            root = NodeRoot(base / "roots" / node, files=recorded[node],
                            scripts={"/usr/sbin/ip": IP, "/usr/sbin/iptables": IPTABLES, "/bin/ping": PING})
            servers[node] = Sshd(base / "sshd" / node, public, chroot=root.build()).start()
        known = base / "known_hosts"
        known.write_text("".join(s.known_hosts_line() + "\n" for s in servers.values()))
        yield servers, key, known
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _cluster(root: Path) -> SnapshotBundle:
    """The API side: three flannel nodes with their podCIDRs and one running pod each."""
    api = {"nodes": [synth.node(n, f"192.168.77.{10 + i}", f"10.244.{i}.0/24") for i, n in enumerate(NODES, 1)],
           "pods": [synth.pod("shop", f"web-{i}", n, ip=f"10.244.{i}.2") for i, n in enumerate(NODES, 1)],
           "daemonsets": [synth.daemonset("kube-flannel", "kube-flannel-ds", "docker.io/flannel/flannel:v0.25.6",
                                          desired=3, ready=3)]}
    for plural, items in api.items():
        synth.write_list(root / "api" / f"{plural}.json", items)
    (root / "snapshot.yaml").write_text("format: kubetriage/v1\ncluster: lab\ncollected_at: 2026-11-25T10:32:00Z\n")
    return SnapshotBundle(root)


def test_node_side_probes_name_each_nodes_fault(nodes: tuple[dict[str, Sshd], Path, Path], tmp_path: Path) -> None:
    servers, key, known = nodes
    settings = SshSettings(user="root", key_file=str(key), known_hosts=known, ssh_config=None, connect_timeout=30.0,
                           command_timeout=60.0, distro="kubeadm", probe=True)
    targets = [SshTarget(n, "127.0.0.1", s.port) for n, s in servers.items()]
    bundle = SshNodeBundle(_cluster(tmp_path / "api-side"), settings, targets)
    out = tmp_path / "snap"
    write_snapshot(bundle, out)
    assert [e for e in bundle.errors if e.target.startswith("probes/")] == []
    assert sorted(p.name for p in (out / "probes" / "nodes" / "node-2").iterdir()) == [
        "addr.json", "iptables.txt", "link.json", "route.json"]
    assert (out / "probes" / "nodes" / "node-2" / "iptables.txt").read_text() == \
        "-A INPUT -p udp -m udp --dport 8472 -j DROP\n"  # only the rules that name an overlay transport
    pings = json.loads((out / "probes" / "mesh.json").read_text())["probes"]
    assert {(e["from"]["node"], e["to"]["node"]) for e in pings} == {(a, b) for a in NODES for b in NODES if a != b}
    unreachable = next(e for e in pings if (e["from"]["node"], e["to"]["node"]) == ("node-1", "node-3"))
    assert unreachable["error"] == "connect: Network is unreachable" and unreachable["kind"] == "node-to-pod"

    snapshot = SnapshotBundle(out)
    report = triage(snapshot, Knowledge.load(), resolve_now(snapshot, None))
    roots = {(f.rule_id, tuple(f.subjects)) for f in report.findings if f.root_cause}
    assert roots == {("NET-NODE-004", ("Node/node-1",)), ("NET-NODE-006", ("Node/node-2",)),
                     ("NET-NODE-005", ("Node/node-3",))}
    mtu = next(f for f in report.findings if f.rule_id == "NET-NODE-005")
    assert "flannel.1 (vxlan) has MTU 1450" in mtu.summary and "eth0 carries 1400" in mtu.summary
    route = next(f for f in report.findings if f.rule_id == "NET-NODE-004")
    assert "no route for 10.244.3.0/24 (node-3)" in " ".join(route.evidence)
    symptoms = [f for f in report.findings if not f.root_cause]
    assert symptoms and {f.rule_id for f in symptoms} == {"NET-PROBE-002"}
