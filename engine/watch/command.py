"""The body of ``kubetriage watch``: connect, wire the watcher to its outputs, serve until stopped."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from kubernetes import client as k8s

from kubetriage.collectors.kube import ApiSettings
from kubetriage.config import Config
from kubetriage.knowledge import Knowledge
from kubetriage.watch import Rules, Timing, Watcher, serve
from kubetriage.watch.evidence import SshWrapper


def run_watch(api: k8s.ApiClient, cluster: str, settings: ApiSettings, knowledge: Knowledge,
              params: dict[str, dict[str, Any]], config: Config, address: tuple[str, int],
              notify_specs: tuple[str, ...], evidence_every: float, debounce: float, max_delay: float,
              ssh: SshWrapper | None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    if notify_specs:
        raise click.UsageError("--notify: notifications are not available in this build yet")
    rules = Rules(knowledge, params, tuple(config.exclude), config.window)
    watcher = Watcher(api, cluster, settings, rules,
                      Timing(debounce=debounce, max_delay=max_delay, evidence_every=evidence_every), ssh)
    logging.getLogger("kubetriage.watch").info("watching %s; serving on http://%s:%d/", cluster, *address)
    try:
        serve(watcher, *address)
    finally:
        api.close()  # type: ignore[no-untyped-call]
