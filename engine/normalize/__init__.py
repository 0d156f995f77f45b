"""Bundle -> FactBase: pure functions over streamed objects, in a fixed order.

Order matters because later resources are resolved against compact indexes
of earlier ones: NetworkPolicies before pods (which pods' labels to keep), Services
before pods (selector counts), pods before events (pod -> node), Ingresses before
Secrets (only referenced TLS secrets are read).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kubetriage.bundle import RESOURCES, Bundle, CollectionError
from kubetriage.catalog import CATALOG
from kubetriage.facts import FactBase
from kubetriage.normalize.certificates import certificate_facts
from kubetriage.normalize.common import rfc3339
from kubetriage.normalize.currency import EvidenceWindow
from kubetriage.normalize.events import event_facts
from kubetriage.normalize.ingresses import (
    ingress_facts,
    read_ingressclasses,
    read_ingresses,
)
from kubetriage.normalize.nodefiles import cni_config_fact, ipam_facts, scan_log, scan_pod_log
from kubetriage.normalize.nodenet import node_network_facts
from kubetriage.normalize.nodes import node_facts, read_nodes
from kubetriage.normalize.pods import read_pods
from kubetriage.normalize.policies import PolicySet, read_namespaces, read_policies
from kubetriage.normalize.probes import MESH, probe_facts
from kubetriage.normalize.reachability import dns_egress_facts
from kubetriage.normalize.scope import Scope
from kubetriage.normalize.services import (
    read_endpoints,
    read_endpointslices,
    read_services,
    service_facts,
)
from kubetriage.normalize.shapes import checked
from kubetriage.normalize.signatures import MATCH_SECONDS, HitAggregator, SignatureCatalog
from kubetriage.normalize.workloads import workload_facts
from kubetriage.roles import POD_CIDR_IPAM

__all__ = ["normalize"]


def normalize(bundle: Bundle, now: datetime, signatures: SignatureCatalog,
              window: EvidenceWindow | None = None) -> FactBase:
    """Build the fact base of one triage from a bundle; evidence older than ``window`` before
    ``now``, or superseded by a recovery, is kept aside as resolved earlier."""
    base = FactBase(cluster=bundle.meta.cluster, collected_at=bundle.meta.collected_at,
                    now=rfc3339(now))
    scope = Scope(now=now, hits=HitAggregator(signatures, now, window))
    skipped: list[CollectionError] = []

    def objects(resource: str) -> Iterator[dict[str, Any]]:
        return checked(bundle.objects(resource), resource, skipped)

    read_nodes(objects("nodes"), scope)
    namespaces = read_namespaces(objects("namespaces"))
    policies = read_policies(objects("networkpolicies"))  # before pods: which pods to remember
    scope.policies = PolicySet(policies, namespaces if bundle.has_resource("namespaces") else None)
    classes = read_ingressclasses(objects("ingressclasses"))
    ingresses = read_ingresses(objects("ingresses"), scope)
    read_services(objects("services"), scope)
    for type_, resource in (("DaemonSet", "daemonsets"), ("Deployment", "deployments")):
        base.extend(workload_facts(objects(resource), type_, scope))
    base.extend(read_pods(objects("pods"), scope))
    read_endpointslices(objects("endpointslices"), scope)
    slices = bundle.has_resource("endpointslices")
    if not slices:  # clusters without discovery.k8s.io/v1, or snapshots made without it
        read_endpoints(objects("endpoints"), scope)
    secrets_found: set[tuple[str, str]] = set()
    base.extend(certificate_facts(objects("secrets"), scope, secrets_found))
    base.extend(event_facts(objects("events"), scope))
    logs = [scan_pod_log(log, scope) for log in bundle.pod_logs()]

    collected = [f"api/{r}" for r in RESOURCES if bundle.has_resource(r)] + logs
    pods_known = bundle.has_resource("pods")
    endpoints_known = slices or bundle.has_resource("endpoints")
    base.extend(node_facts(scope))
    base.extend(service_facts(scope, pods_known, endpoints_known))
    base.extend(ingress_facts(ingresses, scope,
                              classes if bundle.has_resource("ingressclasses") else None,
                              secrets_found))
    base.extend(dns_egress_facts(scope))
    nodes_read = 0
    for files in bundle.node_files():
        nodes_read += 1
        node = files.node
        for name, lines in files.logs.items():
            scan_log(node, name, lines, scope)
            collected.append(f"nodes/{node}/{name}")
        if "cni" in files.dirs:
            base.add(cni_config_fact(node, files.dirs["cni"]))
            collected.append(f"nodes/{node}/cni")
        if "ipam" in files.dirs:
            base.extend(ipam_facts(node, files.dirs["ipam"], scope, pods_known))
            collected.append(f"nodes/{node}/ipam")
    probes, probe_errors = bundle.probes(), list[CollectionError]()  # after node_files: SSH adds node probes
    if probes.mesh is not None or probes.tls:
        base.extend(probe_facts(probes.mesh or (), probes.tls, scope, ingresses, probe_errors))
        collected += [MESH] if probes.mesh is not None else []
        collected += ["probes/tls"] if probes.tls else []
    base.extend(node_network_facts(probes.nodes, scope, probe_errors))
    collected += [f"probes/nodes/{node}" for node in probes.nodes]
    base.extend(scope.hits.facts())
    base.resolved_earlier = scope.resolved + scope.hits.resolved()
    base.add(CATALOG["cluster"].make(
        name=bundle.meta.cluster, nodes=len(scope.nodes), distro=scope.distro,
        cloud_provider=scope.cloud_provider, lb_controllers=scope.roles.get("lb-controller", 0),
        ingress_controllers=scope.roles.get("ingress-controller", 0), cni=scope.cni,
        pod_cidr_ipam=scope.cni in POD_CIDR_IPAM,
        nodes_with_pod_cidr=sum(1 for n in scope.nodes.values() if n.pod_cidr),
    ))

    base.collected = collected
    base.missing = _missing(collected, nodes_read)
    # a pre-pass (resolve_now) may repeat one
    base.errors = list(dict.fromkeys([*bundle.errors, *skipped, *probe_errors])) + [
        CollectionError("signatures", signature, f"a pattern took longer than {MATCH_SECONDS:g} s on {n} line(s); "
                        "they were not classified by this signature")
        for signature, n in sorted(scope.hits.timeouts.items())]
    return base


def _missing(collected: list[str], nodes_read: int) -> list[str]:
    either = {"api/endpoints", "api/endpointslices"}  # one of the two is enough
    missing = [f"api/{r}" for r in RESOURCES if f"api/{r}" not in collected
               and not (f"api/{r}" in either and either & set(collected))]
    if not nodes_read:
        return [*missing, "nodes/*/kubelet.log", "nodes/*/cni", "nodes/*/ipam"]
    return missing
