"""Services: selectors indexed for pod matching, endpoints counted, LB status read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import meta
from kubetriage.normalize.scope import Scope, ServiceInfo
from kubetriage.roles import detect_role


def read_services(objects: Iterable[dict[str, Any]], scope: Scope) -> None:
    for obj in objects:
        namespace, name = meta(obj)
        spec = obj.get("spec") or {}
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        first = ingress[0] if ingress else {}
        info = ServiceInfo(
            namespace=namespace,
            name=name,
            type=str(spec.get("type") or "ClusterIP"),
            selector={str(k): str(v) for k, v in (spec.get("selector") or {}).items()},
            ports=[
                (str(p.get("name") or ""), str(p.get("port") or ""),
                 str(p.get("protocol") or "TCP"), str(p.get("targetPort") or p.get("port") or ""))
                for p in spec.get("ports") or []
            ],
            lb_address=str(first.get("ip") or first.get("hostname") or ""),
            lb_class=str(spec.get("loadBalancerClass") or ""),
            cluster_ip=str(spec.get("clusterIP") or ""),
        )
        scope.services[(namespace, name)] = info
        if info.selector:
            key, value = min(info.selector.items())
            scope.selector_index.setdefault((namespace, key, value), []).append(info)


def read_endpointslices(objects: Iterable[dict[str, Any]], scope: Scope) -> None:
    for obj in objects:
        namespace, _ = meta(obj)
        owner = ((obj.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name")
        svc = scope.services.get((namespace, str(owner)))
        if svc is None:
            continue
        for endpoint in obj.get("endpoints") or []:
            addresses = len(endpoint.get("addresses") or []) or 1
            if (endpoint.get("conditions") or {}).get("ready", True) is False:
                svc.not_ready_endpoints += addresses
            else:
                svc.ready_endpoints += addresses


def read_endpoints(objects: Iterable[dict[str, Any]], scope: Scope) -> None:
    """v1 Endpoints, used only when EndpointSlices were not collected."""
    for obj in objects:
        svc = scope.services.get(meta(obj))
        if svc is None:
            continue
        for subset in obj.get("subsets") or []:
            svc.ready_endpoints += len(subset.get("addresses") or [])
            svc.not_ready_endpoints += len(subset.get("notReadyAddresses") or [])


def service_facts(scope: Scope, pods_known: bool, endpoints_known: bool) -> Iterator[dict[str, Any]]:
    kind = CATALOG["service"]
    for svc in scope.services.values():
        yield kind.make(
            namespace=svc.namespace, name=svc.name, type=svc.type,
            selector=",".join(f"{k}={v}" for k, v in sorted(svc.selector.items())),
            matching_pods=svc.matching_pods if pods_known else -1,
            ready_endpoints=svc.ready_endpoints if endpoints_known else -1,
            not_ready_endpoints=svc.not_ready_endpoints,
            lb_pending=svc.type == "LoadBalancer" and not svc.lb_address,
            lb_address=svc.lb_address, lb_class=svc.lb_class,
            ports=",".join(f"{port}/{proto}->{target}" for _, port, proto, target in svc.ports),
            role=detect_role(svc.name, []), pod_nodes=sorted(svc.pod_nodes),
            missing_target_ports=",".join(sorted(svc.named_target_ports - svc.pod_port_names))
            if pods_known and svc.matching_pods else "",
        )
