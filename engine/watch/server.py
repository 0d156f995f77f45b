"""The watcher's read-only HTTP endpoints, all on one port: ``/metrics`` (Prometheus text),
``/healthz`` (the watch loop is alive), ``/readyz`` (a first triage has finished) and ``/``
(the live incident page). Nothing here changes state; every other path or method is refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` for every address) as a (host, port)."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise click.BadParameter(f"{spec!r} is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, :9464)",
                                 param_hint="--listen")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class Endpoints:
    """What the server shows, read fresh on each request."""

    registry: CollectorRegistry
    healthy: Callable[[], str]  # '' when healthy, else why not
    ready: Callable[[], str]  # '' when ready, else why not
    page: Callable[[], str]


class StatusServer:
    """A threaded HTTP server on its own daemon thread."""

    def __init__(self, host: str, port: int, endpoints: Endpoints) -> None:
        server_class = _V6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _handler(endpoints))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="http")

    def start(self) -> StatusServer:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "kubetriage-watch"

        def log_message(self, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the log

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(endpoints.registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                problem = (endpoints.healthy if path == "/healthz" else endpoints.ready)()
                self._send(503 if problem else 200, (problem or "ok").encode() + b"\n", "text/plain; charset=utf-8")
            elif path == "/":
                self._send(200, endpoints.page().encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy",
                                 "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
            self.end_headers()
            self.wfile.write(body)

    return Handler
