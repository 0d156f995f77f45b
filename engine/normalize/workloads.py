"""DaemonSets and Deployments: networking roles and readiness."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import meta
from kubetriage.normalize.scope import Scope
from kubetriage.roles import container_images, detect_cni, detect_role


def workload_facts(
    objects: Iterable[dict[str, Any]], type_: str, scope: Scope
) -> Iterator[dict[str, Any]]:
    """A fact for each workload with a networking role or fewer ready pods than desired."""
    kind = CATALOG["workload"]
    for obj in objects:
        namespace, name = meta(obj)
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        images = container_images(((spec.get("template") or {}).get("spec")) or {})
        role = detect_role(name, images)
        if type_ == "DaemonSet":
            desired = int(status.get("desiredNumberScheduled") or 0)
            ready = int(status.get("numberReady") or 0)
            available = int(status.get("numberAvailable") or 0)
        else:
            desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
            ready = int(status.get("readyReplicas") or 0)
            available = int(status.get("availableReplicas") or 0)
        if role:
            scope.roles[role] = scope.roles.get(role, 0) + 1
        if role == "cni" and type_ == "DaemonSet":
            scope.cni = scope.cni or detect_cni(name, images)
        if role == "ingress-controller":
            scope.ingress_controller_namespaces.add(namespace)
        if role or ready < desired:
            yield kind.make(
                type=type_, namespace=namespace, name=name, role=role, desired=desired,
                ready=ready, available=available, not_ready=max(desired - ready, 0),
                image=images[0] if images else "",
            )
