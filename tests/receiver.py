"""A real HTTP server on 127.0.0.1 that records the POSTs it is sent (webhook/Slack/Alertmanager
stand-in), answering with a scripted status first when a test wants a target that fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Receiver:
    port: int = 0
    #: statuses to answer the next requests with (then 200)
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._changed = threading.Condition()

    def start(self) -> Receiver:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def delivered(self) -> list[Received]:
        with self._changed:
            return [r for r in self.received if r.status == 200]

    def wait_for(self, test: Callable[[list[Received]], bool], timeout: float = 20.0) -> list[Received]:
        """Wait until ``test(delivered)`` holds (the timeout only bounds a failing test)."""
        with self._changed:
            ok = self._changed.wait_for(lambda: test([r for r in self.received if r.status == 200]), timeout)
            assert ok, f"condition not met; received {[(r.path, r.status) for r in self.received]}"
            return [r for r in self.received if r.status == 200]

    def record(self, received: Received) -> None:
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = receiver.script.pop(0) if receiver.script else 200
            receiver.record(Received(self.path, status, body, dict(self.headers)))  # before the client hears back
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler
