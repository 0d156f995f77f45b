"""NetworkPolicy semantics: may this pod reach that pod on this port?

Selectors are evaluated in full (``matchLabels`` and ``matchExpressions``) against the
labels of the actual pods and namespaces, ports and protocols included, ingress and
egress, as the union of every policy that selects a pod. Every answer is three-valued:
what this module cannot decide (an unknown operator, a named port it cannot resolve, an
``ipBlock`` without an address, namespace labels that were not collected) is ``None``,
and only a definite ``False`` ever counts as blocked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubetriage.normalize.common import meta

NAMESPACE_NAME = "kubernetes.io/metadata.name"

Verdict = bool | None  # True / False, or None: cannot tell


def _fold(verdicts: Iterable[Verdict], decisive: bool) -> Verdict:
    """Kleene logic: ``decisive`` wins at once; otherwise any unknown makes the answer unknown."""
    result: Verdict = not decisive
    for v in verdicts:
        if v is decisive:
            return decisive
        if v is None:
            result = None
    return result


def _all(verdicts: Iterable[Verdict]) -> Verdict:
    return _fold(verdicts, decisive=False)


def _any(verdicts: Iterable[Verdict]) -> Verdict:
    return _fold(verdicts, decisive=True)


def selector_matches(selector: Any, labels: Mapping[str, str]) -> Verdict:
    """A Kubernetes LabelSelector against a label set (an empty selector matches all)."""
    if not isinstance(selector, dict):
        return None
    match_labels, expressions = selector.get("matchLabels") or {}, selector.get("matchExpressions") or []
    if not isinstance(match_labels, dict) or not isinstance(expressions, list):
        return None
    return _all([*(labels.get(str(k)) == str(v) for k, v in match_labels.items()),
                 *(_expression(e, labels) for e in expressions)])


def _expression(expression: Any, labels: Mapping[str, str]) -> Verdict:
    if not isinstance(expression, dict) or not isinstance(expression.get("key"), str):
        return None
    key, operator, values = expression["key"], expression.get("operator"), expression.get("values") or []
    if not isinstance(values, list):
        return None
    present = key in labels
    if operator == "In":
        return present and labels[key] in {str(v) for v in values}
    if operator == "NotIn":
        return not present or labels[key] not in {str(v) for v in values}
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    return None


def _selector_keys(selector: Any) -> set[str]:
    if not isinstance(selector, dict):
        return set()
    keys = {str(k) for k in selector.get("matchLabels") or {}}
    return keys | {str(e.get("key")) for e in selector.get("matchExpressions") or [] if isinstance(e, dict)}


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: a pod's namespace, labels and address.
    ``vip`` is a Service address in front of it: whether an ``ipBlock`` on it applies depends
    on the CNI (most evaluate policy after kube-proxy's DNAT), so it only ever makes "unknown"."""

    namespace: str
    labels: Mapping[str, str]
    ip: str = ""
    vip: str = ""


@dataclass(frozen=True)
class Port:
    """The destination port of a connection; ``name`` is the container port's name, if known."""

    protocol: str
    number: int | None
    name: str = ""


@dataclass(frozen=True)
class PolicyRule:
    peers: tuple[Any, ...] | None  # None: every peer
    ports: tuple[Any, ...] | None  # None: every port


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Any
    ingress: tuple[PolicyRule, ...] | None  # None: the policy does not isolate for ingress
    egress: tuple[PolicyRule, ...] | None


