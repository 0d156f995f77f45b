"""Read a snapshot directory (docs/snapshot-format.md) or a ``kubectl cluster-info dump`` as a Bundle.

Snapshots are untrusted: every path stays inside the snapshot (collectors.confined),
resource files are streamed object by object with a bounded builder
(collectors.jsonstream), so a 1 GB ``pods.json`` never sits in memory. Nothing
malformed stops the triage: a file that is not a List becomes a located
collection error and its resource counts as not collected; a single bad item is
skipped and reported; what could not be read is said, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ijson
import yaml

from kubetriage.bundle import (
    CLUSTER_SCOPED,
    NODE_DIRS,
    NODE_LOGS,
    NODE_NET_FILES,
    RESOURCES,
    BundleMeta,
    CollectionError,
    ItemErrors,
    NodeFiles,
    PodLog,
    ProbeFiles,
)
from kubetriage.collectors.confined import Confined, Refused, shown, valid_name
from kubetriage.collectors.jsonstream import ShapeError, TooDeep, list_items
from kubetriage.errors import SnapshotError
from kubetriage.normalize.common import parse_time, rfc3339
from kubetriage.yamlsource import safe_load

#: Resources ``kubectl cluster-info dump`` writes, per namespace (nodes at the top).
_DUMP_RESOURCES = ("pods", "services", "daemonsets", "deployments", "events")
#: Up to this size a malformed file is located by line and column (that means parsing it whole).
_LOCATE_LIMIT = 8 * 1024 * 1024
_FORMAT = "kubetriage/v1"
#: Bounds on ``probes/tls/``: a served chain is a few KiB.
_MAX_PEM_BYTES = 256 * 1024


class SnapshotBundle:
    """A Bundle backed by a directory on disk; see the module docstring. With ``namespace``,
    namespaced objects and pod logs of other namespaces are left out, as a live ``-n`` does."""

    def __init__(self, root: Path, namespace: str | None = None) -> None:
        if not root.is_dir():
            raise SnapshotError(f"{root}: not a directory")
        self.fs = Confined(root)
        self.root = self.fs.root
        self.namespace = namespace
        self.errors: list[CollectionError] = []
        self._failed: set[str] = set()
        self._files = self._resource_files()
        self.meta = self._read_meta()
        if not self._files and not any(
                (self.root / name).is_symlink() or (self.root / name).exists()
                for name in ("nodes", "snapshot.yaml", "api", "logs")):
            raise SnapshotError(
                f"{root}: not a snapshot. Expected snapshot.yaml, api/<resource>.json, "
                "nodes/<node>/... (kubetriage format) or nodes.json and "
                "<namespace>/pods.json (kubectl cluster-info dump --output-directory)"
            )

    # -- paths ----------------------------------------------------------------------
    def _error(self, path: Path, message: str) -> None:
        self.errors.append(CollectionError("snapshot", self.fs.rel(path), message))

    def _present(self, path: Path, want: str) -> bool:
        """Whether ``path`` is there as a 'file' or 'dir'; anything else is a located error."""
        try:
            return self.fs.expect(path, want)
        except Refused as exc:
            self._error(path, str(exc))
            return False

    def _children(self, directory: Path, want: str,
                  relevant: Callable[[Path], bool] = lambda entry: True) -> Iterator[Path]:
        """Entries of ``directory`` that are a ``want`` with a valid name; the others are errors
        (entries ``relevant`` rejects are passed over: files beside a dump's namespace dirs)."""
        try:
            entries = self.fs.entries(directory)
        except (Refused, OSError) as exc:
            self._error(directory, str(exc) if isinstance(exc, Refused) else f"cannot list: {exc.strerror}")
            return
        for entry in entries:
            try:
                if not relevant(entry):
                    continue
            except Refused as exc:
                self._error(entry, str(exc))
                continue
            if not valid_name(entry.name):
                self._error(entry, "not a valid name (spaces, control characters or a leading dot): skipped")
            elif self._present(entry, want):
                yield entry

    # -- layout ---------------------------------------------------------------------
    def _resource_files(self) -> dict[str, list[Path]]:
        api = self.root / "api"
        try:
            native = self.fs.expect(api, "dir")
        except Refused as exc:
            self._error(api, str(exc))
            return {}
        if native or not self._present(self.root / "nodes.json", "file"):
            return {r: [api / f"{r}.json"] for r in RESOURCES if native and self._present(api / f"{r}.json", "file")}
        files: dict[str, list[Path]] = {"nodes": [self.root / "nodes.json"]}
        namespaces = [entry for entry in self._children(self.root, "dir", lambda e: self.fs.kind(e) == "dir")
                      if entry.name != "nodes"]
        for resource in _DUMP_RESOURCES:
            found = [ns / f"{resource}.json" for ns in namespaces if self._present(ns / f"{resource}.json", "file")]
            if found:
                files[resource] = found
        return files

    def _read_meta(self) -> BundleMeta:
        """snapshot.yaml; a problem in it is a located error and the metadata counts as unknown,
        except a format this version cannot read, which stops the triage."""
        path = self.root / "snapshot.yaml"
        unknown = BundleMeta(cluster="", collected_at="")
        if not self._present(path, "file"):
            return unknown
        try:
            data = self.fs.read(path)
        except Refused as exc:
            self._error(path, str(exc))
            return unknown
        try:
            doc = safe_load(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self._error(path, f"{_position(data, exc.start)}: not UTF-8 text (byte {data[exc.start]:#04x})")
            return unknown
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            self._error(path, f"{where}invalid YAML: {getattr(exc, 'problem', None) or exc}")
            return unknown
        except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
            self._error(path, f"invalid YAML: {exc}")
            return unknown
        if not isinstance(doc, dict):
            self._error(path, "expected a mapping with format, cluster, collected_at")
            return unknown
        fmt = doc.get("format", _FORMAT)
        if fmt != _FORMAT:
            raise SnapshotError(f"{path}: unsupported format {shown(str(fmt))!r} (expected {_FORMAT})")
        self._read_errors(path, doc.get("errors"))
        return BundleMeta(cluster=self._field(path, doc, "cluster", str) or "",
                          collected_at=self._collected_at(path, doc.get("collected_at")))

    def _field(self, path: Path, doc: dict[str, Any], key: str, type_: type) -> Any:
        value = doc.get(key)
        if value is not None and not isinstance(value, type_):
            self._error(path, f"{key}: expected a {type_.__name__}, found {type(value).__name__}: ignored")
            return None
        return value

    def _collected_at(self, path: Path, value: Any) -> str:
        if isinstance(value, datetime):  # YAML turns a bare timestamp into a datetime
            return rfc3339(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
        moment = parse_time(value) if isinstance(value, str) else None
        if value is not None and moment is None:
            self._error(path, f"collected_at: {shown(str(value)[:64])!r} is not an RFC 3339 timestamp: ignored")
        return rfc3339(moment) if moment else ""

    def _read_errors(self, path: Path, entries: Any) -> None:
        if not isinstance(entries, list):
            if entries is not None:
                self._error(path, "errors: expected a list of {source, target, message}: ignored")
            return
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                self._error(path, f"errors[{index}]: expected {{source, target, message}}: ignored")
                continue
            self.errors.append(CollectionError(*(str(entry.get(k, "")) for k in ("source", "target", "message"))))

    # -- Bundle ---------------------------------------------------------------------
    def has_resource(self, resource: str) -> bool:
        return resource in self._files and resource not in self._failed

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        for path in self._files.get(resource, []):
            if resource in self._failed:
                return
            yield from self._stream(resource, path)

    def _stream(self, resource: str, path: Path) -> Iterator[dict[str, Any]]:
        rel = self.fs.rel(path)
        skipped = ItemErrors(self.errors, "snapshot", rel)
        try:
            with self.fs.open(path) as f:
                for index, item in enumerate(list_items(f, strip_private_keys=resource == "secrets")):
                    if isinstance(item, dict):
                        if self._wanted(resource, item):
                            yield item
                    else:
                        what = item.reason if isinstance(item, TooDeep) else f"a JSON {_json_type(item)}"
                        skipped.add(f"items[{index}]: {what}, not an object: skipped")
        except ShapeError as exc:
            self._fail(resource, rel, f"expected a List (kubectl get {resource} -A -o json), {exc}")
        except ijson.JSONError as exc:
            self._fail(resource, rel, self._locate(path, str(exc)))
        except Refused as exc:
            self._fail(resource, rel, str(exc))
        except OSError as exc:
            self._fail(resource, rel, f"cannot read: {exc.strerror}")
        finally:
            skipped.close()

    def _wanted(self, resource: str, obj: dict[str, Any]) -> bool:
        if self.namespace is None or resource in CLUSTER_SCOPED:
            return True
        md = obj.get("metadata")
        return isinstance(md, dict) and md.get("namespace") == self.namespace

    def _fail(self, resource: str, rel: str, message: str) -> None:
        self._failed.add(resource)
        self.errors.append(CollectionError("snapshot", rel, message))

    def _locate(self, path: Path, message: str) -> str:
        """Turn a streaming-parser failure into 'line L, column C: ...' when affordable."""
        first = message.strip().splitlines()[0] if message.strip() else "malformed JSON"
        try:
            data = self.fs.read(path, _LOCATE_LIMIT)
            json.loads(data)
        except json.JSONDecodeError as exc:
            return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        except UnicodeDecodeError as exc:
            return f"{_position(data, exc.start)}: not UTF-8 text ({exc.reason})"
        except (Refused, ValueError, RecursionError):
            pass  # too large to locate, or a fault json reports without a position
        return f"malformed JSON ({shown(first)})"

    def node_files(self) -> Iterator[NodeFiles]:
        nodes = self.root / "nodes"
        if self._files.get("nodes") == [self.root / "nodes.json"] or not self._present(nodes, "dir"):
            return  # in a cluster-info dump, nodes/ does not exist (nodes.json does)
        for node in self._children(nodes, "dir"):
            logs = {name: self.fs.lines(node / name, self._noter(node / name))
                    for name in NODE_LOGS if self._present(node / name, "file")}
            dirs = {name: self._texts(node / name) for name in NODE_DIRS if self._present(node / name, "dir")}
            yield NodeFiles(node.name, logs, dirs)

    def _texts(self, directory: Path) -> dict[str, str]:
        out = {}
        for path in self._children(directory, "file"):
            try:
                out[path.name] = self.fs.read(path).decode("utf-8", "replace")
            except Refused as exc:
                self._error(path, str(exc))
        return out

    def _noter(self, path: Path) -> Callable[[str], None]:
        return lambda message: self._error(path, message)

    def pod_logs(self) -> Iterator[PodLog]:
        logs = self.root / "logs"
        if not self._present(logs, "dir"):
            return
        for namespace in self._children(logs, "dir"):
            if self.namespace is not None and namespace.name != self.namespace:
                continue
            for pod in self._children(namespace, "dir"):
                for path in self._children(pod, "file"):
                    if not path.name.endswith(".log"):
                        continue
                    previous = path.name.endswith(".previous.log")
                    container = path.name.removesuffix(".previous.log" if previous else ".log")
                    yield PodLog(namespace.name, pod.name, container, previous,
                                 self.fs.lines(path, self._noter(path)))

    def probes(self) -> ProbeFiles:
        directory = self.root / "probes"
        if not self._present(directory, "dir"):
            return ProbeFiles()
        mesh, tls, nodes = directory / "mesh.json", directory / "tls", directory / "nodes"
        return ProbeFiles(self._mesh(mesh) if self._present(mesh, "file") else None,
                          self._pems(tls) if self._present(tls, "dir") else {},
                          {node.name: self._node_net(node) for node in self._children(nodes, "dir")}
                          if self._present(nodes, "dir") else {})

    def _mesh(self, path: Path) -> Iterator[Any]:
        """The entries of mesh.json's ``probes`` list, streamed with the same bounds as a List."""
        rel = self.fs.rel(path)
        skipped = ItemErrors(self.errors, "snapshot", rel)
        try:
            with self.fs.open(path) as f:
                for index, item in enumerate(list_items(f, key="probes")):
                    if isinstance(item, TooDeep):
                        skipped.add(f"probes[{index}]: {item.reason}: skipped")
                    else:
                        yield item
        except ShapeError as exc:
            self._error(path, f"expected {{\"probes\": [...]}}, {exc}")
        except ijson.JSONError as exc:
            self._error(path, self._locate(path, str(exc)))
        except Refused as exc:
            self._error(path, str(exc))
        except OSError as exc:
            self._error(path, f"cannot read: {exc.strerror}")
        finally:
            skipped.close()

    def _node_net(self, directory: Path) -> dict[str, str]:
        out = {}
        for name in NODE_NET_FILES:
            path = directory / name
            if self._present(path, "file"):
                try:
                    out[name] = self.fs.read(path).decode("utf-8", "replace")
                except Refused as exc:
                    self._error(path, str(exc))
        return out

    def _pems(self, directory: Path) -> dict[str, str]:
        out = {}
        for path in self._children(directory, "file"):
            if path.suffix != ".pem":
                continue
            try:
                out[path.name] = self.fs.read(path, _MAX_PEM_BYTES).decode("utf-8", "replace")
            except Refused as exc:
                self._error(path, str(exc))
        return out


def _position(data: bytes, offset: int) -> str:
    before = data[:offset]
    line, start = before.count(b"\n") + 1, before.rfind(b"\n") + 1
    return f"line {line}, column {offset - start + 1}"


def _json_type(value: Any) -> str:
    return {str: "string", list: "array", bool: "boolean", type(None): "null"}.get(type(value), "number")
