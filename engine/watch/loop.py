"""The watcher: informers keep a mirror current; a debounced loop re-triages it.

A triage starts once every informer has tried its first list, then ``debounce`` seconds
after the last change, or at the latest ``max_delay`` seconds after the first change
not yet triaged (a cluster that never stops changing is still triaged), so CPU is
bounded by one triage per debounce interval however fast the cluster changes. Each
triage is the same pipeline as ``kubetriage triage`` over a Bundle read from the mirror;
its outcome goes to the metrics, the page and the listeners (notifications, history).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubernetes import client as k8s

from kubetriage.bundle import BundleMeta, CollectionError
from kubetriage.collectors.kube import API_RESOURCES, Api, ApiSettings
from kubetriage.config import Exclusion
from kubetriage.evaluation import EngineName
from kubetriage.incident import build_incident, incident_html
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.common import rfc3339
from kubetriage.normalize.currency import EvidenceWindow
from kubetriage.triage import TriageReport, triage
from kubetriage.watch.evidence import Evidence, EvidenceReader, SshWrapper, tls_refs
from kubetriage.watch.informer import Informer
from kubetriage.watch.metrics import WatchMetrics
from kubetriage.watch.mirror import Mirror, MirrorBundle
from kubetriage.watch.server import Endpoints

log = logging.getLogger("kubetriage.watch")

#: Watched from the start; Endpoints only when EndpointSlices are not served (as a one-shot triage).
WATCHED = tuple(r for r in API_RESOURCES if r != "endpoints")
_TICK = 0.1

Listener = Callable[[TriageReport, datetime], None]


@dataclass(frozen=True)
class Timing:
    """When to triage and re-read evidence (seconds); see the module docstring."""

    debounce: float = 2.0
    max_delay: float = 10.0
    evidence_every: float = 300.0
    watch_seconds: int = 300
    page_refresh: int = 10  # seconds between reloads of the page in a browser


@dataclass
class Rules:
    """What a triage runs with (from the config file and options). The evaluator is the
    plain-Python oracle, which agrees with durable_rules on every rule test and scenario:
    durable_rules' C core keeps about 1 MB of each run's session that its API cannot free
    (``delete_state`` crashes it), which a process triaging every few seconds cannot afford."""

    knowledge: Knowledge
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    exclusions: tuple[Exclusion, ...] = ()
    window: EvidenceWindow | None = None
    engine: EngineName = "oracle"


class Watcher:
    def __init__(self, api: k8s.ApiClient, cluster: str, settings: ApiSettings, rules: Rules,
                 timing: Timing = Timing(), ssh: SshWrapper | None = None) -> None:
        self.cluster, self.settings, self.rules, self.timing = cluster, settings, rules, timing
        self.http = Api(api, settings)
        self.mirror = Mirror()
        self.stop = threading.Event()
        self.informers: dict[str, Informer] = {}
        self.metrics = WatchMetrics(lambda: [i.state for i in list(self.informers.values())], self.mirror.counts)
        self.reader = EvidenceReader(api, cluster, settings, ssh)
        self.evidence = Evidence()
        self.listeners: list[Listener] = []
        self.first_seen: Callable[[str], datetime | None] | None = None  # finding id -> first sighting
        self.recent: Callable[[], list[dict[str, Any]]] | None = None  # recent incidents, for the page
        self._page = _waiting_page(cluster)
        self._report: TriageReport | None = None
        self._threads: list[threading.Thread] = []
        self._heartbeat = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Watcher:
        for resource in WATCHED:
            self._inform(resource)
        for target, name in ((self._triage_loop, "triage"), (self._evidence_loop, "evidence")):
            thread = threading.Thread(target=target, daemon=True, name=name)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _inform(self, resource: str) -> None:
        self.informers[resource] = Informer(
            resource, self.http, self.mirror, self.metrics.hooks(), self.settings.namespace, self.stop,
            self.settings.chunk_size, self.timing.watch_seconds).start()

    def endpoints(self) -> Endpoints:
        return Endpoints(self.metrics.registry, self._healthy, self._ready, lambda: self._page)

    def _healthy(self) -> str:
        stuck = time.monotonic() - self._heartbeat
        if stuck > 10 * self.timing.max_delay + 300:
            return f"the triage loop has not moved for {stuck:.0f}s"
        return ""

    def _ready(self) -> str:
        return "" if self._report is not None else "the first triage has not finished"

    # -- triage -----------------------------------------------------------------------
    def _triage_loop(self) -> None:
        while not self.stop.wait(_TICK):
            self._heartbeat = time.monotonic()
            if not all(i.state.synced or i.state.error for i in self.informers.values()):
                continue  # the first lists are still being read
            self._fall_back_to_endpoints()
            pending = self.mirror.pending()
            if self._report is not None and pending is None:
                continue
            now = time.monotonic()
            first, last = pending or (now, now)
            if self._report is not None and now - last < self.timing.debounce \
                    and now - first < self.timing.max_delay:
                continue
            try:
                self.triage_once()
            except Exception:  # a bug in one triage must not stop the watcher: count it and go on
                log.exception("triage failed")
                self.metrics.triages.labels("failed").inc()

    def _fall_back_to_endpoints(self) -> None:
        state = self.informers["endpointslices"].state
        if "endpoints" not in self.informers and not state.synced and "not found" in state.error:
            self._inform("endpoints")

    def triage_once(self) -> TriageReport:
        started = time.monotonic()
        first, objects = self.mirror.take()
        at = datetime.now(timezone.utc)
        view = MirrorBundle(BundleMeta(self.cluster, rfc3339(at)), objects, self._errors())
        if view.has_resource("ingresses") and tls_refs(list(view.objects("ingresses"))) != self.evidence.tls_refs:
            self.reader.secrets(view, self.evidence)
        evidence = self.evidence
        view.logs, view.nodes = evidence.logs, evidence.nodes
        view.errors += evidence.errors + evidence.secret_errors
        if evidence.secrets is not None:
            view.objects_by_resource["secrets"] = evidence.secrets
        rules = self.rules
        report = triage(view, rules.knowledge, at, rules.engine, rules.params, rules.exclusions, rules.window)
        done = time.monotonic()
        self.metrics.triaged(report, done - started)
        if first is not None:
            self.metrics.change_to_metric.observe(done - first)
        for listener in self.listeners:
            listener(report, at)
        self._page = incident_html(build_incident(report, rules.knowledge, self.first_seen),
                                   refresh=self.timing.page_refresh, history=self.recent() if self.recent else None)
        self._report = report
        return report

    def _errors(self) -> list[CollectionError]:
        return [CollectionError("api", i.resource, i.state.error) for i in self.informers.values()
                if not i.state.synced and i.state.error]

    # -- evidence on the slow schedule -----------------------------------------------
    def _evidence_loop(self) -> None:
        while not self.stop.is_set():
            if self._report is None:
                self.stop.wait(_TICK)
                continue
            started = time.monotonic()
            objects = self.mirror.view()
            view = MirrorBundle(BundleMeta(self.cluster, ""), objects)
            fresh = Evidence(tls_refs=self.evidence.tls_refs, secrets=self.evidence.secrets)
            try:
                self.reader.logs_and_nodes(view, fresh)
                if view.has_resource("ingresses"):
                    self.reader.secrets(view, fresh)
            except Exception:
                log.exception("reading logs and node files failed")
            else:
                self.evidence = fresh
                self.mirror.touch()
            self.metrics.evidence_seconds.observe(time.monotonic() - started)
            self.stop.wait(self.timing.evidence_every)


def _waiting_page(cluster: str) -> str:
    from markupsafe import escape

    return (f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
            f"<title>kubetriage watch</title></head><body><p>Watching {escape(cluster)}: the first triage "
            f"has not finished yet.</p></body></html>")
