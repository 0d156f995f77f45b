"""Endpoint probes against real TLS/HTTP listeners on 127.0.0.1: SNI picks the certificate (one
host gets the controller's fake default), paths answer real status codes, a dead LB port."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubetriage.collectors.endpoints import endpoint_probes
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.triage import triage
from tests.support import synth

from .test_probe_facts import KNOWLEDGE, NOW, _snapshot

STATUS = {"/": 200, "/cart": 503, "/api": 502, "/slow": 504}


def _write(tmp: Path, name: str, cn: str, sans: list[str]) -> tuple[bytes, Path, Path]:
    cert, key = synth.certificate(cn, sans, "2026-10-01T00:00:00Z", "2027-10-01T00:00:00Z")
    (tmp / f"{name}.crt").write_bytes(cert)
    (tmp / f"{name}.key").write_bytes(key)
    return cert, tmp / f"{name}.crt", tmp / f"{name}.key"


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """An 'ingress controller': the shop certificate for shop.example.com, the fake default otherwise."""
    shop, shop_crt, shop_key = _write(tmp_path, "shop", "shop.example.com", ["shop.example.com"])
    _, fake_crt, fake_key = _write(tmp_path, "fake", "Kubernetes Ingress Controller Fake Certificate",
                                   ["ingress.local"])
    shop_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    shop_ctx.load_cert_chain(shop_crt, shop_key)
    default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    default.load_cert_chain(fake_crt, fake_key)

    def pick(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        if name == "shop.example.com":
            sock.context = shop_ctx

    default.sni_callback = pick

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            known = self.headers.get("Host") == "shop.example.com"
            self.send_response(STATUS.get(self.path, 404) if known else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = default.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], shop
    server.shutdown()
    server.server_close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_endpoint_probes_find_fake_certificate_bad_paths_and_a_dead_lb(controller: tuple[int, bytes],
                                                                       tmp_path: Path) -> None:
    port, shop_cert = controller
    lb = {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": port, "protocol": "TCP"}]}]}
    paths = [("shop.example.com", p, "web", 80) for p in STATUS] + [("admin.example.com", "/", "admin", 80)]
    ingress = synth.ingress("shop", "storefront", class_name="nginx", rules=paths,
                            tls=[("shop-tls", ["shop.example.com", "admin.example.com"])])
    ingress["status"] = {"loadBalancer": lb}
    dead = _dead_port()
    service = synth.service("shop", "web-lb", {"app": "web"}, type_="LoadBalancer", lb_ip="127.0.0.1",
                            ports=[{"name": "http", "port": dead, "targetPort": 8080}])
    entries, chains = endpoint_probes([ingress], [service], timeout=5)
    statuses = {e["to"]["host"] + e["to"]["path"]: e["status"] for e in entries if e["kind"] == "ingress-path"}
    assert statuses == {**{f"shop.example.com{p}": s for p, s in STATUS.items()}, "admin.example.com/": 404}
    [lb_entry] = [e for e in entries if e["kind"] == "loadbalancer"]
    assert lb_entry["error"] and str(dead) in lb_entry["error"]
    assert set(chains) == {f"shop.example.com_{port}.pem", f"admin.example.com_{port}.pem"}

    snap = _snapshot(tmp_path / "snap", entries, {n: t.encode() for n, t in chains.items()}, api={
        "ingresses": [ingress], "secrets": [synth.tls_secret("shop", "shop-tls", shop_cert)],
        "services": [service, synth.service("shop", "web", {"app": "web"}, ports=[{"port": 80}])]})
    assert NOW is not None
    found = {(f.rule_id, f.summary.split(" ")[0]) for f in triage(SnapshotBundle(snap), KNOWLEDGE, NOW).findings
             if f.rule_id.startswith("NET-PROBE")}  # NET-ING-007: the Secret's SANs miss admin.example.com
    assert found == {("NET-PROBE-007", f"admin.example.com:{port}"), ("NET-PROBE-008", "shop.example.com/cart"),
                     ("NET-PROBE-008", "shop.example.com/api"), ("NET-PROBE-008", "shop.example.com/slow"),
                     ("NET-PROBE-008", "admin.example.com/"), ("NET-PROBE-009", "LoadBalancer")}
