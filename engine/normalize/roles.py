"""Which networking role a workload or pod plays, from well-known names and images."""

from __future__ import annotations

import re
from typing import Any

# First match wins; names are checked before images. Operators are not agents.
_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (role, re.compile(pattern))
    for role, pattern in (
        ("", r"operator|typha|kube-controllers|autoscaler|webhook|admission|certgen"),
        ("cni", r"calico-node|canal|flannel|^cilium$|cilium-agent|/cilium:|weave-net|kube-router"
                r"|^aws-node|amazon-k8s-cni|antrea-agent|kindnet|ovnkube-node|kube-ovn-cni|multus"),
        ("dns", r"coredns|kube-dns|node-local-dns"),
        ("ingress-controller", r"ingress-nginx|nginx-ingress|ingress-controller|traefik"
                               r"|haproxy-ingress|contour|kong"),
        ("kube-proxy", r"kube-proxy"),
        ("lb-controller", r"metallb|kube-vip|svclb|cloud-controller-manager"
                          r"|aws-load-balancer-controller"),
    )
)


def detect_role(name: str, images: list[str]) -> str:
    """The role of a workload named ``name`` running ``images`` ('' when none)."""
    for subject in (name, *images):
        for role, pattern in _ROLES:
            if pattern.search(subject):
                return role
    return ""


def container_images(pod_spec: dict[str, Any]) -> list[str]:
    """Images of a pod spec's (non-init) containers."""
    return [str(c.get("image", "")) for c in pod_spec.get("containers") or []]


_CNIS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cni, re.compile(pattern))
    for cni, pattern in (
        ("canal", r"canal"), ("calico", r"calico"), ("flannel", r"flannel"), ("cilium", r"cilium"),
        ("weave", r"weave"), ("kube-router", r"kube-router"), ("aws-vpc-cni", r"aws-node|amazon-k8s-cni"),
        ("antrea", r"antrea"), ("kindnet", r"kindnet"), ("ovn-kubernetes", r"ovnkube"), ("kube-ovn", r"kube-ovn"),
    )
)
#: CNIs whose IPAM hands out pod IPs from the node's spec.podCIDR (host-local).
POD_CIDR_IPAM = frozenset({"canal", "flannel", "kube-router", "kindnet"})


def detect_cni(name: str, images: list[str]) -> str:
    """Which CNI a workload with the cni role is ('' when unknown)."""
    for subject in (name, *images):
        for cni, pattern in _CNIS:
            if pattern.search(subject):
                return cni
    return ""
