"""Snapshot reading: both layouts, streaming, malformed input reported, tls.key never kept."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.errors import SnapshotError
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.common import parse_time, rfc3339
from kubetriage.triage import resolve_now, run_rules
from tests.support import synth

from .conftest import OUTAGE, Run, triage_json


def cluster_info_dump(source: Path, target: Path) -> Path:
    """Lay out a snapshot the way `kubectl cluster-info dump --output-directory` does."""
    target.mkdir()
    (target / "nodes.json").write_text((source / "api" / "nodes.json").read_text())
    for resource in ("pods", "services", "daemonsets", "deployments", "events"):
        items = json.loads((source / "api" / f"{resource}.json").read_text())["items"]
        by_ns: dict[str, list[dict[str, object]]] = {}
        for item in items:
            by_ns.setdefault(item["metadata"]["namespace"], []).append(item)
        for ns in ("default", "kube-system", "shop"):
            synth.write_list(target / ns / f"{resource}.json", by_ns.get(ns, []))
    (target / "kube-system" / "rke2-canal-x7k2p").mkdir()
    (target / "kube-system" / "rke2-canal-x7k2p" / "logs.txt").write_text("calico-node crashed\n")
    return target


def test_native_layout_streams_every_resource() -> None:
    bundle = SnapshotBundle(OUTAGE)
    assert bundle.meta.cluster == "rke2-prod"
    assert bundle.meta.collected_at == "2026-11-25T10:32:00Z"
    names = [p["metadata"]["name"] for p in bundle.objects("pods")]
    assert "rke2-canal-x7k2p" in names and len(names) == 10
    assert bundle.has_resource("endpointslices") and not bundle.has_resource("endpoints")
    nodes = {n.node: n for n in bundle.node_files()}
    assert sorted(nodes) == ["cp-1", "worker-1", "worker-2"]
    assert "cni" not in nodes["worker-2"].dirs and "10-canal.conflist" in nodes["worker-1"].dirs["cni"]
    assert any("cni plugin not initialized" in line for line in nodes["worker-2"].logs["kubelet.log"])


def test_cluster_info_dump_is_detected_and_triaged(tmp_path: Path, kubetriage: Run) -> None:
    dump = cluster_info_dump(OUTAGE, tmp_path / "dump")
    bundle = SnapshotBundle(dump)
    assert len(list(bundle.objects("pods"))) == 10
    assert not bundle.has_resource("ingresses")
    report = triage_json(kubetriage, dump, "--now", "2026-11-25T10:32:00Z")
    # No node files in a dump: the CNI failure on worker-2 is read from the pods' events.
    assert [(f["rule_id"], f["root_cause"]) for f in report["findings"]] == [
        ("NET-CNI-001", True), ("NET-CNI-002", False)]
    assert "api/ingresses" in report["coverage"]["missing"]
    skipped = {n["rule_id"]: n["missing"] for n in report["coverage"]["not_evaluated"]}
    assert "api/ingresses" in skipped["NET-ING-006"]  # NET-ING-005 may also run on controller logs


def test_malformed_json_is_a_located_coverage_error_and_triage_goes_on(outage_copy: Path,
                                                                       kubetriage: Run) -> None:
    path = outage_copy / "api" / "services.json"
    text = path.read_text().splitlines()
    text[5] = text[5].replace('"', "", 1)  # break a key's opening quote on line 6
    path.write_text("\n".join(text))
    report = triage_json(kubetriage, outage_copy)
    (error,) = report["coverage"]["errors"]
    assert error["target"] == "api/services.json"
    assert error["message"].startswith("line 6, column ")
    assert "api/services" in report["coverage"]["missing"]
    assert {f["rule_id"] for f in report["findings"]} >= {"NET-CNI-001", "NET-ING-005"}
    # NET-ING-001 has a controller-log alternative; NET-SVC-001 needs Services alone
    assert "NET-SVC-001" in {n["rule_id"] for n in report["coverage"]["not_evaluated"]}


def test_a_single_object_instead_of_a_list_is_explained(outage_copy: Path) -> None:
    (outage_copy / "api" / "ingresses.json").write_text(json.dumps({"kind": "Ingress", "metadata": {}}))
    bundle = SnapshotBundle(outage_copy)
    assert list(bundle.objects("ingresses")) == []
    (error,) = bundle.errors
    assert "expected a List (kubectl get ingresses -A -o json), found kind Ingress" in error.message
    assert not bundle.has_resource("ingresses")


def test_not_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "random.txt").write_text("hello")
    with pytest.raises(SnapshotError, match=r"not a snapshot\. Expected snapshot\.yaml"):
        SnapshotBundle(tmp_path)


def test_bad_snapshot_yaml_is_a_located_error_and_the_triage_goes_on(outage_copy: Path) -> None:
    (outage_copy / "snapshot.yaml").write_text("format: kubetriage/v1\ncluster: [unclosed\n")
    bundle = SnapshotBundle(outage_copy)
    (error,) = bundle.errors
    assert (error.target, error.message[:30]) == ("snapshot.yaml", "line 3, column 1: invalid YAML")
    assert bundle.meta.cluster == "" and len(list(bundle.objects("pods"))) == 10


def test_unknown_snapshot_format_is_refused(outage_copy: Path) -> None:
    (outage_copy / "snapshot.yaml").write_text("format: kubetriage/v9\n")
    with pytest.raises(SnapshotError, match=r"unsupported format 'kubetriage/v9'"):
        SnapshotBundle(outage_copy)


def test_tls_key_is_never_kept(outage_copy: Path) -> None:
    cert, key = synth.certificate("a.example.com", ["a.example.com"], "2026-01-01T00:00:00Z",
                                  "2027-01-01T00:00:00Z")
    synth.write_list(outage_copy / "api" / "secrets.json", [synth.tls_secret("shop", "shop-tls", cert, key)])
    assert b"PRIVATE KEY" in base64.b64decode(
        json.loads((outage_copy / "api" / "secrets.json").read_text())["items"][0]["data"]["tls.key"])
    (secret,) = SnapshotBundle(outage_copy).objects("secrets")
    assert secret["data"]["tls.key"] is None
    assert secret["data"]["tls.crt"]


def test_namespace_option_is_honoured_with_a_snapshot(kubetriage: Run) -> None:
    report = triage_json(kubetriage, OUTAGE, "-n", "shop")
    namespaced = [s.split("/") for f in report["findings"] for s in f["subjects"] if s.count("/") == 2]
    assert namespaced and {ns for _, ns, _ in namespaced} == {"shop"}
    bundle = SnapshotBundle(OUTAGE, namespace="shop")
    assert {p["metadata"]["namespace"] for p in bundle.objects("pods")} == {"shop"}
    assert len(list(bundle.objects("nodes"))) == 3  # cluster-scoped: always read


def test_without_collected_at_the_newest_timestamp_is_used_and_said(outage_copy: Path) -> None:
    (outage_copy / "snapshot.yaml").write_text("cluster: rke2-prod\n")
    bundle = SnapshotBundle(outage_copy)
    now = resolve_now(bundle, None)
    events = json.loads((OUTAGE / "api" / "events.json").read_text())["items"]
    assert now == max(filter(None, (parse_time(e["lastTimestamp"]) for e in events)))  # never the wall clock
    (note,) = bundle.errors
    assert note.target == "snapshot.yaml" and f"evaluated at {rfc3339(now)}" in note.message


def test_a_subject_is_never_split_at_a_space() -> None:
    rules = [r for r in Knowledge.load().rules if r.id == "NET-CNI-011"]
    pod = {"kind": "pod_ip_anomaly", "namespace": "shop", "name": "web 1", "node": "worker-1", "ip": "10.42.1.5",
           "problem": "duplicate", "other": "shop/web-2 on worker-1", "pod_cidr": "10.42.1.0/24"}
    (finding,) = run_rules(rules, [pod], engine="oracle")
    assert "Pod/shop/web 1" in finding.subjects and "1" not in finding.subjects
