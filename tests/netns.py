"""A small data plane in Linux network namespaces: nodes on a veth underlay, a flannel-style
VXLAN overlay (UDP 8472, one /24 per node, routes via flannel.1), one pod per node.

Root only. Every namespace carries a per-process tag and is deleted on exit, also after a
failed setup; leftovers of a killed run with the same tag are removed first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def run(*argv: str, ns: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run([*prefix, *argv], check=check, capture_output=True, text=True, timeout=60)


@dataclass
class Lab:
    """The namespaces of one data plane; see the module docstring."""

    size: int
    tag: str = field(default_factory=lambda: f"kt{os.getpid() % 100000}")
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def node(self, i: int) -> str:
        return f"{self.tag}-n{i}"

    def pod(self, i: int) -> str:
        return f"{self.tag}-p{i}"

    @staticmethod
    def node_ip(i: int) -> str:
        return f"192.168.77.{10 + i}"

    @staticmethod
    def pod_ip(i: int) -> str:
        return f"10.244.{i}.2"

    @property
    def underlay(self) -> str:
        return f"{self.tag}-ul"

    def namespaces(self) -> list[str]:
        listed = run("ip", "netns", "list").stdout.split()
        return [n for n in listed if n.startswith(f"{self.tag}-")]

    def build(self, mtu: int = 1450) -> None:
        self.destroy()
        run("ip", "netns", "add", self.underlay)
        run("ip", "link", "add", "br0", "type", "bridge", ns=self.underlay)
        run("ip", "link", "set", "br0", "up", ns=self.underlay)
        for i in range(1, self.size + 1):
            node, pod = self.node(i), self.pod(i)
            run("ip", "netns", "add", node)
            run("ip", "netns", "add", pod)
            run("ip", "link", "add", f"u{i}", "netns", self.underlay, "type", "veth", "peer", "name", "eth0",
                "netns", node)
            run("ip", "link", "set", f"u{i}", "master", "br0", "up", ns=self.underlay)
            for cmd in (["ip", "link", "set", "lo", "up"],
                        ["ip", "addr", "add", f"{self.node_ip(i)}/24", "dev", "eth0"],
                        ["ip", "link", "set", "eth0", "up"], ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                        ["ip", "link", "add", "cni0", "type", "bridge"],
                        ["ip", "addr", "add", f"10.244.{i}.1/24", "dev", "cni0"],
                        ["ip", "link", "set", "cni0", "mtu", str(mtu), "up"],
                        ["ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "dstport", "8472", "local",
                         self.node_ip(i), "dev", "eth0", "nolearning", "df", "set"],
                        ["ip", "link", "set", "flannel.1", "address", self.mac(i), "mtu", str(mtu), "up"],
                        ["ip", "addr", "add", f"10.244.{i}.0/32", "dev", "flannel.1"]):
                run(*cmd, ns=node)
            run("ip", "link", "add", "veth0", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", pod)
            run("ip", "link", "set", "veth0", "master", "cni0", "mtu", str(mtu), "up", ns=node)
            for cmd in (["ip", "link", "set", "lo", "up"],
                        ["ip", "addr", "add", f"{self.pod_ip(i)}/24", "dev", "eth0"],
                        ["ip", "link", "set", "eth0", "mtu", str(mtu), "up"],
                        ["ip", "route", "add", "default", "via", f"10.244.{i}.1"]):
                run(*cmd, ns=pod)
        for i in range(1, self.size + 1):
            for j in range(1, self.size + 1):
                if i != j:
                    self.add_route(i, j)

    @staticmethod
    def mac(i: int) -> str:
        return f"02:00:00:00:00:{i:02x}"

    def add_route(self, i: int, j: int) -> None:
        """flannel's three entries on node i for node j's pod range."""
        node = self.node(i)
        run("ip", "route", "replace", f"10.244.{j}.0/24", "via", f"10.244.{j}.0", "dev", "flannel.1", "onlink",
            ns=node)
        run("ip", "neigh", "replace", f"10.244.{j}.0", "lladdr", self.mac(j), "dev", "flannel.1", "nud",
            "permanent", ns=node)
        run("bridge", "fdb", "append", self.mac(j), "dev", "flannel.1", "dst", self.node_ip(j), ns=node)

    def serve(self, ns: str, code: str) -> None:
        """Run a small Python server in a namespace until the lab is destroyed."""
        self.processes.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                                               stdout=subprocess.PIPE, text=True))
        assert self.processes[-1].stdout is not None
        assert self.processes[-1].stdout.readline().strip() == "ready"

    def resolver(self, ns: str, server: str) -> None:
        """The namespace's /etc/resolv.conf (``ip netns exec`` mounts /etc/netns/NS/ over /etc)."""
        directory = Path("/etc/netns") / ns
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "resolv.conf").write_text(f"nameserver {server}\noptions timeout:1 attempts:1\n")

    def agents(self, args: Sequence[str], nodes: Sequence[int] | None = None) -> list[str]:
        """Run the probe agent in each pod namespace at once; their JSON lines."""
        running = []
        for i in nodes or range(1, self.size + 1):
            peers = [f"--peer=node-{j}={self.pod_ip(j)}" for j in range(1, self.size + 1) if j != i]
            running.append(subprocess.Popen(
                ["ip", "netns", "exec", self.pod(i), sys.executable, "-m", "kubetriage.probe.agent",
                 f"--node=node-{i}", f"--pod=kubetriage-probe/probe-{i}", *peers, *args],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        lines = []
        for proc in running:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            lines += out.splitlines()
        return lines

    def destroy(self) -> None:
        for proc in self.processes:
            proc.kill()
            proc.wait()
        self.processes.clear()
        for ns in self.namespaces():
            run("ip", "netns", "pids", ns, check=False)
            run("ip", "netns", "del", ns, check=False)
        for directory in Path("/etc/netns").glob(f"{self.tag}-*"):
            shutil.rmtree(directory)


def dns_server(ip: str, answer: str) -> str:
    """Python source of a minimal authoritative DNS responder on ``ip``:53: one A record,
    ``answer``, for every question (and none for AAAA, as CoreDNS for a Service)."""
    return f"""
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("{ip}", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    end = q.index(b"\\0", 12) + 5
    a = q[end - 4:end - 2] == b"\\x00\\x01"
    answer = b"\\xc0\\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton("{answer}") if a else b""
    s.sendto(q[:2] + b"\\x81\\x80" + q[4:6] + (b"\\x00\\x01" if a else b"\\x00\\x00") + b"\\x00\\x00\\x00\\x00"
             + q[12:end] + answer, peer)
"""


@contextmanager
def lab(size: int) -> Iterator[Lab]:
    built = Lab(size)
    try:
        built.build()
        yield built
    finally:
        built.destroy()
        assert not built.namespaces()


def write_mesh(lines: Sequence[str], root: Path) -> Path:
    """A snapshot holding the agents' lines as probes/mesh.json (what the collector writes)."""
    import json

    from tests.support import synth

    (root / "probes").mkdir(parents=True)
    entries = [json.loads(line) for line in lines]
    (root / "probes" / "mesh.json").write_text(json.dumps(
        {"started_at": "2026-11-25T10:31:00Z", "probes": [e for e in entries if e["kind"] != "done"]}))
    synth.write_list(root / "api" / "daemonsets.json", [synth.daemonset(
        "kube-flannel", "kube-flannel-ds", "docker.io/flannel/flannel:v0.25.6", desired=3, ready=3)])
    (root / "snapshot.yaml").write_text("format: kubetriage/v1\ncluster: netns-lab\n"
                                        "collected_at: 2026-11-25T10:32:00Z\n")
    return root
