"""FactBase: the de-duplicated, typed facts of one triage, and what they were built from."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubetriage.bundle import CollectionError
from kubetriage.catalog import CATALOG

Fact = dict[str, Any]


def fact_key(fact: Fact) -> str:
    """Canonical identity of a fact: equal content is the same fact."""
    return json.dumps(fact, sort_keys=True, separators=(",", ":"))


@dataclass
class FactBase:
    """Facts plus coverage: sources collected, sources missing and collection errors."""

    cluster: str = ""
    collected_at: str = ""
    now: str = ""
    facts: list[Fact] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    #: evidence that is no longer current (``kubetriage.normalize.currency``): shown, never matched
    resolved_earlier: list[dict[str, Any]] = field(default_factory=list)
    _keys: set[str] = field(default_factory=set, repr=False)

    def add(self, fact: Fact) -> None:
        """Add a fact unless an identical one is present (the engine rejects twins)."""
        if fact["kind"] not in CATALOG:
            raise ValueError(f"unknown fact kind {fact['kind']!r}")
        key = fact_key(fact)
        if key not in self._keys:
            self._keys.add(key)
            self.facts.append(fact)

    def extend(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact)

    def of_kind(self, kind: str) -> Iterator[Fact]:
        return (f for f in self.facts if f["kind"] == kind)

    def missing_sources(self, kind: str) -> list[str]:
        """Sources ``kind`` needs that were not collected (empty: the kind is reliable)."""
        return [
            need
            for need in CATALOG[kind].sources
            if not any(_source_matches(alt, c) for alt in need.split("|") for c in self.collected)
        ]


def _source_matches(source: str, collected: str) -> bool:
    """``nodes/*/kubelet.log`` matches ``nodes/worker-1/kubelet.log``."""
    if "*" not in source:
        return source == collected
    head, tail = source.split("*", 1)
    return collected.startswith(head) and collected.endswith(tail) and "/" not in collected[
        len(head) : len(collected) - len(tail)
    ]
