"""Warning events, aggregated by reason and involved object; messages classified too.

Only current events count (``kubetriage.normalize.currency``): one last seen before the
evidence window is listed as resolved earlier and neither becomes a fact nor feeds a signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import clip, timestamp
from kubetriage.normalize.currency import resolved_entry, stale_because
from kubetriage.normalize.scope import Scope


@dataclass
class _Agg:
    message: str
    count: int
    last_seen: str


def event_facts(objects: Iterable[dict[str, Any]], scope: Scope) -> Iterator[dict[str, Any]]:
    aggregated: dict[tuple[str, str, str, str], _Agg] = {}
    window = scope.hits.window.default
    for obj in objects:
        if obj.get("type") != "Warning":
            continue
        involved = obj.get("involvedObject") or obj.get("regarding") or {}
        namespace, kind = str(involved.get("namespace") or ""), str(involved.get("kind") or "")
        name, reason = str(involved.get("name") or ""), str(obj.get("reason") or "")
        message = str(obj.get("message") or obj.get("note") or "")
        series = obj.get("series") or {}
        count = int(obj.get("count") or series.get("count") or obj.get("deprecatedCount") or 1)
        seen = _last_seen(obj)
        node = str((obj.get("source") or {}).get("host") or obj.get("reportingInstance") or "")
        if kind == "Node":
            node = node or name
        elif kind == "Pod":
            node = node or scope.pod_nodes.get((namespace, name), "")
        why = stale_because(scope.now, window, seen)
        if why:
            subject = "/".join(p for p in (kind, namespace, name) if p)
            scope.resolved.append(resolved_entry("event", node, subject, reason, count, _first_seen(obj), seen,
                                                 clip(message), why))
            continue
        agg = aggregated.get((namespace, kind, name, reason))
        if agg is None:
            aggregated[(namespace, kind, name, reason)] = _Agg(message, count, seen)
        else:
            agg.count += count
            if seen >= agg.last_seen:
                agg.message, agg.last_seen = message, seen
        scope.hits.feed(node, "event", message, seen, count)
    kind_ = CATALOG["event"]
    for (namespace, kind, name, reason), agg in sorted(aggregated.items()):
        yield kind_.make(
            namespace=namespace, object_kind=kind, object_name=name, reason=reason,
            message=clip(agg.message), count=agg.count, last_seen=agg.last_seen,
        )


def _last_seen(obj: dict[str, Any]) -> str:
    """The latest occurrence: core/v1 ``lastTimestamp``, events.k8s.io ``series.lastObservedTime``
    or ``deprecatedLastTimestamp``, else when it was first seen."""
    stamps = [timestamp(obj.get(key)) for key in ("lastTimestamp", "deprecatedLastTimestamp", "eventTime")]
    stamps.append(timestamp((obj.get("series") or {}).get("lastObservedTime")))
    return max(stamps) or _first_seen(obj)


def _first_seen(obj: dict[str, Any]) -> str:
    stamps = (timestamp(obj.get(key)) for key in ("firstTimestamp", "deprecatedFirstTimestamp", "eventTime"))
    return next((s for s in stamps if s), "")
