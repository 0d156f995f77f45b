"""Prometheus metrics of the watcher (``prometheus_client``, one registry per watcher).

Per-triage series (findings, rules not evaluated, collection errors) are produced at
scrape time from the last finished triage, so a scrape never sees half of one triage and
a finding that resolves disappears from the next scrape. Counters and histograms are
updated as things happen.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubetriage.triage import TriageReport
from kubetriage.watch.informer import Hooks, StreamState

_LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)


@dataclass
class _Latest:
    """The numbers of the last finished triage."""

    findings: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    not_evaluated: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class _TriageCollector(Collector):
    def __init__(self, latest: Callable[[], _Latest], streams: Callable[[], list[StreamState]],
                 objects: Callable[[], dict[str, int]]) -> None:
        self.latest, self.streams, self.objects = latest, streams, objects

    def collect(self) -> Iterator[Metric]:
        latest = self.latest()
        findings = GaugeMetricFamily("kubetriage_findings", "Findings of the last triage.",
                                     labels=["rule_id", "severity", "root_cause"])
        for (rule_id, severity, root), count in sorted(latest.findings.items()):
            findings.add_metric([rule_id, severity, root], count)
        skipped = GaugeMetricFamily("kubetriage_rule_not_evaluated",
                                    "1 for each rule the last triage could not evaluate (its facts were not "
                                    "collected).", labels=["rule_id"])
        for rule_id in latest.not_evaluated:
            skipped.add_metric([rule_id], 1)
        errors = GaugeMetricFamily("kubetriage_collection_errors",
                                   "Coverage errors of the last triage, by source (api, ssh, ...).", labels=["source"])
        for source, count in sorted(latest.errors.items()):
            errors.add_metric([source], count)
        lag = GaugeMetricFamily("kubetriage_watch_lag_seconds",
                                "Seconds since the resource's watch last heard from the API server (event, "
                                "bookmark or list).", labels=["resource"])
        synced = GaugeMetricFamily("kubetriage_watch_synced",
                                   "1 when the resource is listed and watched, 0 when it cannot be read.",
                                   labels=["resource"])
        now = time.monotonic()
        for state in self.streams():
            synced.add_metric([state.resource], 1 if state.synced else 0)
            if state.heard:
                lag.add_metric([state.resource], now - state.heard)
        mirrored = GaugeMetricFamily("kubetriage_watch_objects", "Objects held in the watch mirror.",
                                     labels=["resource"])
        for resource, count in sorted(self.objects().items()):
            mirrored.add_metric([resource], count)
        yield from (findings, skipped, errors, lag, synced, mirrored)


class WatchMetrics:
    """The registry and the instruments the watcher updates."""

    def __init__(self, streams: Callable[[], list[StreamState]], objects: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self._latest = _Latest()
        self.registry.register(_TriageCollector(lambda: self._latest, streams, objects))
        r = self.registry
        self.triage_seconds = Histogram("kubetriage_triage_duration_seconds", "Duration of one triage.",
                                        registry=r, buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
        self.change_to_metric = Histogram(
            "kubetriage_change_to_triage_seconds",
            "From the first change the watch saw to the end of the triage that includes it.",
            registry=r, buckets=_LATENCY_BUCKETS)
        self.triages = PromCounter("kubetriage_triages", "Triages run, by result (ok, failed).", ["result"],
                                   registry=r)
        self.last_success = Gauge("kubetriage_last_triage_success_timestamp_seconds",
                                  "Unix time the last triage finished.", registry=r)
        self.relists = PromCounter("kubetriage_watch_relists", "Full lists of a resource, by reason "
                                   "(start, gone = 410 resourceVersion too old, error).", ["resource", "reason"],
                                   registry=r)
        self.events = PromCounter("kubetriage_watch_events", "Watch events received.", ["resource", "type"],
                                  registry=r)
        self.watch_errors = PromCounter("kubetriage_watch_errors", "Failed lists or watches.", ["resource"],
                                        registry=r)
        self.reconnects = PromCounter("kubetriage_watch_reconnects",
                                      "Watches resumed after the server ended them or the connection dropped.",
                                      ["resource"], registry=r)
        self.evidence_seconds = Histogram("kubetriage_evidence_refresh_duration_seconds",
                                          "Duration of one refresh of pod logs, TLS Secrets and node files.",
                                          registry=r, buckets=(0.5, 1, 5, 10, 30, 60, 120, 300))

    def hooks(self) -> Hooks:
        return Hooks(relisted=lambda res, reason: self.relists.labels(res, reason).inc(),
                     event=lambda res, kind: self.events.labels(res, kind).inc(),
                     failed=lambda res: self.watch_errors.labels(res).inc(),
                     reconnected=lambda res: self.reconnects.labels(res).inc())

    def triaged(self, report: TriageReport, seconds: float) -> None:
        """Publish a finished triage."""
        latest = _Latest()
        for finding in report.findings:
            latest.findings[(finding.rule_id, finding.severity, str(finding.root_cause).lower())] += 1
        latest.not_evaluated = sorted(str(n["rule_id"]) for n in report.not_evaluated)
        latest.errors = Counter(e.source for e in report.facts.errors)
        self._latest = latest
        self.triage_seconds.observe(seconds)
        self.triages.labels("ok").inc()
        self.last_success.set(time.time())
