"""Hostile snapshots (issue 11): one table of broken copies of the demo snapshot, every file kind.

Each case runs the real CLI in a subprocess, under a timeout and an address-space
limit, and asserts: a located coverage error (or, for a format this version cannot
read, a located error and exit 2), no traceback, nothing from outside the snapshot
in the output, the documented exit code, and, where the input carries escape
sequences, none on the terminal.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import OUTAGE
from .test_snapshot import cluster_info_dump

#: Marks everything outside the snapshot: it must never reach the output.
CANARY = "canary-5f1e"
#: Generous, for a loaded CI machine; a hang still fails.
TIMEOUT = 240
#: The demo triage needs about 400 MB of address space; unbounded reads need gigabytes.
ADDRESS_SPACE = 1 << 30

Break = Callable[[Path, Path], object]  # (snapshot, a directory outside it); the result is unused


@dataclass(frozen=True)
class Case:
    id: str
    break_: Break
    target: str = ""  # the coverage error expected ('' for none in particular)
    message: str = ""
    exit: int = 0  # with --fail-on never: 0, 3 (nothing to judge) or 2 (refused, message on stderr)
    missing: str = ""  # a source that must count as not collected
    absent: str = ""  # a rule that must not fire (the false finding the bug produced)
    terminal: bool = False  # the input carries escape sequences: render the table too


def _edit(rel: str, change: Callable[[Any], Any]) -> Break:
    def apply(snap: Path, _: Path) -> None:
        path = snap / rel
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return apply


def _item(rel: str, index: int, change: Callable[[dict[str, Any]], None]) -> Break:
    def apply(doc: dict[str, Any]) -> dict[str, Any]:
        change(doc["items"][index])
        return doc
    return _edit(rel, apply)


def _replace(rel: str, make: Callable[[Path], object]) -> Break:
    """Remove whatever is at ``rel`` and let ``make`` put something else there."""
    def apply(snap: Path, _: Path) -> None:
        path = snap / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        make(path)
    return apply


def _write(rel: str, content: str | bytes) -> Break:
    return _replace(rel, lambda p: p.write_bytes(content if isinstance(content, bytes) else content.encode()))


def _link_out(rel: str, outside_rel: str) -> Break:
    def apply(snap: Path, outside: Path) -> None:
        _replace(rel, lambda p: p.symlink_to(outside / outside_rel))(snap, outside)
    return apply


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def apply(obj: dict[str, Any]) -> None:
        for key in keys[:-1]:
            obj = obj.setdefault(key, {})
        obj[keys[-1]] = value
    return apply


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _deep_item(snap: Path, _: Path) -> None:
    path = snap / "api" / "pods.json"
    text = path.read_text()
    path.write_text(text.replace('"items": [', '"items": [' + _nested(30_000) + ",", 1))


def _two_pods_one_bad_ip(doc: dict[str, Any]) -> dict[str, Any]:
    for pod in doc["items"][:2]:
        pod["status"]["podIP"] = "999.1.1.1/xx"
    return doc


def _every_resource_broken(snap: Path, _: Path) -> None:
    for path in (snap / "api").iterdir():
        path.write_text("[]")
    shutil.rmtree(snap / "nodes")


def _only_snapshot_yaml(snap: Path, _: Path) -> None:
    shutil.rmtree(snap / "api")
    shutil.rmtree(snap / "nodes")


def _sparse_gigabyte_log(snap: Path, _: Path) -> None:
    with (snap / "nodes" / "worker-2" / "kubelet.log").open("ab") as f:
        f.truncate(1 << 30)


def _huge_line_log(snap: Path, _: Path) -> None:
    path = snap / "nodes" / "worker-2" / "kubelet.log"
    original = path.read_bytes()
    with path.open("wb") as f:
        f.write(b"E1125 10:30:00.000000 1 kubelet.go:1] cni plugin not initialized " + b"x" * (32 << 20) + b"\n")
        f.write(original)


def _dump_namespace_link(snap: Path, outside: Path) -> None:
    dump = snap.parent / "dump"
    cluster_info_dump(OUTAGE, dump)
    shutil.rmtree(snap)
    dump.rename(snap)
    (snap / "evil").symlink_to(outside / "dump-namespace")


_ALIAS_BOMB = "format: kubetriage/v1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
_ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\x1b[5m"
_CNI_LINE = ('E1125 10:31:02.118304    1187 kubelet.go:2900] "Container runtime network not ready" '
             'networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns '
             'error: cni plugin not initialized"')

CASES = [
    # api/<resource>.json: not JSON, not a List, wrong types at each level, too big or too deep
    Case("json-truncated", lambda s, _: (s / "api/pods.json").write_text((s / "api/pods.json").read_text()[:3000]),
         "api/pods.json", "line ", missing="api/pods"),
    Case("json-bare-array", _edit("api/services.json", lambda d: d["items"]),
         "api/services.json", "expected a List (kubectl get services -A -o json), found a JSON array",
         missing="api/services", absent="NET-SVC-001"),
    Case("json-empty-array", _write("api/services.json", "[]"), "api/services.json", "found a JSON array",
         missing="api/services", absent="NET-SVC-001"),
    Case("json-string", _write("api/services.json", '"services"'), "api/services.json", "found a JSON string",
         missing="api/services", absent="NET-ING-001"),
    Case("json-items-object", _edit("api/services.json", lambda d: {**d, "items": {"x": d["items"][0]}}),
         "api/services.json", "found items that is a JSON object, not a list", missing="api/services"),
    Case("json-items-null", _edit("api/pods.json", lambda d: {**d, "items": None}),
         "api/pods.json", "found items that is a JSON null", missing="api/pods"),
    Case("json-item-string", _edit("api/pods.json", lambda d: {**d, "items": ["pod", *d["items"]]}),
         "api/pods.json", "items[0]: a JSON string, not an object: skipped"),
    Case("json-nul-byte", lambda s, _: (s / "api/events.json").write_bytes(
        (s / "api/events.json").read_bytes().replace(b'"Warning"', b'"Warn\x00ing"', 1)),
         "api/events.json", "line ", missing="api/events"),
    Case("json-invalid-utf8", lambda s, _: (s / "api/events.json").write_bytes(
        (s / "api/events.json").read_bytes().replace(b'"Warning"', b'"Warn\xff\xfeing"', 1)),
         "api/events.json", "not UTF-8", missing="api/events"),
    Case("json-5001-digit-integer", lambda s, _: (s / "api/events.json").write_text(
        (s / "api/events.json").read_text().replace('"count": ', '"count": ' + "9" * 5001, 1)),
         "api/events.json", "integer overflow", missing="api/events"),
    Case("json-nested-30k", _deep_item, "api/pods.json", "items[0]: nested deeper than 100 levels"),
    Case("json-unknown-kind", _write("api/ingresses.json", '{"kind": "Ingress\\u001b[2J", "metadata": {}}'),
         "api/ingresses.json", "found kind Ingress\\x1b[2J", missing="api/ingresses", terminal=True),
    # one malformed object: skipped with file, object and field; the rest is triaged
    Case("pod-status-list", _item("api/pods.json", 7, _set("status", [])),
         "api/pods", "item 7 (shop/web-7d9f8c6b5-abcde): status: expected a mapping, found a list"),
    Case("node-status-string", _item("api/nodes.json", 0, _set("status", "broken")),
         "api/nodes", "status: expected a mapping, found the string 'broken'"),
    Case("node-conditions-object", _item("api/nodes.json", 1, _set("status.conditions", {"type": "Ready"})),
         "api/nodes", "status.conditions: expected a list, found a mapping"),
    Case("service-selector-list", _item("api/services.json", 0, _set("spec.selector", ["app=web"])),
         "api/services", "spec.selector: expected a mapping, found a list"),
    Case("pod-restart-count-lots", _item("api/pods.json", 4, lambda p: p["status"]["containerStatuses"][0]
                                         .update(restartCount="lots")),
         "api/pods", "status.containerStatuses[0].restartCount: expected an integer, found the string 'lots'"),
    Case("daemonset-status-many", _item("api/daemonsets.json", 0, _set("status", "many")),
         "api/daemonsets", "status: expected a mapping, found the string 'many'"),
    Case("event-count-x", _item("api/events.json", 0, _set("count", "x")),
         "api/events", "count: expected an integer, found the string 'x'"),
    Case("pod-ip-invalid", _edit("api/pods.json", _two_pods_one_bad_ip),
         "api/pods", "status.podIP: expected an IP address, found the string '999.1.1.1/xx'", absent="NET-CNI-011"),
    Case("object-name-escapes", _item("api/pods.json", 8, _set("metadata.name", "web 1" + _ESCAPES)),
         "api/pods", "metadata.name: expected a name", terminal=True),
    Case("event-message-480k", _item("api/events.json", 0, _set("message", "cni plugin not initialized "
                                                                  + "y" * 480_000))),
    # node files: links out of the snapshot, devices, FIFOs, directories, names, sizes
    Case("log-links-to-shadow", _link_out("nodes/worker-2/kubelet.log", "shadow"),
         "nodes/worker-2/kubelet.log", "a link that leads outside the snapshot"),
    Case("ipam-links-to-etc", _link_out("nodes/worker-1/ipam", "etc"),
         "nodes/worker-1/ipam", "a link that leads outside the snapshot"),
    Case("api-links-elsewhere", _link_out("api", "api"), "api", "a link that leads outside the snapshot"),
    Case("node-dir-traversal", lambda s, _: (s / "nodes" / "worker-9").symlink_to("../../../.."),
         "nodes/worker-9", "a link that leads outside the snapshot"),
    Case("cni-links-to-device", _link_out("nodes/worker-1/cni/10-canal.conflist", "zero"),
         "nodes/worker-1/cni/10-canal.conflist", "a link that leads outside the snapshot"),
    Case("log-is-fifo", _replace("nodes/worker-2/kubelet.log", os.mkfifo),
         "nodes/worker-2/kubelet.log", "a FIFO: not read"),
    Case("log-is-directory", _replace("nodes/worker-2/kubelet.log", lambda p: p.mkdir()),
         "nodes/worker-2/kubelet.log", "a directory where a file belongs"),
    Case("resource-is-directory", _replace("api/pods.json", lambda p: p.mkdir()),
         "api/pods.json", "a directory where a file belongs", missing="api/pods"),
    Case("node-name-control-chars", _write("nodes/worker-\x1b]0;x\x07/kubelet.log", _CNI_LINE + "\n"),
         "nodes/worker-\\x1b]0;x\\x07", "not a valid name", terminal=True),
    Case("cni-file-name-newline", _write("nodes/worker-1/cni/a\nb.conf", "{}"),
         "nodes/worker-1/cni/a\\nb.conf", "not a valid name"),
    Case("log-escape-sequences", _write("nodes/worker-2/kubelet.log", (_CNI_LINE + _ESCAPES + "\n") * 3),
         terminal=True),
    Case("log-64mb-line", _huge_line_log, "nodes/worker-2/kubelet.log", "line(s) longer than 8192 bytes"),
    Case("log-1gb", _sparse_gigabyte_log, "nodes/worker-2/kubelet.log", "only the last 67108864 read"),
    Case("ipam-5mb", _write("nodes/worker-1/ipam/k8s-pod-network", "10.42.1.9\n" * 500_000),
         "nodes/worker-1/ipam/k8s-pod-network", "larger than 4194304 bytes: not read"),
    Case("cni-nested-100k", _write("nodes/worker-1/cni/10-canal.conflist", "[" * 100_000 + "]" * 100_000)),
    Case("dump-namespace-links-out", _dump_namespace_link, "evil", "a link that leads outside the snapshot"),
    # probes/: what an active probe wrote (mesh.json, served chains)
    Case("probes-links-elsewhere", _link_out("probes", "probes"), "probes", "a link that leads outside the snapshot"),
    Case("probes-mesh-links-out", _link_out("probes/mesh.json", "probes/mesh.json"),
         "probes/mesh.json", "a link that leads outside the snapshot"),
    Case("probes-mesh-bare-array", _write("probes/mesh.json", "[]"), "probes/mesh.json", "found a JSON array"),
    Case("probes-mesh-truncated", _write("probes/mesh.json", '{"probes": [\n{"kind": "mtu",'),
         "probes/mesh.json", "line 2"),
    Case("probes-entry-string", _write("probes/mesh.json", '{"probes": ["x"]}'),
         "probes/mesh.json", "probes[0]: expected an object, got str"),
    Case("probes-entry-nested-30k", _write("probes/mesh.json", '{"probes": [' + _nested(30_000) + "]}"),
         "probes/mesh.json", "probes[0]: nested deeper than 100 levels"),
    Case("probes-node-escapes", _write("probes/mesh.json", json.dumps({"probes": [
        {"kind": "pod-to-pod", "from": {"node": "w1" + _ESCAPES}, "to": {"node": "w2"}, "sent": 3, "received": 0}]})),
         terminal=True),
    Case("probes-pem-300k", _write("probes/tls/shop.example.com_443.pem", "A" * 300_000),
         "probes/tls/shop.example.com_443.pem", "larger than 262144 bytes: not read"),
    Case("probes-pem-fifo", _replace("probes/tls/shop.example.com_443.pem", os.mkfifo),
         "probes/tls/shop.example.com_443.pem", "a FIFO: not read"),
    Case("probes-node-file-links-out", _link_out("probes/nodes/worker-1/route.json", "shadow"),
         "probes/nodes/worker-1/route.json", "a link that leads outside the snapshot"),
    Case("probes-node-file-not-json", _write("probes/nodes/worker-1/link.json", '[{"ifname": "eth0",'),
         "probes/nodes/worker-1/link.json", "not JSON"),
    Case("probes-node-file-5mb", _write("probes/nodes/worker-1/route.json",
                                        "[" + '{"dst": "default"},' * 250_000 + "{}]"),
         "probes/nodes/worker-1/route.json", "larger than 4194304 bytes: not read"),
    Case("probes-node-name-escapes", _write("probes/nodes/w\x1b]0;x\x07/link.json", "[]"),
         "probes/nodes/w\\x1b]0;x\\x07", "not a valid name", terminal=True),
    Case("probes-pem-name-traversal", _write("probes/tls/..evil_443.pem", "x"),
         "probes/tls/..evil_443.pem", "not a valid name"),
    # snapshot.yaml
    Case("yaml-alias-bomb", _write("snapshot.yaml", _ALIAS_BOMB), "snapshot.yaml", "invalid YAML"),
    Case("yaml-invalid-utf8", _write("snapshot.yaml", b"format: kubetriage/v1\ncluster: \xff\xfe\n"),
         "snapshot.yaml", "line 2, column 10: not UTF-8 text (byte 0xff)"),
    Case("yaml-collected-at-number", _write("snapshot.yaml", "collected_at: 12345\n"),
         "snapshot.yaml", "collected_at: '12345' is not an RFC 3339 timestamp"),
    Case("yaml-5001-digit-integer", _write("snapshot.yaml", "cluster: " + "9" * 5001 + "\n"),
         "snapshot.yaml", "invalid YAML"),
    Case("yaml-no-collected-at", _write("snapshot.yaml", "cluster: x\n"), "snapshot.yaml",
         "no collected_at: time-based rules evaluated at 2026-11-25T"),
    Case("yaml-links-to-shadow", _link_out("snapshot.yaml", "shadow"),
         "snapshot.yaml", "a link that leads outside the snapshot"),
    Case("yaml-unknown-format", _write("snapshot.yaml", "format: kubetriage/v7\n"),
         message="unsupported format 'kubetriage/v7'", exit=2),
    # nothing to judge: exit 3, never a green "No findings."
    Case("only-snapshot-yaml", _only_snapshot_yaml, exit=3, terminal=True),
    Case("every-resource-broken", _every_resource_broken, "api/pods.json", "found a JSON array", exit=3),
]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files a hostile snapshot points at: each would put the canary into the output if read."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "shadow").write_text(f"root:{CANARY}:19000:0:99999:7:::\n{_CNI_LINE} {CANARY}\n")
    (out / "zero").write_text(CANARY)
    (out / "etc").mkdir()
    (out / "etc" / "k8s-pod-network").write_text(f"10.42.1.9\n{CANARY}\n")
    shutil.copytree(OUTAGE / "api", out / "api")
    pods = json.loads((out / "api" / "pods.json").read_text())
    for pod in pods["items"]:
        pod["metadata"]["name"] += f"-{CANARY}"
    (out / "api" / "pods.json").write_text(json.dumps(pods))
    (out / "probes").mkdir()
    (out / "probes" / "mesh.json").write_text(json.dumps({"probes": [
        {"kind": "pod-to-pod", "from": {"node": f"w1-{CANARY}"}, "to": {"node": f"w2-{CANARY}"}, "error": "x"}]}))
    (out / "dump-namespace").mkdir()
    (out / "dump-namespace" / "pods.json").write_text((out / "api" / "pods.json").read_text())
    return out


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def triage_bounded(snapshot: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a subprocess with a timeout and a bounded address space."""
    return subprocess.run(
        [sys.executable, "-m", "kubetriage", "triage", "--snapshot", str(snapshot), "--fail-on", "never", *args],
        capture_output=True, timeout=TIMEOUT, preexec_fn=_limit_memory, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_snapshot(case: Case, outage_copy: Path, outside: Path) -> None:
    case.break_(outage_copy, outside)
    proc = triage_bounded(outage_copy, "-o", "json")
    stdout, stderr = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert CANARY not in stdout + stderr
    assert proc.returncode == case.exit, stderr
    if case.exit == 2:
        assert case.message in stderr
        return
    report = json.loads(stdout)
    coverage = report["coverage"]  # coverage first: a failure here names its cause
    if case.target:
        located = [e for e in coverage["errors"] if e["target"] == case.target]
        assert any(case.message in e["message"] for e in located), coverage["errors"]
    if case.missing:
        assert case.missing in coverage["missing"] and case.missing not in coverage["collected"]
    if case.absent:
        assert case.absent not in {f["rule_id"] for f in report["findings"]}
    assert bool(coverage["too_little"]) == (case.exit == 3)
    if case.terminal:
        table = triage_bounded(outage_copy)
        assert b"\x1b" not in table.stdout + table.stderr and b"\x07" not in table.stdout + table.stderr
        assert (b"Nothing to judge" in table.stdout) == (case.exit == 3)


@pytest.mark.root
def test_a_device_inside_the_snapshot_is_never_opened(outage_copy: Path) -> None:
    """A character device inside the snapshot (root only: mknod) is refused, never opened."""
    device = outage_copy / "nodes" / "worker-1" / "cni" / "99-null.conf"
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    report = json.loads(triage_bounded(outage_copy, "-o", "json").stdout)
    assert {"source": "snapshot", "target": "nodes/worker-1/cni/99-null.conf",
            "message": "a character device: not read"} in report["coverage"]["errors"]
