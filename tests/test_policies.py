"""NetworkPolicy semantics: selectors, namespaces, ports, union, egress, and unknown never blocking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kubetriage.normalize.policies import (
    Endpoint,
    PolicySet,
    Port,
    Verdict,
    read_namespaces,
    read_policies,
    selector_matches,
)

from .conftest import Run, triage_json

SCENARIOS = Path(__file__).parent / "scenarios"
WEB = Endpoint("shop", {"app": "web", "tier": "front"}, "10.42.1.5")
CONTROLLER = Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "10.42.2.7")
DNS = Endpoint("kube-system", {"k8s-app": "kube-dns"}, "10.42.0.3", vip="10.43.0.10")
HTTP = Port("TCP", 8080, "http")
DNS_PORT = Port("UDP", 53, "dns")


def _policy(name: str, spec: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _set(*policies: dict[str, Any], namespaces: dict[str, dict[str, str]] | None = None) -> PolicySet:
    labels = read_namespaces({"metadata": {"name": n, "labels": lab}} for n, lab in namespaces.items()) \
        if namespaces is not None else None
    return PolicySet(read_policies(policies), labels)


@pytest.mark.parametrize(("selector", "expected"), [
    ({}, True),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchLabels": {"app": "api"}}, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
    ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]},
     False),
    ({"matchExpressions": [{"key": "app", "operator": "Matches", "values": ["w.*"]}]}, None),
    ({"matchExpressions": [{"key": "app", "operator": "Matches"}], "matchLabels": {"app": "api"}}, False),
    ("app=web", None),
    ({"matchLabels": ["app"]}, None),
])
def test_selector(selector: Any, expected: Verdict) -> None:
    assert selector_matches(selector, WEB.labels) is expected


DENY_ALL = _policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
ALLOW_CONTROLLER = _policy("allow-controller", {
    "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
    "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["ingress-nginx"]}]}}],
        "ports": [{"port": 8080}]}]})


@pytest.mark.parametrize(("policies", "port", "expected"), [
    ([], HTTP, True),
    ([DENY_ALL], HTTP, False),
    ([DENY_ALL, ALLOW_CONTROLLER], HTTP, True),  # the union of policies
    ([DENY_ALL, ALLOW_CONTROLLER], Port("TCP", 9090, "metrics"), False),  # other port
    ([DENY_ALL, ALLOW_CONTROLLER], Port("UDP", 8080), False),  # other protocol
    ([DENY_ALL, _policy("range", {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]})],
     HTTP, True),
    ([DENY_ALL, _policy("named", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})], HTTP, True),
    ([DENY_ALL, _policy("named", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})],
     Port("TCP", 8080), None),  # the port's name is unknown: cannot tell
    ([_policy("other-pods", {"podSelector": {"matchLabels": {"app": "api"}}})], HTTP, True),  # web not selected
    ([_policy("odd", {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}})], HTTP, None),
    ([DENY_ALL, _policy("ip", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.42.0.0/16"}}]}]})],
     HTTP, True),
    ([DENY_ALL, _policy("ip", {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.42.0.0/16", "except": ["10.42.2.0/24"]}}]}]})], HTTP, False),
    ([DENY_ALL, _policy("same-ns", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})], HTTP, False),
    ([DENY_ALL, _policy("egress-only", {"podSelector": {}, "policyTypes": ["Egress"]})], HTTP, False),
])
def test_ingress(policies: list[dict[str, Any]], port: Port, expected: Verdict) -> None:
    assert _set(*policies).ingress(WEB, CONTROLLER, port).allowed is expected


def test_namespace_labels_decide_when_collected_and_are_unknown_otherwise() -> None:
    by_team = _policy("by-team", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "edge"}}}]}]})
    labels = {"ingress-nginx": {"team": "edge"}, "shop": {}}
    assert _set(DENY_ALL, by_team, namespaces=labels).ingress(WEB, CONTROLLER, HTTP).allowed is True
    assert _set(DENY_ALL, by_team, namespaces={"ingress-nginx": {"team": "core"}}) \
        .ingress(WEB, CONTROLLER, HTTP).allowed is False
    assert _set(DENY_ALL, by_team).ingress(WEB, CONTROLLER, HTTP).allowed is None  # labels not collected
    by_name = _policy("by-name", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}]})
    assert _set(DENY_ALL, by_name).ingress(WEB, CONTROLLER, HTTP).allowed is False  # the automatic label


def test_namespace_and_pod_selector_in_one_peer_must_both_match() -> None:
    peer = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}}
    policies = _set(DENY_ALL, _policy("both", {"podSelector": {}, "ingress": [{"from": [peer]}]}))
    assert policies.ingress(WEB, CONTROLLER, HTTP).allowed is False


ALLOW_DNS = _policy("allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
    "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}]}]})


@pytest.mark.parametrize(("policies", "expected"), [
    ([DENY_ALL], False),
    ([DENY_ALL, ALLOW_DNS], True),
    ([DENY_ALL, _policy("tcp-only", {"podSelector": {}, "egress": [{"ports": [{"protocol": "TCP", "port": 53}]}]})],
     False),
    ([DENY_ALL, _policy("vip", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.43.0.10/32"}}]}]})],
     None),  # only the Service VIP: depends on the CNI, so unknown
    ([DENY_ALL, _policy("world", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})],
     True),
    ([_policy("ingress-only", {"podSelector": {}, "ingress": [{}]})], True),
])
def test_egress_to_dns(policies: list[dict[str, Any]], expected: Verdict) -> None:
    assert _set(*policies).egress(WEB, DNS, DNS_PORT).allowed is expected


def test_connection_needs_both_ends() -> None:
    deny_controller_egress = _policy("lockdown", {"podSelector": {}, "policyTypes": ["Egress"]}, "ingress-nginx")
    decision = _set(deny_controller_egress).connection(CONTROLLER, WEB, HTTP)
    assert decision.allowed is False and decision.policies == ("ingress-nginx/lockdown",)


def test_malformed_policies_never_block() -> None:
    odd = [{"metadata": {"name": "x", "namespace": "shop"}, "spec": "nope"},
           _policy("peers", {"podSelector": {}, "ingress": [{"from": ["bogus"]}]}),
           _policy("ports", {"podSelector": {}, "ingress": [{"ports": [{"port": 3.5}]}]})]
    assert _set(DENY_ALL, *odd).ingress(WEB, CONTROLLER, HTTP).allowed is None


def _healthy_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SCENARIOS / "healthy-kubeadm", tmp_path / "snap"))


def _drop_policy(root: Path, name: str) -> None:
    path = root / "api" / "networkpolicies.json"
    doc = json.loads(path.read_text())
    doc["items"] = [p for p in doc["items"] if p["metadata"]["name"] != name]
    path.write_text(json.dumps(doc))


def test_default_deny_with_expression_allows_is_healthy_and_each_missing_allow_is_found(
        kubetriage: Run, tmp_path: Path) -> None:
    snap = _healthy_copy(tmp_path)
    assert triage_json(kubetriage, snap)["findings"] == []
    _drop_policy(snap, "allow-dns")
    found = {f["rule_id"]: f for f in triage_json(kubetriage, snap)["findings"]}
    assert set(found) == {"NET-POL-002"}
    assert "shop/default-deny" in found["NET-POL-002"]["summary"]
    _drop_policy(snap, "allow-ingress-controller")
    assert {f["rule_id"] for f in triage_json(kubetriage, snap)["findings"]} == {"NET-POL-001", "NET-POL-002"}


def test_without_pods_nothing_is_judged(kubetriage: Run, tmp_path: Path) -> None:
    snap = _healthy_copy(tmp_path)
    _drop_policy(snap, "allow-dns")
    (snap / "api" / "pods.json").unlink()
    report = triage_json(kubetriage, snap)
    assert "api/pods" in report["coverage"]["missing"]
    assert not [f for f in report["findings"] if f["rule_id"].startswith("NET-POL")]
