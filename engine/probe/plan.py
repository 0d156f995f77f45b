"""Which node pairs a mesh probe tests, and the bounds of a run (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeSettings:
    """What a mesh probe run may create and how long it may take."""

    image: str = "ghcr.io/kubetriage/kubetriage:latest"
    timeout: float = 180.0
    all_pairs_up_to: int = 20
    ring: int = 2
    poll: float = 2.0
    dns_names: tuple[str, ...] = ("kubernetes.default.svc.cluster.local",)
    owner: str = "kubetriage"


@dataclass(frozen=True)
class ExecSettings:
    """Bounds of an exec probe (``kubetriage probe --from``)."""

    timeout: float = 30.0  # per command
    count: int = 3
    debug_image: str = "busybox:1.36"
    debug_seconds: int = 600  # how long an ephemeral debug container lives
    cluster_domain: str = "cluster.local"


def plan(running: dict[str, str], settings: ProbeSettings) -> dict[str, dict[str, str]]:
    """node -> {peer node: peer pod IP}: every ordered pair up to ``all_pairs_up_to`` nodes,
    beyond that each node's ``ring`` successors in name order, so the cost stays O(N) and
    every node is probed from ``ring`` others as well."""
    nodes = sorted(running)
    if len(nodes) <= settings.all_pairs_up_to:
        return {n: {p: running[p] for p in nodes if p != n} for n in nodes}
    step = min(settings.ring, len(nodes) - 1)
    return {n: {nodes[(i + k) % len(nodes)]: running[nodes[(i + k) % len(nodes)]] for k in range(1, step + 1)}
            for i, n in enumerate(nodes)}