def _rules(entries: Any, peer_key: str) -> tuple[PolicyRule, ...]:
    rules = []
    for entry in entries if isinstance(entries, list) else []:
        entry = entry if isinstance(entry, dict) else {}
        peers, ports = entry.get(peer_key), entry.get("ports")
        rules.append(PolicyRule(tuple(peers) if isinstance(peers, list) and peers else None,
                                tuple(ports) if isinstance(ports, list) and ports else None))
    return tuple(rules)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_policies(objects: Iterable[dict[str, Any]]) -> list[Policy]:
    """Every NetworkPolicy; ``policyTypes`` defaults as the API does (Ingress, plus Egress
    when egress rules are present)."""
    out = []
    for obj in objects:
        namespace, name = meta(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            continue  # malformed: it isolates nothing we could name
        types = spec.get("policyTypes")
        if not isinstance(types, list):
            types = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
        out.append(Policy(
            namespace, name, spec.get("podSelector") if "podSelector" in spec else {},
            _rules(spec.get("ingress"), "from") if "Ingress" in types else None,
            _rules(spec.get("egress"), "to") if "Egress" in types else None,
        ))
    return out


def read_namespaces(objects: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    labels = {}
    for obj in objects:
        md = _mapping(obj.get("metadata"))
        raw = _mapping(md.get("labels"))
        name = str(md.get("name") or "")
        labels[name] = {NAMESPACE_NAME: name, **{str(k): str(v) for k, v in raw.items()}}
    return labels


@dataclass(frozen=True)
class Decision:
    """Whether a connection is allowed, and the policies that decided it."""

    allowed: Verdict
    policies: tuple[str, ...] = ()


@dataclass
class PolicySet:
    """All policies of a cluster, with namespace labels (``None``: not collected)."""

    policies: list[Policy]
    namespace_labels: dict[str, dict[str, str]] | None = None
    _by_namespace: dict[str, list[Policy]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for policy in self.policies:
            self._by_namespace.setdefault(policy.namespace, []).append(policy)

    @property
    def namespaces(self) -> set[str]:
        return set(self._by_namespace)

    def connection(self, src: Endpoint, dst: Endpoint, port: Port) -> Decision:
        """Egress of ``src`` and ingress of ``dst`` together."""
        out, into = self.egress(src, dst, port), self.ingress(dst, src, port)
        return Decision(_all([out.allowed, into.allowed]), out.policies + into.policies)

    def ingress(self, pod: Endpoint, peer: Endpoint, port: Port) -> Decision:
        return self._direction(pod, peer, port, egress=False)

    def egress(self, pod: Endpoint, peer: Endpoint, port: Port) -> Decision:
        return self._direction(pod, peer, port, egress=True)

    def _direction(self, pod: Endpoint, peer: Endpoint, port: Port, egress: bool) -> Decision:
        """Isolated only when some policy certainly selects the pod; then allowed when any rule
        of any policy that may select it admits the peer on the port."""
        selecting, isolated = [], False
        for policy in self._by_namespace.get(pod.namespace, []):
            rules = policy.egress if egress else policy.ingress
            selects = None if rules is None else selector_matches(policy.pod_selector, pod.labels)
            if rules is not None and selects is not False:
                selecting.append((policy, rules))
                isolated = isolated or selects is True
        if not selecting:
            return Decision(True)
        allowed = _any(self._rule(rule, policy.namespace, peer, port)
                       for policy, rules in selecting for rule in rules)
        return Decision(allowed if isolated or allowed is not False else None,
                        tuple(sorted(f"{p.namespace}/{p.name}" for p, _ in selecting)))

    def _rule(self, rule: PolicyRule, namespace: str, peer: Endpoint, port: Port) -> Verdict:
        peers = True if rule.peers is None else _any(self._peer(p, namespace, peer) for p in rule.peers)
        ports = True if rule.ports is None else _any(_port(p, port) for p in rule.ports)
        return _all([peers, ports])

    def _peer(self, peer: Any, namespace: str, other: Endpoint) -> Verdict:
        if not isinstance(peer, dict):
            return None
        if "ipBlock" in peer:
            return _ip_block(peer["ipBlock"], other)
        ns_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
        if ns_selector is None and pod_selector is None:
            return None
        in_namespace = other.namespace == namespace if ns_selector is None \
            else self._namespace_matches(ns_selector, other.namespace)
        return _all([in_namespace, True if pod_selector is None else selector_matches(pod_selector, other.labels)])

    def _namespace_matches(self, selector: Any, namespace: str) -> Verdict:
        collected = (self.namespace_labels or {}).get(namespace)
        verdict = selector_matches(selector, collected or {NAMESPACE_NAME: namespace})
        if verdict is False and collected is None and _selector_keys(selector) - {NAMESPACE_NAME}:
            return None  # the namespace's other labels were not collected
        return verdict


def _ip_block(block: Any, other: Endpoint) -> Verdict:
    if not isinstance(block, dict) or not other.ip:
        return None
    try:
        address = ipaddress.ip_address(other.ip)
        cidr = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        excepted = [ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []]
    except (ValueError, TypeError):
        return None
    if address in cidr and not any(address in e for e in excepted):
        return True
    try:
        return None if other.vip and ipaddress.ip_address(other.vip) in cidr else False
    except ValueError:
        return None


def _port(entry: Any, port: Port) -> Verdict:
    if not isinstance(entry, dict):
        return None
    if str(entry.get("protocol") or "TCP").upper() != port.protocol:
        return False
    value, end = entry.get("port"), entry.get("endPort")
    if value is None:
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        if port.number is None:
            return None
        last = end if isinstance(end, int) and not isinstance(end, bool) else value
        return value <= port.number <= last
    if isinstance(value, str) and port.name:
        return value == port.name
    return None
