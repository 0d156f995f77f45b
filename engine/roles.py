"""Which networking role a workload or pod plays, from well-known names and images.

Shared by the live collector (whose logs to read) and the normalizers (facts), so it
lives outside both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

Table = tuple[tuple[str, re.Pattern[str]], ...]


def _table(entries: Iterable[tuple[str, str]]) -> Table:
    return tuple((label, re.compile(pattern)) for label, pattern in entries)


def _first_match(table: Table, name: str, images: list[str]) -> str:
    """First match wins; the name is checked before the images."""
    for subject in (name, *images):
        for label, pattern in table:
            if pattern.search(subject):
                return label
    return ""


# Operators, controllers and webhooks of networking projects are not agents: no role.
_ROLES = _table((
    ("", r"operator|typha|kube-controllers|autoscaler|webhook|admission|certgen"),
    ("cni", r"calico-node|canal|flannel|^cilium$|cilium-agent|/cilium:|weave-net|kube-router"
            r"|^aws-node|amazon-k8s-cni|antrea-agent|kindnet|ovnkube-node|kube-ovn-cni|multus"),
    ("dns", r"coredns|kube-dns|node-local-dns"),
    ("ingress-controller", r"ingress-nginx|nginx-ingress|ingress-controller|traefik"
                           r"|haproxy-ingress|contour|kong"),
    ("kube-proxy", r"kube-proxy"),
    ("lb-controller", r"metallb|kube-vip|svclb|cloud-controller-manager"
                      r"|aws-load-balancer-controller"),
))


def detect_role(name: str, images: list[str]) -> str:
    """The role of a workload named ``name`` running ``images`` ('' when none)."""
    return _first_match(_ROLES, name, images)


def container_images(pod_spec: dict[str, Any]) -> list[str]:
    """Images of a pod spec's (non-init) containers."""
    return [str(c.get("image", "")) for c in pod_spec.get("containers") or []]


_CNIS = _table((
    ("canal", r"canal"), ("calico", r"calico"), ("flannel", r"flannel"), ("cilium", r"cilium"),
    ("weave", r"weave"), ("kube-router", r"kube-router"), ("aws-vpc-cni", r"aws-node|amazon-k8s-cni"),
    ("antrea", r"antrea"), ("kindnet", r"kindnet"), ("ovn-kubernetes", r"ovnkube"), ("kube-ovn", r"kube-ovn"),
))
#: CNIs whose IPAM hands out pod IPs from the node's spec.podCIDR (host-local).
POD_CIDR_IPAM = frozenset({"canal", "flannel", "kube-router", "kindnet"})


def detect_cni(name: str, images: list[str]) -> str:
    """Which CNI a workload with the cni role is ('' when unknown)."""
    return _first_match(_CNIS, name, images)
