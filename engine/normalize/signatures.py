"""The signature catalog: known failure lines, classified with Python ``re``.

Rules never see raw log text; they match ``signature_hit.signature``. Each
signature lists regexes for stable fragments of a real error string (see
``rules/signatures/*.yaml``), plus lines that must and must not match, which
the test suite and ``rules lint`` check. A signature with ``recovers`` is a success line:
it never becomes a hit, it marks the moment the signatures it lists stopped on its node
(see ``kubetriage.normalize.currency``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, RuleValidationError
from kubetriage.normalize.common import clip
from kubetriage.normalize.currency import STATE_SOURCES, EvidenceWindow, Recoveries, resolved_entry, stale_because
from kubetriage.yamlsource import load_located

#: Characters of a line that classification looks at.
MAX_CLASSIFIED = 8 * 1024
_CNI_TYPE = re.compile(r'plugin type=\\?"([\w.-]+)\\?"')
_SIGNATURE_KEYS = {"id", "component", "meaning", "patterns", "references", "tests", "fallback", "recovers",
                   "role"}
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Signature:
    """One failure signature."""

    id: str
    component: str
    meaning: str
    patterns: tuple[re.Pattern[str], ...]
    references: tuple[str, ...]
    match_examples: tuple[str, ...]
    no_match_examples: tuple[str, ...]
    fallback: bool  # only applies when no specific signature matches the line
    path: str
    #: a success line: the signature ids it ends on its node (never a hit itself)
    recovers: tuple[str, ...] = ()
    #: a Ready pod of this networking role on the node is the same recovery, at its Ready transition
    role: str = ""

    def matches(self, line: str) -> bool:
        return any(p.search(line) for p in self.patterns)


class SignatureCatalog:
    """Classifies lines into signature ids; specific signatures win over fallbacks."""

    def __init__(self, signatures: Iterable[Signature]) -> None:
        by_id: dict[str, Signature] = {}
        for sig in signatures:
            by_id[sig.id] = sig  # later directories override earlier ones by id
        self.signatures = list(by_id.values())
        self.by_id = by_id
        self._specific = [s for s in self.signatures if not s.fallback]
        self._fallback = [s for s in self.signatures if s.fallback]
        every = [p.pattern for s in self.signatures for p in s.patterns]
        self._prefilter = re.compile("|".join(f"(?:{p})" for p in every) or "(?!)", re.I)

    def classify(self, line: str) -> list[str]:
        """Ids of the signatures ``line`` shows (usually zero or one). Only its first MAX_CLASSIFIED
        characters are read: a failure's wording sits there, and every signature scans the line
        once the prefilter matched (one 480 KB line cost a minute)."""
        line = line[:MAX_CLASSIFIED]
        if not self._prefilter.search(line):
            return []
        hits = [s.id for s in self._specific if s.matches(line)]
        return hits or [s.id for s in self._fallback if s.matches(line)]

    def role_recoveries(self, role: str) -> list[Signature]:
        """Recovery signatures that a Ready pod of ``role`` stands for."""
        return [s for s in self.signatures if s.recovers and s.role == role]

    @staticmethod
    def cni_of(line: str) -> str:
        """The CNI plugin a sandbox error names (``plugin type="calico"``), or ''."""
        found = _CNI_TYPE.search(line)
        return found.group(1) if found else ""

    @classmethod
    def load(cls, extra_dirs: Iterable[Path] = ()) -> SignatureCatalog:
        """Built-in signatures, then ``signatures/*.yaml`` of each extra rule directory."""
        builtin = files("kubetriage.rules").joinpath("signatures")
        paths = sorted(Path(str(p)) for p in builtin.iterdir() if p.name.endswith(".yaml"))
        for extra in extra_dirs:
            paths += sorted((extra / "signatures").glob("*.yaml"))
        problems: list[Problem] = []
        references: list[tuple[str, Problem]] = []  # (recovered id, the problem if it does not exist)
        signatures = [sig for path in paths for sig in _load_file(path, problems, references)]
        known = {s.id for s in signatures}
        problems += [problem for ref, problem in references if ref not in known]
        if problems:
            raise RuleValidationError(problems)
        return cls(signatures)


def _load_file(path: Path, problems: list[Problem], references: list[tuple[str, Problem]]) -> list[Signature]:
    doc = load_located(path, problems)
    if doc is None:
        return []
    if not isinstance(doc.value, dict) or not isinstance(doc.value.get("signatures"), list):
        problems.append(doc.problem("E100", "expected a mapping with a 'signatures' list"))
        return []
    out = []
    for index, entry in enumerate(doc.value["signatures"]):
        here = ("signatures", index)
        if not isinstance(entry, dict):
            problems.append(doc.problem("E100", "each signature must be a mapping", here))
            continue
        for key in sorted(set(entry) - _SIGNATURE_KEYS):
            problems.append(doc.problem("E100", f"unknown key {key!r}", (*here, key), key=True))
        sig = _signature(doc.value["signatures"][index], str(path), problems, doc, here)
        for i, ref in enumerate(sig.recovers if sig else ()):
            references.append((ref, doc.problem("E100", f"recovers names no signature {ref!r}",
                                                (*here, "recovers", i))))
        if sig:
            out.append(sig)
    return out


def _signature(entry: dict[str, Any], path: str, problems: list[Problem], doc: Any,
               here: tuple[Any, ...]) -> Signature | None:
    if not isinstance(entry.get("id"), str) or not _SLUG.fullmatch(entry["id"]):
        problems.append(doc.problem("E100", "signature id must be a lower-case slug", (*here, "id")))
        return None
    patterns = []
    for i, text in enumerate(entry.get("patterns") or []):
        try:
            patterns.append(re.compile(str(text), re.I))
        except re.error as exc:
            problems.append(doc.problem("E104", f"regex does not compile: {exc}", (*here, "patterns", i)))
    if not patterns:
        problems.append(doc.problem("E100", "a signature needs at least one pattern", here))
        return None
    recovers = entry.get("recovers") or []
    if not isinstance(recovers, list) or not all(isinstance(r, str) and _SLUG.fullmatch(r) for r in recovers):
        problems.append(doc.problem("E100", "recovers must be a list of signature ids", (*here, "recovers")))
        return None
    tests = entry.get("tests") or {}
    return Signature(
        id=entry["id"],
        component=str(entry.get("component", "")),
        meaning=" ".join(str(entry.get("meaning", "")).split()),
        patterns=tuple(patterns),
        references=tuple(str(r) for r in entry.get("references") or []),
        match_examples=tuple(str(t) for t in tests.get("match") or []),
        no_match_examples=tuple(str(t) for t in tests.get("no_match") or []),
        fallback=bool(entry.get("fallback", False)),
        path=path,
        recovers=tuple(recovers),
        role=str(entry.get("role") or ""),
    )


@dataclass
class _Hits:
    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    sample: str = ""
    cni: str = ""


class HitAggregator:
    """Folds classified lines into one ``signature_hit`` per node, source and signature, and
    records the recoveries that end them; only current hits become facts."""

    def __init__(self, catalog: SignatureCatalog, now: datetime, window: EvidenceWindow | None = None) -> None:
        self.catalog, self.now, self.window = catalog, now, window or EvidenceWindow()
        self.recoveries = Recoveries()
        self._hits: dict[tuple[str, str, str], _Hits] = {}

    def feed(self, node: str, source: str, line: str, seen: str = "", count: int = 1) -> None:
        for signature in self.catalog.classify(line):
            recovers = self.catalog.by_id[signature].recovers
            if recovers:
                self.recoveries.record(node, recovers, seen, f"{source}: {clip(line, 160)}")
                continue
            hits = self._hits.setdefault((node, source, signature), _Hits())
            hits.count += count
            if seen and (not hits.first_seen or seen < hits.first_seen):
                hits.first_seen = seen
            if not hits.last_seen or seen >= hits.last_seen:
                hits.last_seen, hits.sample = seen, clip(line)
            hits.cni = hits.cni or self.catalog.cni_of(line)

    def role_ready(self, node: str, role: str, since: str, what: str) -> None:
        """A pod of a networking role on ``node`` is Ready since ``since``."""
        for recovery in self.catalog.role_recoveries(role):
            self.recoveries.record(node, recovery.recovers, since, what)

    def _judged(self) -> Iterator[tuple[str, str, str, _Hits, str]]:
        for (node, source, signature), h in sorted(self._hits.items()):
            why = "" if source in STATE_SOURCES else stale_because(
                self.now, self.window.of(signature), h.last_seen,
                self.recoveries.first_after(node, signature, h.last_seen))
            yield node, source, signature, h, why

    def facts(self) -> Iterator[dict[str, Any]]:
        """Current hits only: a stale hit must never make a finding."""
        kind = CATALOG["signature_hit"]
        for node, source, signature, h, why in self._judged():
            if not why:
                yield kind.make(
                    node=node, signature=signature, source=source, cni=h.cni, count=h.count,
                    first_seen=h.first_seen, last_seen=h.last_seen, sample=h.sample,
                )

    def resolved(self) -> list[dict[str, Any]]:
        """Stale hits, for the report's "resolved earlier" list."""
        return [resolved_entry(source, node, f"Node/{node}" if node else "", signature, h.count, h.first_seen,
                               h.last_seen, h.sample, why)
                for node, source, signature, h, why in self._judged() if why]
