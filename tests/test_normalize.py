"""Normalizers: compact facts from real-looking objects; healthy pods are counted, not listed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.facts import FactBase
from kubetriage.normalize import normalize
from kubetriage.normalize.common import line_time, pod_ip_capacity
from kubetriage.normalize.nodefiles import cni_config_fact
from kubetriage.normalize.signatures import SignatureCatalog
from tests.support import synth

from .conftest import OUTAGE

NOW = datetime(2026, 11, 25, 10, 32, tzinfo=timezone.utc)
SIGNATURES = SignatureCatalog.load()


def _facts(root: Path) -> FactBase:
    return normalize(SnapshotBundle(root), NOW, SIGNATURES)


def _one(base: FactBase, kind: str, **match: Any) -> dict[str, Any]:
    (fact,) = [f for f in base.of_kind(kind) if all(f[k] == v for k, v in match.items())]
    return fact


def test_every_fact_conforms_to_the_catalog() -> None:
    for fact in _facts(OUTAGE).facts:
        spec = CATALOG[fact["kind"]]
        assert set(fact) - {"kind"} == set(spec.fields), fact["kind"]


def test_outage_facts() -> None:
    base = _facts(OUTAGE)
    assert _one(base, "workload", name="rke2-canal")["not_ready"] == 1
    assert _one(base, "workload", name="rke2-canal")["role"] == "cni"
    assert _one(base, "workload", name="rke2-ingress-nginx-controller")["role"] == "ingress-controller"
    pods = {p["name"] for p in base.of_kind("pod")}
    assert pods == {"rke2-canal-x7k2p", "web-7d9f8c6b5-k2x9m", "cart-6c8d9f7b4-q8w2e"}  # only unhealthy
    cart = _one(base, "service", name="cart")
    assert (cart["matching_pods"], cart["ready_endpoints"]) == (1, 0)
    web = _one(base, "service", name="web")
    assert (web["matching_pods"], web["ready_endpoints"]) == (2, 1)
    worker2 = _one(base, "node", name="worker-2")
    assert (worker2["pod_ip_capacity"], worker2["pods_with_ip"]) == (253, 3)
    cert = _one(base, "tls_certificate", secret_name="shop-tls")
    assert cert["expired"] and cert["days_left"] == -3 and cert["sans"] == ["shop.example.com",
                                                                           "www.shop.example.com"]
    hit = _one(base, "signature_hit", node="worker-2", source="kubelet-log")
    assert (hit["signature"], hit["count"], hit["first_seen"]) == (
        "cni-config-uninitialized", 12, "2026-11-25T10:02:02Z")
    assert _one(base, "cni_config", node="worker-1")["plugin_types"] == "calico,portmap,bandwidth"
    cluster = _one(base, "cluster")
    assert (cluster["distro"], cluster["nodes"], cluster["lb_controllers"]) == ("rke2", 3, 0)


def test_ipam_reservations_held_by_no_pod_are_leaked(tmp_path: Path) -> None:
    nodes = [synth.node("w1", "10.0.0.1", "10.42.1.0/29")]
    pods = [synth.pod("a", "p1", "w1", ip="10.42.1.2"), synth.pod("a", "p2", "w1", ip="10.42.1.3")]
    synth.write_list(tmp_path / "api" / "nodes.json", nodes)
    synth.write_list(tmp_path / "api" / "pods.json", pods)
    (tmp_path / "nodes" / "w1" / "ipam").mkdir(parents=True)
    (tmp_path / "nodes" / "w1" / "ipam" / "cbr0").write_text(
        "10.42.1.2\n10.42.1.3\n10.42.1.4\n10.42.1.5\n10.42.1.6\nlast_reserved_ip.0\nlock\n")
    base = _facts(tmp_path)
    ipam = _one(base, "ipam_usage", node="w1")
    assert (ipam["reserved"], ipam["capacity"], ipam["use_percent"], ipam["leaked"]) == (5, 5, 100, 3)
    assert _one(base, "node", name="w1")["ip_use_percent"] == 40


def test_cni_config_parse_errors_are_located() -> None:
    fact = cni_config_fact("w1", {"10-x.conflist": '{"name": "x", "plugins": [{"type": "bridge"}',
                                  "calico-kubeconfig": "not a config"})
    assert fact["files"] == 1 and not fact["valid"]
    assert fact["error"].startswith("10-x.conflist: Expecting ',' delimiter at line 1")
    assert cni_config_fact("w1", {})["valid"] is False


def test_log_timestamps() -> None:
    now = datetime(2026, 11, 25, 10, 32, tzinfo=timezone.utc)
    journald = "2026-11-25T10:31:02+0000 worker-2 kubelet[1187]: E1125 x"
    assert line_time(journald, now) == "2026-11-25T10:31:02Z"
    assert line_time("E1125 10:31:02.118304    1187 kubelet.go:2855] x", now) == "2026-11-25T10:31:02Z"
    assert line_time("Nov 25 10:31:02 worker-2 kubelet[1]: I1125 10:31:02.1 1 x", now) == "2026-11-25T10:31:02Z"
    assert line_time("Dec 31 23:59:59 worker-2 kubelet[1]: x", now) == "2025-12-31T23:59:59Z"  # not a future line
    new_year = datetime(2027, 1, 1, 0, 5, tzinfo=timezone.utc)
    assert line_time("E1231 23:58:00.1 1 kubelet.go:2855] x", new_year) == "2026-12-31T23:58:00Z"
    assert line_time("E0229 10:00:00.1 1 x", now) == ""  # no 29 February within a year: undated, so current
    assert line_time("bird: Mesh_10_116_0_3: State changed to up", now) == ""
    assert (pod_ip_capacity("10.42.0.0/24"), pod_ip_capacity("fd00::/120"), pod_ip_capacity("bad")) == (
        253, 254, 0)


def test_duplicate_facts_are_stored_once() -> None:
    base = FactBase()
    fact = CATALOG["event"].make(namespace="a", object_kind="Pod", object_name="p", reason="r",
                                 message="m", count=1, last_seen="")
    base.add(fact)
    base.add(dict(fact))
    assert len(base.facts) == 1


def test_controller_log_hits_name_their_object_and_the_logging_role(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ingress-nginx" / "ingress-nginx-controller-7d9f8-x2x4q" / "controller.log"
    log.parent.mkdir(parents=True)
    (tmp_path / "snapshot.yaml").write_text("format: kubetriage/v1\n")
    log.write_text('W1125 10:20:00.1 7 controller.go:1468] Error getting SSL certificate "shop/shop-tls": local SSL '
                   'certificate shop/shop-tls was not found. Using default certificate\n'
                   'W1125 10:21:00.1 7 controller.go:1468] Error getting SSL certificate "blog/blog-tls": local SSL '
                   'certificate blog/blog-tls was not found. Using default certificate\n')
    hits = _facts(tmp_path).of_kind("signature_hit")
    assert {(h["object_kind"], h["object_namespace"], h["object_name"], h["role"]) for h in hits} == {
        ("Secret", "shop", "shop-tls", "ingress-controller"), ("Secret", "blog", "blog-tls", "ingress-controller")}
