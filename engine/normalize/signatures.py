"""The signature catalog: known failure lines, classified with Python ``re``.

Rules never see raw log text; they match ``signature_hit.signature``. Each
signature lists regexes for stable fragments of a real error string (see
``rules/signatures/*.yaml``), plus lines that must and must not match, which
the test suite and ``rules lint`` check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, RuleValidationError
from kubetriage.normalize.common import clip
from kubetriage.yamlsource import load_located

_CNI_TYPE = re.compile(r'plugin type=\\?"([\w.-]+)\\?"')
_SIGNATURE_KEYS = {"id", "component", "meaning", "patterns", "references", "tests", "fallback"}


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

    def matches(self, line: str) -> bool:
        return any(p.search(line) for p in self.patterns)


class SignatureCatalog:
    """Classifies lines into signature ids; specific signatures win over fallbacks."""

    def __init__(self, signatures: Iterable[Signature]) -> None:
        by_id: dict[str, Signature] = {}
        for sig in signatures:
            by_id[sig.id] = sig  # later directories override earlier ones by id
        self.signatures = list(by_id.values())
        self._specific = [s for s in self.signatures if not s.fallback]
        self._fallback = [s for s in self.signatures if s.fallback]
        every = [p.pattern for s in self.signatures for p in s.patterns]
        self._prefilter = re.compile("|".join(f"(?:{p})" for p in every) or "(?!)", re.I)

    def classify(self, line: str) -> list[str]:
        """Ids of the signatures ``line`` shows (usually zero or one)."""
        if not self._prefilter.search(line):
            return []
        hits = [s.id for s in self._specific if s.matches(line)]
        return hits or [s.id for s in self._fallback if s.matches(line)]

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
        signatures = [sig for path in paths for sig in _load_file(path, problems)]
        if problems:
            raise RuleValidationError(problems)
        return cls(signatures)


def _load_file(path: Path, problems: list[Problem]) -> list[Signature]:
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
        if sig:
            out.append(sig)
    return out


def _signature(entry: dict[str, Any], path: str, problems: list[Problem], doc: Any,
               here: tuple[Any, ...]) -> Signature | None:
    if not isinstance(entry.get("id"), str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", entry["id"]):
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
    )


@dataclass
class _Hits:
    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    sample: str = ""
    cni: str = ""


class HitAggregator:
    """Folds classified lines into one ``signature_hit`` fact per node, source and signature."""

    def __init__(self, catalog: SignatureCatalog) -> None:
        self.catalog = catalog
        self._hits: dict[tuple[str, str, str], _Hits] = {}

    def feed(self, node: str, source: str, line: str, seen: str = "", count: int = 1) -> None:
        for signature in self.catalog.classify(line):
            hits = self._hits.setdefault((node, source, signature), _Hits())
            hits.count += count
            if seen and (not hits.first_seen or seen < hits.first_seen):
                hits.first_seen = seen
            if not hits.last_seen or seen >= hits.last_seen:
                hits.last_seen, hits.sample = seen, clip(line)
            hits.cni = hits.cni or self.catalog.cni_of(line)

    def facts(self) -> Iterator[dict[str, Any]]:
        kind = CATALOG["signature_hit"]
        for (node, source, signature), h in sorted(self._hits.items()):
            yield kind.make(
                node=node, signature=signature, source=source, cni=h.cni, count=h.count,
                first_seen=h.first_seen, last_seen=h.last_seen, sample=h.sample,
            )
