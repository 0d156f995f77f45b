"""NetworkPolicies, reduced to what decides whether an ingress controller can reach a backend.

Only certain isolation is reported: a peer this module cannot judge (namespace labels
other than kubernetes.io/metadata.name, ipBlocks, matchExpressions) counts as admitting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubetriage.normalize.common import meta

_NAMESPACE_NAME = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    match_labels: dict[str, str]
    rules: tuple[tuple[dict[str, Any], ...] | None, ...]  # per ingress rule: its `from` peers (None: any)

    def selects(self, selector: dict[str, str]) -> bool:
        """Whether it selects every pod of a Service with this selector."""
        return all(selector.get(k) == v for k, v in self.match_labels.items())

    def admits(self, controller_namespace: str) -> bool:
        return any(peers is None or any(_peer_admits(p, self.namespace, controller_namespace) for p in peers)
                   for peers in self.rules)


def _peer_admits(peer: dict[str, Any], own: str, controller: str) -> bool:
    if "ipBlock" in peer:
        return True
    selector = peer.get("namespaceSelector")
    if selector is None:  # podSelector alone: pods of the policy's own namespace
        return own == controller
    labels, expressions = selector.get("matchLabels") or {}, selector.get("matchExpressions")
    if expressions or set(labels) - {_NAMESPACE_NAME}:
        return True  # cannot judge without namespace labels: assume it admits
    return not labels or labels.get(_NAMESPACE_NAME) == controller


def read_policies(objects: Iterable[dict[str, Any]]) -> list[Policy]:
    """Policies that isolate pods for ingress, with a podSelector this module can evaluate."""
    out = []
    for obj in objects:
        namespace, name = meta(obj)
        spec = obj.get("spec") or {}
        selector = spec.get("podSelector") or {}
        if selector.get("matchExpressions") or "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
            continue
        rules = tuple(tuple(r["from"]) if r.get("from") else None for r in spec.get("ingress") or [])
        out.append(Policy(namespace, name, {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()},
                          rules))
    return out
