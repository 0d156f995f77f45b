"""Nodes: readiness, network conditions, podCIDR capacity, distro and cloud provider."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import clip, condition, pod_ip_capacity, timestamp
from kubetriage.normalize.scope import NodeInfo, Scope

_NOT_CLOUD = {"", "rke2", "k3s", "kind", "kubeadm"}


def read_nodes(objects: Iterable[dict[str, Any]], scope: Scope) -> None:
    """Index nodes; a NotReady message is classified like a log line."""
    for obj in objects:
        name = str((obj.get("metadata") or {}).get("name") or "")
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        ready, net = condition(obj, "Ready"), condition(obj, "NetworkUnavailable")
        cidr = str(spec.get("podCIDR") or "")
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        scope.nodes[name] = NodeInfo(
            name=name,
            ready=ready.get("status") == "True",
            ready_reason=str(ready.get("reason") or ""),
            ready_message=clip(str(ready.get("message") or "")),
            network_unavailable=net.get("status") == "True",
            network_reason=str(net.get("reason") or ""),
            pod_cidr=cidr,
            capacity=pod_ip_capacity(cidr) if cidr else 0,
            internal_ip=str(addresses.get("InternalIP") or ""),
            unschedulable=bool(spec.get("unschedulable")),
        )
        if ready and ready.get("status") != "True":
            scope.hits.feed(name, "node-condition", str(ready.get("message") or ""),
                            timestamp(ready.get("lastTransitionTime")))
        for cond, healthy in ((ready, "True"), (net, "False")):
            if cond.get("status") == healthy:  # recovery signatures date the node's recovery
                scope.hits.feed(name, "node-condition", str(cond.get("message") or cond.get("reason") or ""),
                                timestamp(cond.get("lastTransitionTime")))
        _detect_platform(obj, scope)


def _detect_platform(obj: dict[str, Any], scope: Scope) -> None:
    version = str(((obj.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or "")
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if "+rke2" in version:
        scope.distro = "rke2"
    elif "+k3s" in version:
        scope.distro = "k3s"
    elif scope.distro == "unknown" and "kubeadm.alpha.kubernetes.io/cri-socket" in annotations:
        scope.distro = "kubeadm"
    provider = str((obj.get("spec") or {}).get("providerID") or "").split("://", 1)[0]
    if provider not in _NOT_CLOUD:
        scope.cloud_provider = provider


def node_facts(scope: Scope) -> Iterator[dict[str, Any]]:
    kind = CATALOG["node"]
    for node in scope.nodes.values():
        percent = node.pods_with_ip * 100 // node.capacity if node.capacity else 0
        yield kind.make(
            name=node.name, ready=node.ready, ready_reason=node.ready_reason,
            ready_message=node.ready_message, network_unavailable=node.network_unavailable,
            network_reason=node.network_reason, pod_cidr=node.pod_cidr,
            pod_ip_capacity=node.capacity, pods_with_ip=node.pods_with_ip,
            ip_use_percent=percent, internal_ip=node.internal_ip,
            unschedulable=node.unschedulable,
        )
