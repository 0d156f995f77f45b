"""Write a synthetic snapshot of a given size, streaming (a 150k-pod pods.json never sits in memory).

Healthy objects plus injected faults: a CNI DaemonSet short of ready pods with pods
stuck on its broken nodes, Ingress backends pointing at missing Services, an expired
certificate, a pending LoadBalancer and a node out of pod IPs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support import synth

COLLECTED_AT = "2026-11-25T10:32:00Z"


@dataclass(frozen=True)
class Size:
    name: str
    nodes: int
    pods: int
    services: int
    ingresses: int


SIZES = {
    "small": Size("small", 100, 3_000, 300, 60),
    "medium": Size("medium", 1_000, 30_000, 2_000, 400),
    "large": Size("large", 5_000, 150_000, 10_000, 2_000),
}


def _write_stream(path: Path, items: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write('{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [\n')
        for i, item in enumerate(items):
            f.write((",\n" if i else "") + json.dumps(item))
        f.write("\n]}\n")


def _cidr(i: int) -> str:
    return f"10.{64 + i // 256}.{i % 256}.0/24"


def _pod_ip(node: int, slot: int) -> str:
    return f"10.{64 + node // 256}.{node % 256}.{slot + 2}"


def generate(size: Size, root: Path) -> None:
    broken_nodes = {3, 7}  # CNI agent not ready: pods there stuck in ContainerCreating
    full_node = 11  # every IP of its podCIDR in use
    api = root / "api"
    _write_stream(api / "nodes.json", (
        synth.node(f"node-{i:05d}", f"10.0.{i // 250}.{i % 250 + 1}", _cidr(i), distro="kubeadm")
        for i in range(size.nodes)))

    def pods() -> Iterable[dict[str, Any]]:
        per_node = max(size.pods // size.nodes, 1)
        for n in range(size.nodes):
            node = f"node-{n:05d}"
            sick = n in broken_nodes
            yield synth.pod("kube-system", f"calico-node-{n:05d}", node, labels={"k8s-app": "calico-node"},
                            owner=("DaemonSet", "calico-node"), image="calico/node:v3.28.1",
                            ip=f"10.0.{n // 250}.{n % 250 + 1}", host_network=True, ready=not sick,
                            restarts=9 if sick else 0,
                            waiting=("CrashLoopBackOff", "") if sick else None, bulky=True)
            count = 253 if n == full_node else per_node - 1
            for slot in range(count):
                app = f"app-{(n * per_node + slot) % size.services:05d}"
                yield synth.pod("apps", f"{app}-{n:05d}-{slot:03d}",
                                node, labels={"app": app}, owner=("ReplicaSet", f"{app}-5d8f"),
                                image=f"registry.example.com/{app}:1.0",
                                ip="" if sick else _pod_ip(n, slot), phase="Pending" if sick else "Running",
                                ready=not sick, waiting=("ContainerCreating", "") if sick else None,
                                bulky=True)

    _write_stream(api / "pods.json", pods())
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    services = [synth.service("apps", f"app-{i:05d}", {"app": f"app-{i:05d}"}, ports=ports,
                              cluster_ip=f"10.96.{i // 250}.{i % 250 + 1}") for i in range(size.services)]
    services.append(synth.service("apps", "edge", {"app": "app-00000"}, ports=ports, type_="LoadBalancer"))
    _write_stream(api / "services.json", services)
    _write_stream(api / "endpointslices.json", (
        synth.endpointslice("apps", f"app-{i:05d}", [(f"p{i}", f"10.200.{i // 250}.{i % 250}", True)], 8080)
        for i in range(size.services)))
    _write_stream(api / "daemonsets.json", [
        synth.daemonset("kube-system", "calico-node", "calico/node:v3.28.1", desired=size.nodes,
                        ready=size.nodes - len(broken_nodes)),
        synth.daemonset("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.30.6",
                        desired=size.nodes, ready=size.nodes)])
    _write_stream(api / "deployments.json", [
        synth.deployment("kube-system", "coredns", "registry.k8s.io/coredns/coredns:v1.11.3", replicas=2,
                         ready=2),
        synth.deployment("ingress-nginx", "ingress-nginx-controller",
                         "registry.k8s.io/ingress-nginx/controller:v1.11.3", replicas=2, ready=2)])
    expired, _ = synth.certificate("old.example.com", ["old.example.com"], "2026-01-01T00:00:00Z",
                                   "2026-11-01T00:00:00Z")
    valid, _ = synth.certificate("ok.example.com", ["*.example.com"], "2026-10-01T00:00:00Z",
                                 "2027-10-01T00:00:00Z")
    ingresses = []
    for i in range(size.ingresses):
        svc = f"app-{i % size.services:05d}" if i % 100 else f"missing-{i}"  # 1% point at nothing
        ingresses.append(synth.ingress("apps", f"ing-{i:05d}", class_name="nginx",
                                       rules=[(f"h{i}.example.com", "/", svc, 80)],
                                       tls=[("tls-expired" if i == 0 else "tls-ok", [f"h{i}.example.com"])]))
    _write_stream(api / "ingresses.json", ingresses)
    _write_stream(api / "ingressclasses.json", [synth.ingressclass("nginx", "k8s.io/ingress-nginx",
                                                                   default=True)])
    _write_stream(api / "secrets.json", [synth.tls_secret("apps", "tls-expired", expired),
                                         synth.tls_secret("apps", "tls-ok", valid)])
    _write_stream(api / "events.json", (
        synth.event("apps", "Pod", f"app-{n:05d}", "FailedCreatePodSandBox",
                    'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network '
                    'for sandbox "abc": plugin type="calico" failed (add): stat /var/lib/calico/nodename: '
                    "no such file or directory: check that the calico/node container is running and has "
                    "mounted /var/lib/calico/", host=f"node-{n:05d}", count=30)
        for n in sorted(broken_nodes)))
    (root / "snapshot.yaml").write_text(yaml.safe_dump(
        {"format": "kubetriage/v1", "cluster": f"bench-{size.name}", "collected_at": COLLECTED_AT}))
