"""Node files: log lines classified into signatures, the CNI config dir, IPAM reservations."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator
from typing import Any

from kubetriage.bundle import PodLog
from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import line_time
from kubetriage.normalize.scope import Scope

_LOG_SOURCES = {"kubelet.log": "kubelet-log", "containerd.log": "containerd-log",
                "kernel.log": "kernel-log"}
_CNI_SUFFIXES = (".conf", ".conflist", ".json")


def scan_log(node: str, name: str, lines: Iterable[str], scope: Scope) -> None:
    source, year = _LOG_SOURCES[name], scope.now.year
    for line in lines:
        scope.hits.feed(node, source, line, line_time(line, year))


def scan_pod_log(log: PodLog, scope: Scope) -> str:
    """Classify a networking pod's log; returns the path it counts as collected."""
    node = scope.pod_nodes.get((log.namespace, log.pod), "")
    year = scope.now.year
    for line in log.lines:
        scope.hits.feed(node, "pod-log", line, line_time(line, year))
    return log.path


def cni_config_fact(node: str, files: dict[str, str]) -> dict[str, Any]:
    types: list[str] = []
    errors: list[str] = []
    configs = {n: text for n, text in files.items() if n.endswith(_CNI_SUFFIXES)}
    for name, text in configs.items():
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(f"{name}: {exc.msg} at line {exc.lineno} column {exc.colno}")
            continue
        plugins = doc.get("plugins") if isinstance(doc, dict) else None
        found = [p.get("type") for p in plugins or [] if isinstance(p, dict)] if plugins is not None \
            else [doc.get("type") if isinstance(doc, dict) else None]
        if not all(isinstance(t, str) and t for t in found) or not found:
            errors.append(f"{name}: a plugin has no type")
        types += [t for t in found if isinstance(t, str) and t]
    return CATALOG["cni_config"].make(
        node=node, files=len(configs), valid=bool(configs) and not errors,
        plugin_types=",".join(types), error=errors[0] if errors else "",
    )


def ipam_facts(node: str, networks: dict[str, str], scope: Scope, pods_known: bool
               ) -> Iterator[dict[str, Any]]:
    info = scope.nodes.get(node)
    capacity = info.capacity if info else 0
    held = scope.node_pod_ips.get(node, set())
    for network, listing in sorted(networks.items()):
        reserved = set()
        for entry in listing.split():
            try:
                reserved.add(str(ipaddress.ip_address(entry.strip())))
            except ValueError:
                continue  # lock, last_reserved_ip.0
        yield CATALOG["ipam_usage"].make(
            node=node, network=network, reserved=len(reserved), capacity=capacity,
            use_percent=len(reserved) * 100 // capacity if capacity else 0,
            leaked=len(reserved - held) if pods_known else -1,
        )
