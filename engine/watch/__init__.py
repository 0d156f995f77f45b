"""``kubetriage watch``: the triage, kept running against a live cluster.

:mod:`~kubetriage.watch.informer` lists and watches each resource into a
:mod:`~kubetriage.watch.mirror`; :mod:`~kubetriage.watch.loop` re-triages it after
changes; :mod:`~kubetriage.watch.evidence` re-reads logs, node files and TLS Secrets on a
slower schedule; :mod:`~kubetriage.watch.metrics` and :mod:`~kubetriage.watch.server`
publish the outcome on one port.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from kubetriage.watch.loop import Rules, Timing, Watcher
from kubetriage.watch.server import StatusServer, parse_listen

__all__ = ["Rules", "StatusServer", "Timing", "Watcher", "parse_listen", "serve"]


def serve(watcher: Watcher, host: str, port: int, started: threading.Event | None = None) -> None:
    """Run ``watcher`` and its HTTP endpoints until SIGTERM or SIGINT, then stop both."""
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    server = StatusServer(host, port, watcher.endpoints()).start()
    watcher.start()
    if started is not None:
        started.set()
    try:
        done.wait()
    finally:
        server.close()
        watcher.close()
