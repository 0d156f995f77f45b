"""Pods: counted per node and per Service; only unhealthy pods become facts."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import clip, condition, controller_owner, meta, timestamp
from kubetriage.normalize.reachability import remember_pod
from kubetriage.normalize.scope import Scope
from kubetriage.roles import POD_CIDR_IPAM, container_images, detect_role

_DONE = ("Succeeded", "Failed")


def read_pods(objects: Iterable[dict[str, Any]], scope: Scope) -> Iterator[dict[str, Any]]:
    kind = CATALOG["pod"]
    for obj in objects:
        namespace, name = meta(obj)
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        phase = str(status.get("phase") or "")
        if phase in _DONE:
            continue
        node = str(spec.get("nodeName") or "")
        host_network = bool(spec.get("hostNetwork"))
        ip = str(status.get("podIP") or "")
        _count(scope, obj, namespace, node, host_network, ip)
        if ip and not host_network and phase == "Running":
            yield from _ip_anomalies(scope, namespace, name, node, ip)
        ready = condition(obj, "Ready").get("status") == "True"
        role = detect_role(name, container_images(spec))
        if not host_network:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            remember_pod(scope, namespace, name, {str(k): str(v) for k, v in labels.items()}, ip, role, spec)
        if role:  # their logs name them, not their node
            scope.pod_nodes[(namespace, name)] = node
            _history(scope, obj, namespace, name, node, role, ready)
        if phase == "Running" and ready:
            continue
        reason, message = _waiting(obj)
        owner_kind, owner_name = controller_owner(obj)
        scope.pod_nodes[(namespace, name)] = node
        yield kind.make(
            namespace=namespace, name=name, node=node, phase=phase, ready=ready,
            waiting_reason=reason, waiting_message=clip(message), owner_kind=owner_kind,
            owner_name=owner_name, role=role, ip=ip,
            host_network=host_network,
            restarts=sum(int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []),
        )


def _count(scope: Scope, obj: dict[str, Any], namespace: str, node: str, host_network: bool,
           ip: str) -> None:
    info = scope.nodes.get(node)
    if info is not None and not host_network:
        info.pods_with_ip += 1
    if ip and not host_network:
        scope.node_pod_ips.setdefault(node, set()).add(ip)
    labels = (obj.get("metadata") or {}).get("labels") or {}
    matched: set[int] = set()
    for key, value in labels.items():
        for svc in scope.selector_index.get((namespace, key, str(value)), ()):
            if id(svc) not in matched and all(labels.get(k) == v for k, v in svc.selector.items()):
                matched.add(id(svc))
                svc.matching_pods += 1
                svc.pod_nodes.add(node)
                if svc.named_target_ports:
                    svc.pod_port_names |= {str(p.get("name")) for c in (obj.get("spec") or {}).get("containers") or []
                                           for p in c.get("ports") or [] if p.get("name")}


def _ip_anomalies(scope: Scope, namespace: str, name: str, node: str, ip: str) -> Iterator[dict[str, Any]]:
    """A running pod whose IP another running pod holds, or that lies outside its node's podCIDR
    (only meaningful when the CNI allocates from the podCIDR)."""
    kind = CATALOG["pod_ip_anomaly"]
    info = scope.nodes.get(node)
    cidr = info.pod_cidr if info else ""
    first = scope.ip_owners.setdefault(ip, (f"{namespace}/{name}", node))
    if first != (f"{namespace}/{name}", node):
        yield kind.make(namespace=namespace, name=name, node=node, ip=ip, problem="duplicate",
                        other=f"{first[0]} on {first[1]}", pod_cidr=cidr)
    network = info.network if info else None
    if scope.cni in POD_CIDR_IPAM and network is not None:
        try:
            inside = ipaddress.ip_address(ip) in network
        except ValueError:
            inside = True
        if not inside:
            yield kind.make(namespace=namespace, name=name, node=node, ip=ip, problem="outside-pod-cidr",
                            other="", pod_cidr=cidr)


def _history(scope: Scope, obj: dict[str, Any], namespace: str, name: str, node: str, role: str,
             ready: bool) -> None:
    """When each container's previous instance ended (it dates that instance's log), and, for a
    Ready pod, since when it is Ready: the errors its absence caused on the node are over."""
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    for cs in statuses:
        ended = timestamp(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if ended:
            scope.terminated[(namespace, name, str(cs.get("name") or ""))] = ended
    if ready:
        since = timestamp(condition(obj, "Ready").get("lastTransitionTime")) or max(
            (timestamp(((cs.get("state") or {}).get("running") or {}).get("startedAt")) for cs in statuses),
            default="")
        scope.hits.role_ready(node, role, since, f"pod {namespace}/{name} Ready since {since}")


def _waiting(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or ""), str(waiting.get("message") or "")
    scheduled = condition(obj, "PodScheduled")
    if scheduled.get("status") == "False":
        return str(scheduled.get("reason") or "Unschedulable"), str(scheduled.get("message") or "")
    return "", ""
