"""Is evidence current? An expert asks "is it still happening?" before blaming anything.

A signature hit or a Warning event is *current* when it was last seen within a window before
``now`` (default 30 minutes, per signature in ``kubetriage.yaml``) and nothing on its node
recovered after it: the node went Ready, its NetworkUnavailable condition cleared, the CNI agent
became Ready, or the same component wrote a success line (recovery signatures, ``recovers:`` in
``rules/signatures/*.yaml``). Anything else is *resolved earlier*: never a fact rules can match,
always listed in the report. Node conditions are the node's state now, whenever they began, so
they are always current; so is a line whose time is unknown (a log file with no dated line):
kubetriage cannot show that it is stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubetriage.normalize.common import parse_time, rfc3339

DEFAULT_WINDOW_MINUTES = 30
#: sources that describe the present state rather than a moment
STATE_SOURCES = frozenset({"node-condition"})


@dataclass(frozen=True)
class EvidenceWindow:
    """How recent evidence must be to count: a default, and overrides per signature id."""

    minutes: int = DEFAULT_WINDOW_MINUTES
    signatures: Mapping[str, int] = field(default_factory=dict)

    @property
    def default(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def of(self, signature: str) -> timedelta:
        return timedelta(minutes=self.signatures[signature]) if signature in self.signatures else self.default


@dataclass(frozen=True)
class Recovery:
    """A moment a node recovered from a signature, and what showed it."""

    moment: datetime
    what: str

    @property
    def at(self) -> str:
        return rfc3339(self.moment)


class Recoveries:
    """Recovery moments per (node, signature id); only dated recoveries count."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], list[Recovery]] = {}

    def record(self, node: str, signatures: Iterable[str], at: str, what: str) -> None:
        moment = parse_time(at)
        if moment is None:  # an undated success line cannot be placed after anything
            return
        for signature in signatures:
            self._seen.setdefault((node, signature), []).append(Recovery(moment, what))

    def first_after(self, node: str, signature: str, last_seen: str) -> Recovery | None:
        """The first recovery at or after ``last_seen``: what ended that evidence."""
        seen = parse_time(last_seen)
        later = [r for r in self._seen.get((node, signature), ()) if seen is not None and r.moment >= seen]
        return min(later, key=lambda r: r.moment, default=None)


def stale_because(now: datetime, window: timedelta, last_seen: str,
                  recovery: Recovery | None = None) -> str:
    """Why evidence last seen at ``last_seen`` (and recovered from by ``recovery``, if it was) is no
    longer current, or '' when it is."""
    seen = parse_time(last_seen)
    if seen is None:
        return ""
    if recovery is not None:
        return f"recovered at {recovery.at}: {recovery.what}"
    if now - seen > window:
        return f"last seen {_ago(now - seen)} before collection (window {_ago(window)})"
    return ""


def resolved_entry(source: str, node: str, subject: str, signature: str, count: int, first_seen: str,
                   last_seen: str, sample: str, why: str) -> dict[str, Any]:
    """One line of the report's "resolved earlier" list (JSON ``resolved_earlier``)."""
    return {"source": source, "node": node, "subject": subject, "signature": signature, "count": count,
            "first_seen": first_seen, "last_seen": last_seen, "sample": sample, "why": why}


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
