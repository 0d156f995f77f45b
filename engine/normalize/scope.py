"""Indexes the normalizers share while streaming one bundle (compact: no raw objects)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from kubetriage.normalize.policies import PolicySet
from kubetriage.normalize.signatures import HitAggregator


@dataclass
class NodeInfo:
    """What later stages need to know about a node."""

    name: str
    ready: bool
    ready_reason: str
    ready_message: str
    network_unavailable: bool
    network_reason: str
    pod_cidr: str
    capacity: int
    internal_ip: str
    unschedulable: bool
    pods_with_ip: int = 0

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            return ipaddress.ip_network(self.pod_cidr, strict=False) if self.pod_cidr else None
        except ValueError:
            return None


@dataclass
class ServiceInfo:
    """A Service reduced to its selector, ports and counters."""

    namespace: str
    name: str
    type: str
    selector: dict[str, str]
    ports: list[tuple[str, str, str, str]]  # (name, port, protocol, targetPort)
    lb_address: str
    lb_class: str
    cluster_ip: str = ""
    matching_pods: int = 0
    ready_endpoints: int = 0
    not_ready_endpoints: int = 0
    pod_nodes: set[str] = field(default_factory=set)
    pod_port_names: set[str] = field(default_factory=set)
    named_target_ports: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.named_target_ports = frozenset(t for _, _, _, t in self.ports if t and not t.isdigit())


@dataclass
class PodGroup:
    """Pods of one namespace that share one label set (the pods of one ReplicaSet, say): what
    NetworkPolicy checks need, kept once per label set instead of once per pod."""

    namespace: str
    labels: dict[str, str]
    role: str
    example: str
    ip: str
    #: (protocol, container port) -> its name ('' when unnamed)
    ports: dict[tuple[str, int], str]
    pods: int = 0


@dataclass
class Scope:
    """Shared state of one normalization run."""

    now: datetime
    hits: HitAggregator
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    services: dict[tuple[str, str], ServiceInfo] = field(default_factory=dict)
    #: (namespace, one selector key, its value) -> services whose selector contains it
    selector_index: dict[tuple[str, str, str], list[ServiceInfo]] = field(default_factory=dict)
    #: (namespace, name) -> node, for unhealthy pods only (events name pods, not nodes)
    pod_nodes: dict[tuple[str, str], str] = field(default_factory=dict)
    #: node -> IPs of its (non-hostNetwork) pods, to tell live IPAM reservations from leaked ones
    node_pod_ips: dict[str, set[str]] = field(default_factory=dict)
    #: (namespace, secret name) of TLS secrets that Ingresses reference
    tls_refs: set[tuple[str, str]] = field(default_factory=set)
    roles: dict[str, int] = field(default_factory=dict)
    distro: str = "unknown"
    cloud_provider: str = ""
    cni: str = ""
    ingress_controller_namespaces: set[str] = field(default_factory=set)
    #: pod IP -> (namespace/name, node) of the first running pod seen with it
    ip_owners: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: (namespace, secret) -> DNS SANs of its leaf certificate
    cert_sans: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    policies: PolicySet = field(default_factory=lambda: PolicySet([]))
    #: (namespace, label set) -> pods with it, in namespaces with policies and for DNS and
    #: ingress controller pods everywhere
    pod_groups: dict[tuple[str, frozenset[tuple[str, str]]], PodGroup] = field(default_factory=dict)
    #: (namespace, pod, container) -> when its previous instance ended, for networking pods
    terminated: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: stale Warning events, for the report's "resolved earlier" list
    resolved: list[dict[str, Any]] = field(default_factory=list)
    #: (namespace, secret) -> its leaf certificate, to compare with what endpoints serve
    cert_leaves: dict[tuple[str, str], x509.Certificate] = field(default_factory=dict)
