"""Warning events, aggregated by reason and involved object; messages classified too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import clip, parse_time, rfc3339
from kubetriage.normalize.scope import Scope


@dataclass
class _Agg:
    message: str
    count: int
    last_seen: str


def event_facts(objects: Iterable[dict[str, Any]], scope: Scope) -> Iterator[dict[str, Any]]:
    aggregated: dict[tuple[str, str, str, str], _Agg] = {}
    for obj in objects:
        if obj.get("type") != "Warning":
            continue
        involved = obj.get("involvedObject") or obj.get("regarding") or {}
        namespace, kind = str(involved.get("namespace") or ""), str(involved.get("kind") or "")
        name, reason = str(involved.get("name") or ""), str(obj.get("reason") or "")
        message = str(obj.get("message") or obj.get("note") or "")
        count = int(obj.get("count") or (obj.get("series") or {}).get("count") or 1)
        seen = _seen(obj)
        agg = aggregated.get((namespace, kind, name, reason))
        if agg is None:
            aggregated[(namespace, kind, name, reason)] = _Agg(message, count, seen)
        else:
            agg.count += count
            if seen >= agg.last_seen:
                agg.message, agg.last_seen = message, seen
        node = str((obj.get("source") or {}).get("host") or obj.get("reportingInstance") or "")
        if kind == "Node":
            node = node or name
        elif kind == "Pod":
            node = node or scope.pod_nodes.get((namespace, name), "")
        scope.hits.feed(node, "event", message, seen, count)
    kind_ = CATALOG["event"]
    for (namespace, kind, name, reason), agg in sorted(aggregated.items()):
        yield kind_.make(
            namespace=namespace, object_kind=kind, object_name=name, reason=reason,
            message=clip(agg.message), count=agg.count, last_seen=agg.last_seen,
        )


def _seen(obj: dict[str, Any]) -> str:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        moment = parse_time(str(obj.get(key) or ""))
        if moment:
            return rfc3339(moment)
    moment = parse_time(str((obj.get("series") or {}).get("lastObservedTime") or ""))
    return rfc3339(moment) if moment else ""
