"""Write any Bundle as a snapshot directory (docs/snapshot-format.md): `kubetriage collect -o DIR`.

Objects are streamed to disk as they arrive, so collecting a large cluster
needs no more memory than triaging it. A resource that fails is left out (its
partial file removed) and its error recorded in snapshot.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kubetriage.bundle import RESOURCES, Bundle, ProbeFiles
from kubetriage.errors import KubetriageError


def prepare_directory(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise KubetriageError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not force:
        raise KubetriageError(f"{out} is not empty (use --force to write into it anyway)")
    out.mkdir(parents=True, exist_ok=True)


def _write_list(path: Path, objects: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write('{\n    "apiVersion": "v1",\n    "items": [')
        for i, obj in enumerate(objects):
            f.write(("," if i else "") + "\n        " + json.dumps(obj))
        f.write('\n    ],\n    "kind": "List",\n    "metadata": {"resourceVersion": ""}\n}\n')


def write_snapshot(bundle: Bundle, out: Path) -> list[str]:
    """Stream every resource, node file and pod log of ``bundle`` into ``out``; returns the
    sources written (as coverage names them: ``api/pods``, ``nodes/worker-1/kubelet.log``)."""
    written = []
    for resource in RESOURCES:
        if resource == "endpoints" and bundle.has_resource("endpointslices"):
            continue  # EndpointSlices supersede v1 Endpoints
        path = out / "api" / f"{resource}.json"
        _write_list(path, bundle.objects(resource))
        if bundle.has_resource(resource):
            written.append(f"api/{resource}")
        else:
            path.unlink()
    for node in bundle.node_files():
        for name, lines in node.logs.items():
            _write_lines(out / "nodes" / node.node / name, lines)
            written.append(f"nodes/{node.node}/{name}")
        for name, files in node.dirs.items():
            written.append(f"nodes/{node.node}/{name}")
            directory = out / "nodes" / node.node / name
            directory.mkdir(parents=True, exist_ok=True)  # an empty dir is evidence too
            for file_name, text in files.items():
                (directory / file_name).write_text(text, encoding="utf-8")
            written.append(f"nodes/{node.node}/{name}")
    for log in bundle.pod_logs():
        _write_lines(out / log.path, log.lines)
        written.append(log.path)
    written += write_probes(bundle.probes(), out / "probes")
    meta = {"format": "kubetriage/v1", "cluster": bundle.meta.cluster,
            "collected_at": bundle.meta.collected_at, "errors": [e.as_dict() for e in bundle.errors]}
    (out / "snapshot.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return written


def write_probes(probes: ProbeFiles, out: Path, started_at: str = "") -> list[str]:
    """probes/mesh.json streamed entry by entry, and the served chains; the sources written."""
    written = (["probes/mesh.json"] if probes.mesh is not None else []) + (["probes/tls"] if probes.tls else []) \
        + [f"probes/nodes/{node}" for node in probes.nodes]
    if probes.mesh is not None:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "mesh.json").open("w", encoding="utf-8") as f:
            f.write("{" + (f'"started_at": {json.dumps(started_at)}, ' if started_at else "") + '"probes": [')
            for i, entry in enumerate(probes.mesh):
                f.write(("," if i else "") + "\n  " + json.dumps(entry))
            f.write("\n]}\n")
    for name, text in probes.tls.items():
        (out / "tls").mkdir(parents=True, exist_ok=True)
        (out / "tls" / Path(name).name).write_text(text, encoding="utf-8")
    for node, files in probes.nodes.items():
        (out / "nodes" / node).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / "nodes" / node / Path(name).name).write_text(text, encoding="utf-8")
    return written


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
