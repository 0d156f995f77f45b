"""Exec probes end to end: `kubetriage probe --from POD --to ...` through the real kubernetes
client's pods/exec websocket to the API-server fixture, which runs the argv for real inside the
pod's network namespace of a VXLAN data plane: iputils ping/traceroute, BIND nslookup and
iproute2 for a Debian-like image, busybox for a busybox image, and an ephemeral debug container
(busybox) for an image without tools. The output is parsed, written as probes/mesh.json and
triaged with the same rules as the mesh probe."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.execprobe import nslookup_argv, ping_argv, traceroute_argv
from kubetriage.errors import KubetriageError
from kubetriage.probe.plan import ExecSettings
from tests.support import synth

from .apiserver import FakeApiServer
from .conftest import Run, triage_json
from .netns import Lab, dns_server, lab, run

pytestmark = pytest.mark.netns
NOW = "2026-11-25T10:32:00Z"
#: pod name -> (lab index, image); web-3's image has no tools (a distroless application)
PODS = {"web-1": (1, "debian:12"), "web-2": (2, "busybox:1.36"), "web-3": (3, "gcr.io/distroless/static")}
DNS_VIP = "10.96.0.53"
WEB_VIP = "10.96.0.80"
# containerd's answer when the binary is not in the image: https://github.com/nigelpoulton/TheK8sBook/issues/30
MISSING = ('failed to exec in container: failed to start exec "fc7ef1a745ff": OCI runtime exec failed: exec failed: '
           'unable to start container process: exec: "{0}": executable file not found in $PATH: unknown')


class Kubelet:
    """Plays the kubelet for the fixture: exec runs the argv in the pod's namespace, an added
    ephemeral container starts."""

    def __init__(self, server: FakeApiServer, plane: Lab) -> None:
        self.server, self.plane, self.ran = server, plane, list[tuple[str, str, list[str]]]()
        server.on_exec, server.on_write = self.exec, self.write

    def exec(self, ns: str, pod: str, container: str, argv: list[str]) -> tuple[bytes, bytes, int | str]:
        self.ran.append((pod, container, argv))
        index, image = PODS[pod]
        debug = container.startswith("kubetriage-debug-")
        if "distroless" in image and not debug:
            return b"", b"", MISSING.format(argv[0])
        prefix = ["busybox"] if debug or image.startswith("busybox") else []
        done = subprocess.run(["ip", "netns", "exec", self.plane.pod(index), *prefix, *argv],
                              capture_output=True, timeout=120, check=False)
        return done.stdout, done.stderr, done.returncode

    def write(self, verb: str, plural: str, obj: dict[str, Any]) -> None:
        status = obj.get("status") or {}
        added = [c["name"] for c in obj["spec"].get("ephemeralContainers") or []] if plural == "pods" else []
        if verb == "put" and len(status.get("ephemeralContainerStatuses") or []) < len(added):
            status["ephemeralContainerStatuses"] = [{"name": n, "state": {"running": {"startedAt": NOW}}}
                                                    for n in added]
            self.server.write("put", "pods", obj["metadata"]["namespace"], obj["metadata"]["name"], obj)


@pytest.fixture(scope="module")
def plane() -> Iterator[Lab]:
    with lab(3) as built:
        built.serve(built.pod(1), dns_server(built.pod_ip(1), WEB_VIP))  # CoreDNS' place: on node-1
        for i in (1, 2, 3):
            built.resolver(built.pod(i), built.pod_ip(1))
        yield built


@pytest.fixture
def kubelet(plane: Lab, tmp_path: Path) -> Iterator[Kubelet]:
    data = tmp_path / "cluster"
    pods = [synth.pod("shop", name, f"node-{i}", image=image, ip=plane.pod_ip(i), labels={"app": "web"})
            for name, (i, image) in PODS.items()]
    pods.append(synth.pod("kube-flannel", "kube-flannel-ds-abcde", "node-1", ip=plane.node_ip(1),
                          owner=("DaemonSet", "kube-flannel-ds"), image="docker.io/flannel/flannel:v0.25.6",
                          host_network=True))
    slices = [synth.endpointslice("shop", "web", [("web-2", plane.pod_ip(2), True), ("web-3", plane.pod_ip(3), True)],
                                  80)]
    for endpoint, node in zip(slices[0]["endpoints"], ("node-2", "node-3"), strict=True):
        endpoint["nodeName"] = node
    lists = {"pods": pods, "endpointslices": slices,
             "services": [synth.service("shop", "web", {"app": "web"}, ports=[{"port": 80}], cluster_ip=WEB_VIP)],
             "daemonsets": [synth.daemonset("kube-flannel", "kube-flannel-ds", "docker.io/flannel/flannel:v0.25.6",
                                            desired=3, ready=3)],
             "nodes": [synth.node(f"node-{i}", plane.node_ip(i), f"10.244.{i}.0/24") for i in (1, 2, 3)]}
    for plural, items in lists.items():
        synth.write_list(data / "api" / f"{plural}.json", items)
    server = FakeApiServer(data).start(tmp_path)
    yield Kubelet(server, plane)
    server.stop()


def _probe(kubetriage: Run, kubelet: Kubelet, tmp_path: Path, source: str, *targets: str) -> Path:
    """collect, then the exec probe into the same snapshot (the documented workflow)."""
    tmp_path.mkdir(exist_ok=True)
    kubeconfig = kubelet.server.kubeconfig(tmp_path / "kubeconfig")
    snap = tmp_path / "snap"
    if not snap.exists():
        collected = kubetriage("collect", "-o", snap, "--kubeconfig", kubeconfig)
        assert collected.returncode == 0, collected.stderr
    done = kubetriage("probe", "--from", source, *(a for t in targets for a in ("--to", t)), "-o", snap,
                      "--kubeconfig", kubeconfig)
    assert done.returncode == 0, done.stderr
    return snap


def _entries(snap: Path) -> list[dict[str, Any]]:
    return list(json.loads((snap / "probes" / "mesh.json").read_text())["probes"])


def _findings(kubetriage: Run, snap: Path) -> list[tuple[str, bool, list[str]]]:
    report = triage_json(kubetriage, snap, "--now", NOW)
    return [(f["rule_id"], f["root_cause"], f["subjects"]) for f in report["findings"]]


def test_healthy_paths_from_an_iputils_pod(kubetriage: Run, kubelet: Kubelet, tmp_path: Path) -> None:
    snap = _probe(kubetriage, kubelet, tmp_path, "shop/web-1", "shop/web-2", "svc/shop/web")
    entries = _entries(snap)
    kinds = [(e["kind"], e["to"].get("pod") or e["to"].get("name")) for e in entries]
    assert kinds == [("pod-to-pod", "shop/web-2"), ("mtu", "shop/web-2"), ("pod-to-dns", "web.shop.svc.cluster.local"),
                     ("pod-to-pod", "shop/web-2"), ("mtu", "shop/web-2"), ("pod-to-pod", "shop/web-3"),
                     ("mtu", "shop/web-3")]
    assert all(e["error"] is None for e in entries), entries
    ping, large, lookup = entries[:3]
    assert (ping["tool"], ping["sent"], ping["received"], ping["from"]["mtu"]) == ("ping (iputils)", 3, 3, 1450)
    assert (large["size"], large["dont_fragment"]) == (1422, True)
    assert (lookup["answers"], lookup["to"]["server"]) == ([WEB_VIP], kubelet.plane.pod_ip(1))
    assert {c for _, c, _ in kubelet.ran} == {"web-1"}  # the pod's own container; nothing added
    assert _findings(kubetriage, snap) == []


def test_vxlan_dropped_on_one_node_names_it_from_one_pod(kubetriage: Run, kubelet: Kubelet, tmp_path: Path) -> None:
    rule = ["INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP"]
    run("iptables", "-A", *rule, ns=kubelet.plane.node(2))
    try:
        snap = _probe(kubetriage, kubelet, tmp_path, "shop/web-1", "shop/web-2", "10.244.3.2")
    finally:
        run("iptables", "-D", *rule, ns=kubelet.plane.node(2))
    failed = [e for e in _entries(snap) if e["error"]]
    assert [(e["kind"], e["to"]["node"], e["received"]) for e in failed] == [("pod-to-pod", "node-2", 0)]
    trace = failed[0]["traceroute"]  # the guide's next step: where does the path stop?
    assert trace["hops"][0] == ["10.244.1.1"] and not trace["reached"] and trace["last_answer"] == "10.244.1.1"
    root, *_ = _findings(kubetriage, snap)
    assert root == ("NET-PROBE-001", True, ["Node/node-2"])
    runbook = kubetriage("runbook", "--snapshot", snap, "--now", NOW)
    assert "8472" in runbook.stdout and "node-2" in runbook.stdout


def test_busybox_pod_and_a_tunnel_mtu_too_large(kubetriage: Run, kubelet: Kubelet, tmp_path: Path) -> None:
    run("ip", "link", "set", "eth0", "mtu", "1400", ns=kubelet.plane.node(3))
    try:
        snap = _probe(kubetriage, kubelet, tmp_path, "shop/web-2", "shop/web-1", "svc/shop/web")
        iputils = _probe(kubetriage, kubelet, tmp_path / "b", "shop/web-1", "shop/web-2", "shop/web-3")
    finally:
        run("ip", "link", "set", "eth0", "mtu", "1500", ns=kubelet.plane.node(3))
    entries = _entries(snap)
    assert {e["tool"] for e in entries if e["kind"] == "pod-to-pod"} == {"ping (busybox)"}
    assert "mtu" not in {e["kind"] for e in entries}  # busybox ping cannot set don't-fragment
    assert next(e for e in entries if e["kind"] == "pod-to-dns")["answers"] == [WEB_VIP]
    large = [e for e in _entries(iputils) if e["kind"] == "mtu"]
    assert [(e["to"]["node"], bool(e["error"])) for e in large] == [("node-2", False), ("node-3", True)]
    assert _findings(kubetriage, iputils)[0][:2] == ("NET-PROBE-003", True)


def test_a_pod_without_tools_gets_a_debug_container(kubetriage: Run, kubelet: Kubelet, tmp_path: Path) -> None:
    snap = _probe(kubetriage, kubelet, tmp_path, "shop/web-3", "shop/web-1")
    [ping] = [e for e in _entries(snap) if e["kind"] == "pod-to-pod"]
    assert (ping["tool"], ping["received"], ping["from"]["mtu"]) == ("ping (busybox)", 3, 1450)
    assert [c for p, c, _ in kubelet.ran] == ["web-3", "kubetriage-debug-1", "kubetriage-debug-1"]
    changed = [(r.verb, r.resource, r.subresource) for r in kubelet.server.requests if r.verb in ("put", "post")]
    assert changed == [("put", "pods", "ephemeralcontainers")]
    again = _probe(kubetriage, kubelet, tmp_path, "shop/web-3", "shop/web-2")  # the running one is reused
    assert [c for p, c, _ in kubelet.ran][-1] == "kubetriage-debug-1" and len(_entries(again)) == 2
    assert [r.subresource for r in kubelet.server.requests if r.verb == "put"] == ["ephemeralcontainers"]


@pytest.mark.parametrize("target", ["-c", "--help", "a b", "x\x1b[2J"])
def test_cluster_values_never_become_options_or_shell(target: str) -> None:
    for build in (lambda t: ping_argv(t, ExecSettings()), traceroute_argv, nslookup_argv):
        with pytest.raises(KubetriageError, match="refusing"):
            build(target)
    assert ping_argv("10.244.2.2", ExecSettings(), 1422) == ["ping", "-c", "3", "-W", "2", "-M", "do", "-s", "1422",
                                                             "10.244.2.2"]
