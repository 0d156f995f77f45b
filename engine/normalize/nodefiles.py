"""Node files: log lines classified into signatures, the CNI config dir, IPAM reservations."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from kubetriage.bundle import PodLog
from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import line_time
from kubetriage.normalize.scope import Scope
from kubetriage.roles import detect_role

_LOG_SOURCES = {"kubelet.log": "kubelet-log", "containerd.log": "containerd-log",
                "kernel.log": "kernel-log"}
_CNI_SUFFIXES = (".conf", ".conflist", ".json")


def scan_log(node: str, name: str, lines: Iterable[str], scope: Scope) -> None:
    source = _LOG_SOURCES[name]
    for line, seen in _dated(lines, scope.now):
        scope.hits.feed(node, source, line, seen)


def scan_pod_log(log: PodLog, scope: Scope) -> str:
    """Classify a networking pod's log; returns the path it counts as collected. Every line of a
    previous container precedes its termination, so that moment dates its leading undated lines."""
    node = scope.pod_nodes.get((log.namespace, log.pod), "")
    ended = scope.terminated.get((log.namespace, log.pod, log.container), "") if log.previous else ""
    role = detect_role(log.pod, [log.container, log.namespace])
    for line, seen in _dated(log.lines, scope.now, ended):
        scope.hits.feed(node, "pod-log", line, seen, role=role)
    return log.path


def _dated(lines: Iterable[str], now: datetime, clock: str = "") -> Iterator[tuple[str, str]]:
    """Each line with its time: its own, else the nearest earlier dated line's, else ``clock``.
    Lines of a file with no dated line stay undated, and count as current: nothing shows
    them stale (calico-node prints "Calico node started successfully" and BIRD lines undated)."""
    for line in lines:
        clock = line_time(line, now) or clock
        yield line, clock


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
        except (ValueError, RecursionError):  # an integer past 4300 digits, nesting past the stack
            errors.append(f"{name}: not a CNI configuration (nested too deep or a number too long)")
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
