"""Fleets: several kubeconfig contexts triaged concurrently against two live API-server fixtures,
one more context unreachable; one summary, JSON keyed by cluster, the worst exit code."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .apiserver import FakeApiServer
from .conftest import HEALTHY, Run

NOW = ("--now", "2026-11-25T10:32:00Z")


@pytest.fixture
def fleet(cluster: FakeApiServer, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig with contexts ``outage`` and ``healthy`` (two live fixtures) and ``down``
    (a port nothing listens on)."""
    (tmp_path / "healthy").mkdir()
    healthy = FakeApiServer(HEALTHY).start(tmp_path / "healthy")
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    docs = [yaml.safe_load(server.kubeconfig(tmp_path / f"{name}.yaml", name).read_text())
            for name, server in (("outage", cluster), ("healthy", healthy), ("down", cluster))]
    docs[2]["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{refused.getsockname()[1]}"
    merged = {**docs[0], **{key: [item for doc in docs for item in doc[key]]
                            for key in ("clusters", "users", "contexts")}}
    kubeconfig = tmp_path / "fleet.yaml"
    kubeconfig.write_text(yaml.safe_dump(merged))
    yield kubeconfig
    healthy.stop()
    refused.close()


def test_fleet_json_is_keyed_by_cluster_and_exits_with_the_worst(fleet: Path, kubetriage: Run,
                                                                 cluster: FakeApiServer) -> None:
    proc = kubetriage("triage", "--kubeconfig", fleet, "--context", "outage", "--context", "healthy",
                      "--context", "down", "-o", "json", "--fail-on", "critical", *NOW)
    report = json.loads(proc.stdout)
    assert list(report) == ["outage", "healthy", "down"]
    outage, healthy, down = report.values()
    assert [f["rule_id"] for f in outage["findings"] if f["root_cause"]] == ["NET-CNI-001", "NET-ING-005"]
    assert (outage["worst_severity"], outage["exit_code"], outage["cluster"]) == ("critical", 1, "outage")
    assert (healthy["findings"], healthy["worst_severity"], healthy["exit_code"]) == ([], None, 0)
    assert healthy["coverage"]["errors"] == [] and "api/pods" in healthy["coverage"]["collected"]
    assert down["exit_code"] == 3 and down["coverage"]["too_little"]
    assert {"nodes", "pods"} <= {e["target"] for e in down["coverage"]["errors"]}
    assert proc.returncode == 3, proc.stderr  # a cluster nobody could judge outweighs findings elsewhere
    assert "kubetriage: down: NOTHING TO JUDGE" in proc.stderr
    assert any(r.resource == "pods" for r in cluster.requests)


def test_fleet_table_from_all_contexts_and_a_context_that_does_not_exist(fleet: Path, kubetriage: Run) -> None:
    proc = kubetriage("triage", "--kubeconfig", fleet, "--all-contexts", "--fail-on", "never", *NOW)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["CLUSTER", "ROOT", "CAUSES", "WORST", "FINDINGS", "COVERAGE"]
    outage, healthy, down = (next(line for line in lines if line.startswith(name)) for name in
                             ("outage", "healthy", "down"))
    assert "2: NET-CNI-001, NET-ING-005" in outage and "critical" in outage and "0 errors" in outage
    assert healthy.split()[1:4] == ["0", "none", "0"]
    assert "NOTHING TO JUDGE" in down
    missing = kubetriage("triage", "--kubeconfig", fleet, "--context", "healthy", "--context", "nope",
                         "-o", "json", *NOW)
    report = json.loads(missing.stdout)
    assert report["healthy"]["exit_code"] == 0
    assert report["nope"]["exit_code"] == 2 and "nope" in report["nope"]["error"]
    assert missing.returncode == 2
    assert "several contexts" in kubetriage("triage", "--kubeconfig", fleet, "--all-contexts",
                                            "-o", "markdown").stderr
