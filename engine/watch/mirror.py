"""What the watcher knows of the cluster: one slimmed copy of each object, and a Bundle over it.

Objects are kept keyed by (resource, namespace, name) and replaced whole on every
change, so a triage reads a consistent copy without a lock held for its duration.
Before an object is kept, what no normalizer reads and what can be large or private is
dropped (``managedFields``, ``last-applied-configuration``, container env, command
lines and probes, pod volumes, Secret data other than ``tls.crt``), so memory follows
the number of objects, not their size.
Secrets are never watched: the TLS Secrets that Ingresses reference are read by name,
``tls.crt`` only (see :mod:`kubetriage.watch.evidence`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubetriage.bundle import BundleMeta, CollectionError, NodeFiles, PodLog, ProbeFiles

Key = tuple[str, str]  # namespace ('' when cluster-scoped), name
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_CONTAINER_FIELDS = ("name", "image", "ports")  # what roles, pods and reachability read


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without the parts no normalizer reads; the original is not changed."""
    out = dict(obj)
    md = out.get("metadata")
    if isinstance(md, dict):
        md = {k: v for k, v in md.items() if k != "managedFields"}
        annotations = md.get("annotations")
        if isinstance(annotations, dict):
            md["annotations"] = {k: v for k, v in annotations.items() if k not in _DROPPED_ANNOTATIONS}
        out["metadata"] = md
    data = out.get("data")
    if isinstance(data, dict):  # a Secret: only its certificate is read (tls.key never reaches here)
        out["data"] = {k: v for k, v in data.items() if k == "tls.crt"}
    spec = out.get("spec")
    if isinstance(spec, dict):
        out["spec"] = _slim_pod_spec(spec)
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            out["spec"]["template"] = {**template, "spec": _slim_pod_spec(template["spec"])}
    return out


def _slim_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k not in ("volumes", "initContainers")}
    containers = spec.get("containers")
    if isinstance(containers, list):
        out["containers"] = [{k: c[k] for k in _CONTAINER_FIELDS if k in c} if isinstance(c, dict) else c
                             for c in containers]
    return out


def key_of(obj: dict[str, Any]) -> Key | None:
    md = obj.get("metadata")
    if not isinstance(md, dict) or not isinstance(md.get("name"), str):
        return None
    return str(md.get("namespace") or ""), md["name"]


class Mirror:
    """Thread-safe store of slimmed objects that remembers when it changed since a triage took it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self._first: float | None = None  # monotonic time of the first change not yet taken
        self._last = 0.0

    def _changed(self) -> None:
        self._last = time.monotonic()
        if self._first is None:
            self._first = self._last

    def replace(self, resource: str, objects: dict[Key, dict[str, Any]]) -> None:
        """A fresh list of ``resource`` (after a relist): counts as a change only if it differs."""
        with self._lock:
            if self._objects.get(resource) != objects:
                self._changed()
            self._objects[resource] = objects

    def put(self, resource: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        if key is None:
            return
        with self._lock:
            self._objects.setdefault(resource, {})[key] = slim(obj)
            self._changed()

    def delete(self, resource: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        with self._lock:
            if key is not None and self._objects.get(resource, {}).pop(key, None) is not None:
                self._changed()

    def forget(self, resource: str) -> None:
        """``resource`` can no longer be read (RBAC revoked, API group gone): not collected."""
        with self._lock:
            if self._objects.pop(resource, None) is not None:
                self._changed()

    def touch(self) -> None:
        """Something the mirror does not hold changed (logs, node files): triage again."""
        with self._lock:
            self._changed()

    def pending(self) -> tuple[float, float] | None:
        """(first, last) monotonic times of the changes not yet taken, or None."""
        with self._lock:
            return None if self._first is None else (self._first, self._last)

    def view(self) -> dict[str, list[dict[str, Any]]]:
        """A consistent copy of every resource's objects (the objects are shared, not copied:
        stored objects are replaced, never changed in place)."""
        with self._lock:
            return {r: list(objs.values()) for r, objs in self._objects.items()}

    def take(self) -> tuple[float | None, dict[str, list[dict[str, Any]]]]:
        """The view for a triage, and when the first change it includes happened."""
        with self._lock:
            first, self._first = self._first, None
            return first, {r: list(objs.values()) for r, objs in self._objects.items()}

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {r: len(objs) for r, objs in self._objects.items()}


@dataclass
class MirrorBundle:
    """A Bundle over one view of the mirror and the evidence last read on the slow schedule."""

    meta: BundleMeta
    objects_by_resource: dict[str, list[dict[str, Any]]]
    errors: list[CollectionError] = field(default_factory=list)
    logs: list[PodLog] = field(default_factory=list)
    nodes: list[NodeFiles] = field(default_factory=list)
    probe_files: ProbeFiles = field(default_factory=ProbeFiles)  # a watch sends no probe traffic

    def has_resource(self, resource: str) -> bool:
        return resource in self.objects_by_resource

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        return iter(self.objects_by_resource.get(resource, ()))

    def pod_logs(self) -> Iterator[PodLog]:
        return iter(self.logs)

    def node_files(self) -> Iterator[NodeFiles]:
        return iter(self.nodes)

    def probes(self) -> ProbeFiles:
        return self.probe_files
