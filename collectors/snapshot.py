"""Read a snapshot directory (DESIGN §3) or a ``kubectl cluster-info dump`` as a Bundle.

Resource files are streamed object by object with ijson's C backend, so a
1 GB ``pods.json`` never sits in memory. A malformed file does not stop the
triage: it becomes a collection error naming the file (with line and column
when the file is small enough to locate the fault) and the resource counts as
not collected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import yaml

from kubetriage.bundle import NODE_DIRS, NODE_LOGS, RESOURCES, BundleMeta, CollectionError, NodeFiles, PodLog
from kubetriage.collectors.jsonstream import list_items
from kubetriage.errors import SnapshotError

#: Resources ``kubectl cluster-info dump`` writes, per namespace (nodes at the top).
_DUMP_RESOURCES = ("pods", "services", "daemonsets", "deployments", "events")
#: Above this size a malformed file is reported without line/column (locating it would
#: mean loading the whole file).
_LOCATE_LIMIT = 64 * 1024 * 1024


def _top_level_kind(path: Path) -> str:
    with path.open("rb") as f:
        for prefix, event, value in ijson.parse(f):
            if prefix == "kind" and event == "string":
                return str(value)
    return ""


def _locate(path: Path, message: str) -> str:
    """Turn a streaming-parser failure into 'line L, column C: ...' when affordable."""
    if path.stat().st_size <= _LOCATE_LIMIT:
        try:
            json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        except UnicodeDecodeError as exc:
            return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    first = message.strip().splitlines()[0] if message.strip() else "malformed JSON"
    return f"malformed JSON ({first})"


class SnapshotBundle:
    """A Bundle backed by a directory on disk; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if not root.is_dir():
            raise SnapshotError(f"{root}: not a directory")
        self.errors: list[CollectionError] = []
        self._failed: set[str] = set()
        self._files = self._resource_files()
        self.meta = self._read_meta()
        if not self._files and not (root / "nodes").is_dir() and not (root / "snapshot.yaml").exists():
            raise SnapshotError(
                f"{root}: not a snapshot. Expected snapshot.yaml, api/<resource>.json, "
                "nodes/<node>/... (kubetriage format) or nodes.json and "
                "<namespace>/pods.json (kubectl cluster-info dump --output-directory)"
            )

    # -- layout ---------------------------------------------------------------------
    def _resource_files(self) -> dict[str, list[Path]]:
        api = self.root / "api"
        if api.is_dir() or not (self.root / "nodes.json").is_file():
            return {r: [api / f"{r}.json"] for r in RESOURCES if (api / f"{r}.json").is_file()}
        files: dict[str, list[Path]] = {"nodes": [self.root / "nodes.json"]}
        namespaces = sorted(p for p in self.root.iterdir() if p.is_dir() and p.name != "nodes")
        for resource in _DUMP_RESOURCES:
            found = [ns / f"{resource}.json" for ns in namespaces if (ns / f"{resource}.json").is_file()]
            if found:
                files[resource] = found
        return files

    def _read_meta(self) -> BundleMeta:
        path = self.root / "snapshot.yaml"
        if not path.exists():
            return BundleMeta(cluster="", collected_at="")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            raise SnapshotError(f"{path}{where}: invalid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise SnapshotError(f"{path}: expected a mapping with format, cluster, collected_at")
        fmt = doc.get("format", "kubetriage/v1")
        if fmt != "kubetriage/v1":
            raise SnapshotError(f"{path}: unsupported format {fmt!r} (expected kubetriage/v1)")
        collected_at = doc.get("collected_at", "")
        if not isinstance(collected_at, str):  # YAML turns bare timestamps into datetimes
            collected_at = collected_at.isoformat().replace("+00:00", "Z")
        for entry in doc.get("errors") or []:
            if not isinstance(entry, dict):
                raise SnapshotError(f"{path}: each of errors must be {{source, target, message}}")
            self.errors.append(
                CollectionError(
                    str(entry.get("source", "")),
                    str(entry.get("target", "")),
                    str(entry.get("message", "")),
                )
            )
        return BundleMeta(cluster=str(doc.get("cluster") or ""), collected_at=collected_at)

    # -- Bundle ---------------------------------------------------------------------
    def has_resource(self, resource: str) -> bool:
        return resource in self._files and resource not in self._failed

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        for path in self._files.get(resource, []):
            if resource in self._failed:
                return
            yield from self._stream(resource, path)

    def _stream(self, resource: str, path: Path) -> Iterator[dict[str, Any]]:
        rel = path.relative_to(self.root).as_posix()
        count = 0
        try:
            with path.open("rb") as f:
                for obj in list_items(f, strip_private_keys=resource == "secrets"):
                    if isinstance(obj, dict):
                        count += 1
                        yield obj
            if count == 0:
                kind = _top_level_kind(path)
                if kind and not kind.endswith("List"):
                    self._fail(
                        resource, rel,
                        f"expected a List (kubectl get {resource} -A -o json), found kind {kind}",
                    )
        except ijson.JSONError as exc:
            self._fail(resource, rel, _locate(path, str(exc)))
        except OSError as exc:
            self._fail(resource, rel, f"cannot read: {exc.strerror}")

    def _fail(self, resource: str, rel: str, message: str) -> None:
        self._failed.add(resource)
        self.errors.append(CollectionError("snapshot", rel, message))

    def node_files(self) -> Iterator[NodeFiles]:
        nodes = self.root / "nodes"
        if not nodes.is_dir() or self._files.get("nodes") == [self.root / "nodes.json"]:
            return  # in a cluster-info dump, nodes/ does not exist (nodes.json does)
        for node in sorted(p for p in nodes.iterdir() if p.is_dir()):
            logs = {name: self._lines(node / name) for name in NODE_LOGS if (node / name).is_file()}
            dirs = {name: {f.name: f.read_text(encoding="utf-8", errors="replace")
                           for f in sorted((node / name).iterdir()) if f.is_file()}
                    for name in NODE_DIRS if (node / name).is_dir()}
            yield NodeFiles(node.name, logs, dirs)

    @staticmethod
    def _lines(path: Path) -> Iterator[str]:
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\n")

    def pod_logs(self) -> Iterator[PodLog]:
        logs = self.root / "logs"
        if not logs.is_dir():
            return
        for path in sorted(logs.glob("*/*/*.log")):
            previous = path.name.endswith(".previous.log")
            container = path.name.removesuffix(".previous.log" if previous else ".log")
            yield PodLog(path.parent.parent.name, path.parent.name, container, previous,
                         self._lines(path))
