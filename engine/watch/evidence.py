"""Evidence that is not watched but read on a schedule, by the collectors a one-shot triage uses.

Pod logs of networking pods (and, with SSH, node logs, CNI config and IPAM state) are
re-read every ``--logs-every``: reading them on every change would multiply API and SSH
load by the change rate. The TLS Secrets that Ingresses reference are read by name
(``tls.key`` dropped at the parser, never kept) on the same schedule and as soon as the set
of referenced Secrets changes, so a new Ingress is never judged against a Secret not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s

from kubetriage.bundle import Bundle, CollectionError, NodeFiles, PodLog
from kubetriage.collectors.kube import ApiSettings, LiveBundle
from kubetriage.watch.mirror import MirrorBundle, slim

SshWrapper = Callable[[Bundle], Bundle]  # adds node files read over SSH to a bundle


@dataclass
class Evidence:
    """What the last refreshes read, and what they could not."""

    logs: list[PodLog] = field(default_factory=list)
    nodes: list[NodeFiles] = field(default_factory=list)
    secrets: list[dict[str, Any]] | None = None  # None: not read (yet), or a read failed
    tls_refs: frozenset[tuple[str, str]] = frozenset()
    errors: list[CollectionError] = field(default_factory=list)  # of the logs and nodes
    secret_errors: list[CollectionError] = field(default_factory=list)


def tls_refs(ingresses: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    """(namespace, secret) pairs the Ingresses name in ``spec.tls``."""
    refs = set()
    for ingress in ingresses:
        md, spec = ingress.get("metadata") or {}, ingress.get("spec") or {}
        for tls in spec.get("tls") or [] if isinstance(spec, dict) else []:
            if isinstance(tls, dict) and tls.get("secretName"):
                refs.add((str(md.get("namespace")), str(tls["secretName"])))
    return frozenset(refs)


class EvidenceReader:
    """Reads logs, node files and Secrets for the objects of one mirror view."""

    def __init__(self, api: k8s.ApiClient, cluster: str, settings: ApiSettings, ssh: SshWrapper | None) -> None:
        self.api, self.cluster, self.settings, self.ssh = api, cluster, settings, ssh

    def logs_and_nodes(self, view: MirrorBundle, into: Evidence) -> None:
        live = LiveBundle(self.api, self.cluster, self.settings)
        try:
            live.adopt("pods", view.objects("pods"))
            into.logs = [PodLog(p.namespace, p.pod, p.container, p.previous, list(p.lines))
                         for p in live.pod_logs()]
        finally:
            live.close()
        errors = live.errors
        if self.ssh is not None:
            scratch = MirrorBundle(view.meta, view.objects_by_resource, errors)
            nodes = self.ssh(scratch)
            for _ in nodes.objects("nodes"):  # the SSH bundle learns node addresses from them
                pass
            into.nodes = [NodeFiles(f.node, {name: list(lines) for name, lines in f.logs.items()}, f.dirs)
                          for f in nodes.node_files()]
        into.errors = errors

    def secrets(self, view: MirrorBundle, into: Evidence) -> None:
        refs = tls_refs(list(view.objects("ingresses")))
        live = LiveBundle(self.api, self.cluster, self.settings)
        try:
            live.adopt("ingresses", view.objects("ingresses"))
            found = list(live.objects("secrets"))
        finally:
            live.close()
        into.secrets = [slim(s) for s in found] if live.has_resource("secrets") else None
        into.tls_refs, into.secret_errors = refs, live.errors
