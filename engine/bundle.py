"""The Bundle: raw collected material, read as a stream, the same for every source.

A live collection and a snapshot directory both present this interface, so the
normalizers and everything after them run one code path. A resource or node
file that is absent was *not collected*, which is different from empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Resources a snapshot may hold, in the order normalization reads them.
RESOURCES = (
    "nodes",
    "namespaces",
    "networkpolicies",
    "ingressclasses",
    "ingresses",
    "services",
    "daemonsets",
    "deployments",
    "pods",
    "endpointslices",
    "endpoints",
    "secrets",
    "events",
)

#: Resources that are not namespaced (read whole even when a namespace is selected).
CLUSTER_SCOPED = frozenset({"nodes", "ingressclasses", "namespaces"})

#: Per-node files (docs/snapshot-format.md); ``cni`` and ``ipam`` are directories.
NODE_LOGS = ("kubelet.log", "containerd.log", "kernel.log")
NODE_DIRS = ("cni", "ipam")
#: Node-side probe files (``probes/nodes/<node>/``): ``ip -j addr``, ``ip -j route``, ``ip -j -d link``
#: and the iptables rules that mention an overlay transport.
NODE_NET_FILES = ("addr.json", "route.json", "link.json", "iptables.txt")


@dataclass(frozen=True)
class CollectionError:
    """Something a collector could not see; reported under coverage.errors."""

    source: str
    target: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "message": self.message}


@dataclass
class ItemErrors:
    """Errors about single items of one source: the first few in full, then a count, so one
    broken generator cannot bury the coverage report under a million lines."""

    errors: list[CollectionError]
    source: str
    target: str
    shown: int = 10
    hidden: int = 0

    def add(self, message: str) -> None:
        if self.shown:
            self.shown -= 1
            self.errors.append(CollectionError(self.source, self.target, message))
        else:
            self.hidden += 1

    def close(self) -> None:
        if self.hidden:
            self.errors.append(CollectionError(self.source, self.target, f"{self.hidden} more item(s) skipped"))
            self.hidden = 0


def too_little(collected: Iterable[str]) -> str:
    """Why nothing can be judged from what was collected ('' when something can): a triage needs
    the nodes or the pods, from the API or from the nodes' own files, or what an active probe saw
    of the data plane (exit code 3)."""
    if any(source in ("api/nodes", "api/pods", "probes/mesh.json") or source.startswith("nodes/")
           for source in collected):
        return ""
    return "neither nodes nor pods were collected (not from the API, not from any node's files)"


@dataclass(frozen=True)
class BundleMeta:
    """Where and when the material was collected."""

    cluster: str
    collected_at: str  # RFC 3339, '' when unknown


#: The longest log line kept: collectors cut a line at this many bytes, and signature matching
#: reads at most this many characters of it (a failure's wording sits at the start; one 480 KB
#: line once cost a minute).
MAX_LINE = 8 * 1024


@dataclass(frozen=True)
class PodLog:
    """The tail of one container's log (``logs/`` in docs/snapshot-format.md)."""

    namespace: str
    pod: str
    container: str
    previous: bool
    lines: Iterable[str]

    @property
    def path(self) -> str:
        suffix = ".previous.log" if self.previous else ".log"
        return f"logs/{self.namespace}/{self.pod}/{self.container}{suffix}"


@dataclass(frozen=True)
class NodeFiles:
    """What was read from one node; a log or directory that is absent was not collected.
    ``dirs["cni"]``: file name -> text; ``dirs["ipam"]``: network -> reserved entries, one a line."""

    node: str
    logs: Mapping[str, Iterable[str]]
    dirs: Mapping[str, dict[str, str]]


@dataclass(frozen=True)
class ProbeFiles:
    """Active-probe results (``probes/`` in docs/snapshot-format.md), uninterpreted. ``mesh``
    streams the raw entries of mesh.json's ``probes`` list (None: not collected); ``tls`` maps a
    served chain's file name, ``<host>_<port>.pem``, to its text; ``nodes`` maps a node to what its
    network looked like from the node itself (``probes/nodes/<node>/<file>``, NODE_NET_FILES)."""

    mesh: Iterable[Any] | None = None
    tls: Mapping[str, str] = field(default_factory=dict)
    nodes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class Bundle(Protocol):
    """Read-only, streaming access to collected material."""

    meta: BundleMeta
    errors: list[CollectionError]

    def has_resource(self, resource: str) -> bool:
        """True when the resource was collected (even if it has no objects)."""

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        """Stream the objects of a collected resource, one at a time."""

    def node_files(self) -> Iterator[NodeFiles]:
        """Files of each node they were collected from, one node at a time."""

    def pod_logs(self) -> Iterator[PodLog]:
        """Logs of networking pods that were collected (none when not collected)."""

    def probes(self) -> ProbeFiles:
        """Active-probe results, when a probe ran (``kubetriage probe``, ``--probe``)."""
