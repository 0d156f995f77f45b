"""The body of ``kubetriage watch``: connect, wire the watcher to its outputs, serve until stopped.

Each triage's findings go through a :class:`~kubetriage.incidents.Tracker` (what appeared,
changed, resolved, or is due a reminder), into the incident :class:`~kubetriage.incidents.History`
(SQLite; it also gives the page its "since" and recent incidents) and, when there are targets, to a
:class:`~kubetriage.notify.Dispatcher` that delivers in the background.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kubernetes import client as k8s

from kubetriage.collectors.kube import ApiSettings
from kubetriage.config import Config
from kubetriage.incidents import History, Tracker
from kubetriage.incidents.history import default_path
from kubetriage.knowledge import Knowledge
from kubetriage.notify import Dispatcher, Target, runbook_text
from kubetriage.triage import TriageReport
from kubetriage.watch import Rules, Timing, Watcher, serve
from kubetriage.watch.evidence import SshWrapper

_RECENT = 20  # incidents on the page


def run_watch(api: k8s.ApiClient, cluster: str, settings: ApiSettings, knowledge: Knowledge,
              params: dict[str, dict[str, Any]], config: Config, address: tuple[str, int], targets: list[Target],
              history_where: str | None, renotify: timedelta | None, timing: Timing, ssh: SshWrapper | None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    watcher = Watcher(api, cluster, settings, Rules(knowledge, params, tuple(config.exclude), config.window),
                      timing, ssh)
    with History.open(history_where or default_path()) as history:
        tracker = Tracker(renotify, known=history.unresolved())
        runbooks: list[Callable[[dict[str, Any]], str]] = [lambda finding: ""]
        dispatcher = Dispatcher(targets, watcher.metrics.registry, lambda finding: runbooks[0](finding),
                                cluster=cluster)

        def record(report: TriageReport, at: datetime) -> None:
            runbooks[0] = runbook_text(report, knowledge)
            changes = tracker.update([f.as_dict() for f in report.findings], at)
            history.record(changes, at)
            if changes:
                dispatcher.submit(changes)

        watcher.listeners.append(record)
        watcher.first_seen = history.since
        watcher.recent = lambda: [i.as_dict() for i in history.recent(_RECENT)]
        logging.getLogger("kubetriage.watch").info("watching %s; serving on http://%s:%d/; history in %s",
                                                   cluster, *address, history.where)
        try:
            serve(watcher, *address)
        finally:
            dispatcher.close(timeout=10)
            api.close()  # type: ignore[no-untyped-call]
