"""Shared fixtures: paths to the demo snapshots and a CLI runner over the real entry point."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubetriage.knowledge import Knowledge
from tests.support import synth

from .apiserver import FakeApiServer

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = ROOT / "examples" / "rke2-outage"
HEALTHY = ROOT / "examples" / "healthy"
#: How many built-in rules a triage without active probes evaluates (computed: adding a rule must
#: not mean editing tests). Probe rules (tag probe) are opt-in: left out unless probes/ was collected.
RULE_COUNT = sum(1 for rule in Knowledge.load().rules if "probe" not in rule.tags)


#: Fixtures that need a part of the machine, and the markers that say so (`make test-fast` skips them).
_NEEDS = {"lab": ("sshd", "root")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, markers in _NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                for marker in markers:
                    item.add_marker(marker)


@pytest.fixture
def outage_copy(tmp_path: Path) -> Path:
    """A writable copy of the outage snapshot, to break in place."""
    return Path(shutil.copytree(OUTAGE, tmp_path / "snap"))


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubetriage() -> Run:
    """Run the installed CLI as a user would (a real subprocess, real exit codes)."""
    def run(*args: str | Path, check_json: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "kubetriage", *map(str, args)],
                              capture_output=True, text=True, timeout=600)  # generous: CI machines are loaded
        if check_json:
            json.loads(proc.stdout)
        return proc
    return run


def cni_rule_copy(directory: Path, rule_id: str, runbook: str, replace: dict[str, str] | None = None) -> Path:
    """A copy of NET-CNI-001 (binds only ``ds`` in every finding) under another id and runbook,
    with more text replacements (old -> new)."""
    text = (ROOT / "rules" / "cni" / "NET-CNI-001.yaml").read_text(encoding="utf-8")
    for old, new in {"id: NET-CNI-001": f"id: {rule_id}", "runbook: cni-daemonset-recovery": f"runbook: {runbook}",
                     **(replace or {})}.items():
        text = text.replace(old, new)
    path = directory / f"{rule_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def triage_json(run: Run, snapshot: Path, *extra: str) -> dict[str, Any]:
    proc = run("triage", "--snapshot", snapshot, "-o", "json", "--fail-on", "never", *extra)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def _endpoints_from_slices(root: Path) -> None:
    """v1 Endpoints equivalent to the EndpointSlices, for clusters without discovery.k8s.io."""
    slices = json.loads((root / "api" / "endpointslices.json").read_text())["items"]
    out = []
    for s in slices:
        ready = [{"ip": a} for e in s["endpoints"] if e["conditions"]["ready"] for a in e["addresses"]]
        unready = [{"ip": a} for e in s["endpoints"] if not e["conditions"]["ready"] for a in e["addresses"]]
        subset: dict[str, Any] = {"ports": [{"port": s["ports"][0]["port"], "protocol": "TCP"}]}
        if ready:
            subset["addresses"] = ready
        if unready:
            subset["notReadyAddresses"] = unready
        out.append({"apiVersion": "v1", "kind": "Endpoints", "subsets": [subset], "metadata": {
            "name": s["metadata"]["labels"]["kubernetes.io/service-name"],
            "namespace": s["metadata"]["namespace"]}})
    synth.write_list(root / "api" / "endpoints.json", out)


#: The log of a Running, Ready ingress controller (read live although nothing is wrong with the pod).
INGRESS_LOG = 'I1125 10:00:02.512016       7 nginx.go:271] "Starting NGINX Ingress controller"\n'


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeApiServer]:
    """The demo outage served live: its API objects, a TLS secret *with* its key, canal's logs."""
    data = tmp_path / "cluster"
    shutil.copytree(OUTAGE / "api", data / "api")
    _endpoints_from_slices(data)
    secrets = json.loads((data / "api" / "secrets.json").read_text())["items"]
    secrets[0]["data"]["tls.key"] = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nsecretstuff\n").decode()
    synth.write_list(data / "api" / "secrets.json", secrets)
    ingress = data / "logs" / "kube-system" / "rke2-ingress-nginx-controller-0abcd"
    ingress.mkdir(parents=True)
    (ingress / "rke2-ingress-nginx-controller.log").write_text(INGRESS_LOG)
    logs = data / "logs" / "kube-system" / "rke2-canal-x7k2p"
    logs.mkdir(parents=True)
    (logs / "calico-node.log").write_text("2026-11-25 10:30:01.123 [INFO] starting calico-node\n" * 300)
    (logs / "calico-node.previous.log").write_text(
        "2026-11-25 10:29:01.000 [ERROR] calico/node is not ready: BIRD is not ready\n")
    server = FakeApiServer(data).start(tmp_path)
    yield server
    server.stop()


