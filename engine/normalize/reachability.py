"""Connections that NetworkPolicies certainly block, between the pods that matter.

Two questions, asked of the actual pods (grouped by label set): can the ingress
controller reach the pods behind each Ingress backend, and can every pod under an
egress policy reach the cluster DNS pods on port 53/UDP. A connection counts as blocked
only when every pair of pods is certainly denied; unknown never makes a fact.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.policies import Decision, Endpoint, Port
from kubetriage.normalize.scope import PodGroup, Scope, ServiceInfo

#: Roles whose pods are remembered in every namespace: the two ends the checks start from.
TRACKED_ROLES = frozenset({"dns", "ingress-controller"})


def remember_pod(scope: Scope, namespace: str, name: str, labels: dict[str, str], ip: str, role: str,
                 spec: dict[str, Any]) -> None:
    """Count a (non-hostNetwork) pod in its label group when a policy check may need it."""
    if namespace not in scope.policies.namespaces and role not in TRACKED_ROLES:
        return
    key = (namespace, frozenset(labels.items()))
    group = scope.pod_groups.get(key)
    if group is None:
        ports = {(str(p.get("protocol") or "TCP").upper(), p["containerPort"]): str(p.get("name") or "")
                 for c in spec.get("containers") or [] for p in c.get("ports") or []
                 if isinstance(p, dict) and isinstance(p.get("containerPort"), int)}
        group = scope.pod_groups[key] = PodGroup(namespace, labels, role, name, ip, ports)
    group.pods += 1
    group.ip = group.ip or ip


def _endpoint(group: PodGroup, vip: str = "") -> Endpoint:
    return Endpoint(group.namespace, group.labels, group.ip, vip)


def _blocked(decisions: list[Decision]) -> str | None:
    """The deciding policies when every decision is a certain 'no', else None."""
    if not decisions or any(d.allowed is not False for d in decisions):
        return None
    return ",".join(sorted({p for d in decisions for p in d.policies}))


def _selected(scope: Scope, svc: ServiceInfo) -> list[PodGroup]:
    return [g for (namespace, _), g in scope.pod_groups.items() if namespace == svc.namespace
            and svc.selector and all(g.labels.get(k) == v for k, v in svc.selector.items())]


def _target_port(svc: ServiceInfo, port: str) -> Port:
    """The container port an Ingress backend port reaches, by number or by name."""
    for name, number, protocol, target in svc.ports:
        if port in (name, number):
            return Port(protocol.upper(), int(target), "") if target.isdigit() else Port(protocol.upper(), None, target)
    return Port("TCP", None)


def _on(group: PodGroup, port: Port) -> Port:
    """``port`` completed from the group's container ports (a name gets its number and back)."""
    for (protocol, number), name in group.ports.items():
        if protocol == port.protocol and (number == port.number or (port.name and name == port.name)):
            return Port(protocol, number, name)
    return port


def ingress_isolation(scope: Scope, ingress: str, svc: ServiceInfo, port: str) -> Iterator[dict[str, Any]]:
    """A policy_isolation fact per ingress-controller namespace that cannot reach the backend."""
    backends = _selected(scope, svc)
    target = _target_port(svc, port)
    controllers: dict[str, list[PodGroup]] = {}
    for group in scope.pod_groups.values():
        if group.role == "ingress-controller":
            controllers.setdefault(group.namespace, []).append(group)
    for namespace, groups in sorted(controllers.items()):
        policies = _blocked([scope.policies.connection(_endpoint(c), _endpoint(b), _on(b, target))
                             for c in groups for b in backends])
        if policies is not None:
            yield CATALOG["policy_isolation"].make(
                namespace=svc.namespace, service=svc.name, ingress=ingress, policies=policies,
                controller_namespace=namespace)


def dns_egress_facts(scope: Scope) -> Iterator[dict[str, Any]]:
    """A dns_egress_block fact per namespace and deciding policies whose pods cannot reach DNS."""
    dns = [g for g in scope.pod_groups.values() if g.role == "dns"]
    if not dns or not scope.policies.policies:
        return
    service = next((svc for svc in scope.services.values() if any(g in _selected(scope, svc) for g in dns)), None)
    vip = service.cluster_ip if service else ""
    blocked: dict[tuple[str, str], list[PodGroup]] = {}
    for group in scope.pod_groups.values():
        if group.role == "dns" or group.namespace not in scope.policies.namespaces:
            continue
        decisions = [scope.policies.egress(_endpoint(group), _endpoint(d, vip), _on(d, Port("UDP", 53)))
                     for d in dns]
        policies = _blocked(decisions)
        if policies is not None:
            blocked.setdefault((group.namespace, policies), []).append(group)
    for (namespace, policies), groups in sorted(blocked.items()):
        yield CATALOG["dns_egress_block"].make(
            namespace=namespace, policies=policies, pods=sum(g.pods for g in groups),
            example_pod=min(g.example for g in groups),
            dns_service=f"{service.namespace}/{service.name}" if service else "",
            dns_namespace=dns[0].namespace)
