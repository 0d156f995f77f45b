"""The signature catalog: known failure lines, classified with regular expressions.

Rules never see raw log text; they match ``signature_hit.signature``. Each
signature lists regexes for stable fragments of a real error string (see
``rules/signatures/*.yaml``, schema ``signature.v1.json``), plus lines that must
and must not match, which loading checks (so ``rules lint`` does). A signature with
``recovers`` is a success line: it never becomes a hit, it marks the moment the signatures it
lists stopped on its node (see ``kubetriage.normalize.currency``). A controller's line names
the API object it is about (a Secret, a Service, an Ingress): named groups ``object``
(``namespace/name``), ``namespace`` and ``name`` capture it, so rules can make that object the
subject even when the controller's view differs from what the API shows.

Patterns are compiled with the ``regex`` module, which accepts what a combined prefilter
needs (a ``(?i)`` inside, a group name used by two signatures) and takes a timeout. Lines are
cut at ``MAX_LINE`` characters before matching, and loading probes each pattern with lines
built from its own letters to refuse the worst ones before they run. Patterns from rule packs
are untrusted: they run one by one with a timeout (a pattern that backtracks catastrophically
on a line costs at most ``MATCH_SECONDS`` there, is skipped for that line and reported). The
built-in ones, reviewed and probed, share one prefilter without a timeout (asking for one
costs more than the search).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import regex

from kubetriage.bundle import MAX_LINE
from kubetriage.catalog import CATALOG
from kubetriage.errors import Problem, ValidationError
from kubetriage.normalize.common import clip
from kubetriage.normalize.currency import STATE_SOURCES, EvidenceWindow, Recoveries, resolved_entry, stale_because
from kubetriage.schema import check as check_schema
from kubetriage.yamlsource import LocatedDoc, load_located

_CNI_TYPE = re.compile(r'plugin type=\\?"([\w.-]+)\\?"')
#: Time one pattern may take on one line (wall clock: a search that runs out is tried once more,
#: so that a busy machine's scheduling alone does not skip a line), and on a lint probe.
MATCH_SECONDS = 0.25
PROBE_SECONDS = 1.0
_FLAGS = regex.IGNORECASE | regex.VERSION0
_OBJECT_GROUPS = {"object", "namespace", "name"}


@dataclass(frozen=True)
class Signature:
    """One failure signature."""

    id: str
    component: str
    meaning: str
    patterns: tuple[regex.Pattern[str], ...]
    references: tuple[str, ...]
    match_examples: tuple[str, ...]
    no_match_examples: tuple[str, ...]
    fallback: bool  # only applies when no specific signature matches the line
    path: str
    overrides: bool = False
    builtin: bool = False
    #: a success line: the signature ids it ends on its node (never a hit itself)
    recovers: tuple[str, ...] = ()
    #: a Ready pod of this networking role on the node is the same recovery, at its Ready transition
    role: str = ""
    object_kind: str = ""  # kind of the API object its lines name (Secret, Service...), or ''

    def named_object(self, line: str) -> tuple[str, str]:
        """(namespace, name) of the object ``line`` names, from the first pattern that names one."""
        for pattern in self.patterns:
            found = _search(pattern, line, MATCH_SECONDS) if not self.builtin else pattern.search(line)
            groups = found.groupdict() if found else {}
            namespace, _, name = (groups.get("object") or "").rpartition("/")
            name = groups.get("name") or name
            if name:
                return groups.get("namespace") or namespace, name
        return "", ""

    def matches(self, line: str) -> bool:
        """Whether a pattern is found in ``line``; a pack's pattern raises TimeoutError past
        MATCH_SECONDS, twice."""
        if self.builtin:
            return any(p.search(line) for p in self.patterns)
        return any(_search(p, line, MATCH_SECONDS) for p in self.patterns)


class SignatureCatalog:
    """Classifies lines into signature ids; specific signatures win over fallbacks."""

    def __init__(self, signatures: Iterable[Signature]) -> None:
        self.signatures = list(signatures)
        self.by_id = {s.id: s for s in self.signatures}
        self._specific = [s for s in self.signatures if not s.fallback]
        self._fallback = [s for s in self.signatures if s.fallback]
        builtin = [p.pattern for s in self.signatures if s.builtin for p in s.patterns]
        self._prefilter = regex.compile("|".join(f"(?:{p})" for p in builtin) or "(?!)", _FLAGS)

    def classify(self, line: str, timeouts: Counter[str] | None = None) -> list[str]:
        """Ids of the signatures ``line`` shows (usually zero or one). A signature whose pattern
        runs out of time is skipped for this line and counted in ``timeouts``."""
        line = line[:MAX_LINE]
        builtin_may_match = bool(self._prefilter.search(line))
        for group in (self._specific, self._fallback):
            hits = []
            for sig in group:
                if sig.builtin and not builtin_may_match:
                    continue
                try:
                    if sig.matches(line):
                        hits.append(sig.id)
                except TimeoutError:
                    if timeouts is not None:
                        timeouts[sig.id] += 1
            if hits:
                return hits
        return []

    def named_object(self, signature: str, line: str) -> tuple[str, str, str]:
        """(kind, namespace, name) of the API object a line of ``signature`` names, or empties."""
        sig = self.by_id[signature]
        namespace, name = sig.named_object(line[:MAX_LINE]) if sig.object_kind else ("", "")
        return (sig.object_kind if name else "", namespace, name)

    def role_recoveries(self, role: str) -> list[Signature]:
        """Recovery signatures that a Ready pod of ``role`` stands for."""
        return [s for s in self.signatures if s.recovers and s.role == role]

    @staticmethod
    def cni_of(line: str) -> str:
        """The CNI plugin a sandbox error names (``plugin type="calico"``), or ''."""
        found = _CNI_TYPE.search(line[:MAX_LINE])
        return found.group(1) if found else ""

    @classmethod
    def load(cls, extra_dirs: Iterable[Path] = ()) -> SignatureCatalog:
        """Built-in signatures, then ``signatures/*.yaml`` of each extra rule directory. Reusing an
        id is an error unless the later signature says ``overrides: true``."""
        builtin = files("kubetriage.rules").joinpath("signatures")
        sources = [(True, sorted(Path(str(p)) for p in builtin.iterdir() if p.name.endswith(".yaml")))]
        sources += [(False, sorted((extra / "signatures").glob("*.yaml"))) for extra in extra_dirs]
        problems: list[Problem] = []
        by_id: dict[str, Signature] = {}
        references: list[tuple[str, Problem]] = []  # (recovered id, the problem if it does not exist)
        for trusted, paths in sources:
            here: dict[str, Signature] = {}
            for path in paths:
                for sig, doc, at in _load_file(path, trusted, problems):
                    problem = _id_problem(sig, here.get(sig.id), by_id.get(sig.id))
                    if problem:
                        problems.append(doc.problem("E115", problem, (*at, "id")))
                        continue
                    here[sig.id] = sig
                    references += [(ref, doc.problem("E100", f"recovers names no signature {ref!r}",
                                                     (*at, "recovers", i))) for i, ref in enumerate(sig.recovers)]
            by_id.update(here)
        problems += [problem for ref, problem in references if ref not in by_id]
        if problems:
            raise ValidationError(problems)
        return cls(by_id.values())


def _id_problem(sig: Signature, same_set: Signature | None, earlier: Signature | None) -> str:
    if same_set:
        return f"duplicate signature id {sig.id!r} (also in {same_set.path})"
    if earlier and not sig.overrides:
        return f"signature id {sig.id!r} is already defined in {earlier.path}; say 'overrides: true' to replace it"
    if sig.overrides and not earlier:
        return f"'overrides: true' but no earlier signature has the id {sig.id!r}"
    return ""


def _load_file(path: Path, builtin: bool, problems: list[Problem]
               ) -> Iterator[tuple[Signature, LocatedDoc, tuple[Any, ...]]]:
    doc = load_located(path, problems)
    if doc is None:
        return
    invalid = check_schema(doc, "signature", "E100")
    if invalid:
        problems.extend(invalid)
        return
    for index, entry in enumerate(doc.value["signatures"]):
        here = ("signatures", index)
        before = len(problems)
        patterns = []
        for i, text in enumerate(entry["patterns"]):
            compiled = _compile(text, doc, (*here, "patterns", i), problems)
            if compiled is not None:
                patterns.append(compiled)
        for i, pattern in enumerate(patterns):
            unknown = set(pattern.groupindex) - _OBJECT_GROUPS
            if unknown or (pattern.groupindex and not entry.get("object_kind")):
                problems.append(doc.problem(
                    "E100", f"named groups must be {sorted(_OBJECT_GROUPS)} and need object_kind "
                            f"(found {sorted(pattern.groupindex)})", (*here, "patterns", i)))
        if len(problems) > before:
            continue
        tests = entry["tests"]
        sig = Signature(
            id=entry["id"], component=entry.get("component", ""),
            meaning=" ".join(entry.get("meaning", "").split()), patterns=tuple(patterns),
            references=tuple(entry.get("references", ())), match_examples=tuple(tests["match"]),
            no_match_examples=tuple(tests.get("no_match", ())), fallback=entry.get("fallback", False),
            path=str(path), overrides=entry.get("overrides", False), builtin=builtin,
            recovers=tuple(entry.get("recovers", ())), role=entry.get("role", ""),
            object_kind=entry.get("object_kind", ""))
        problems += _check_examples(sig, doc, here)
        yield sig, doc, here


def _compile(text: str, doc: LocatedDoc, at: tuple[Any, ...], problems: list[Problem]) -> regex.Pattern[str] | None:
    """The compiled pattern, or None with a problem: it does not compile, or it backtracks
    catastrophically on a probe line made of its own letters."""
    try:
        pattern = regex.compile(text, _FLAGS)
    except regex.error as exc:
        problems.append(doc.problem("E104", f"regex does not compile: {exc}", at))
        return None
    letters = "".join(ch for ch in text if ch.isalnum()) or "a"
    probes = [letters * (2000 // len(letters) + 1) + "!", " " * 2000 + "!"]
    for probe in probes + [ch * 2000 + "!" for ch in sorted(set(letters.lower()))]:
        try:
            _search(pattern, probe, PROBE_SECONDS)
        except TimeoutError:
            problems.append(doc.problem("E104", f"regex backtracks catastrophically: more than {PROBE_SECONDS:g} s "
                                                f"on a line of {len(probe)} characters", at))
            return None
    return pattern


def _search(pattern: regex.Pattern[str], line: str, seconds: float) -> regex.Match[str] | None:
    try:
        return pattern.search(line, timeout=seconds)
    except TimeoutError:
        return pattern.search(line, timeout=seconds)


def _check_examples(sig: Signature, doc: LocatedDoc, here: tuple[Any, ...]) -> list[Problem]:
    """Each ``match`` line matches and each ``no_match`` line does not (E114)."""
    problems = []
    for key, lines, expected in (("match", sig.match_examples, True), ("no_match", sig.no_match_examples, False)):
        for i, line in enumerate(lines):
            try:
                found = sig.matches(line[:MAX_LINE])
            except TimeoutError:
                found = not expected
            if found != expected:
                wanted = "does not match" if expected else "matches"
                problems.append(doc.problem("E114", f"the {key} example {wanted} the signature's patterns: "
                                                    f"{clip(line)}", (*here, "tests", key, i)))
    return problems


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
        self._hits: dict[tuple[str, str, str, tuple[str, str, str], str], _Hits] = {}
        self.timeouts: Counter[str] = Counter()  # signature id -> lines it ran out of time on

    def feed(self, node: str, source: str, line: str, seen: str = "", count: int = 1,
             role: str = "") -> None:
        for signature in self.catalog.classify(line, self.timeouts):
            recovers = self.catalog.by_id[signature].recovers
            if recovers:
                self.recoveries.record(node, recovers, seen, f"{source}: {clip(line, 160)}")
                continue
            named = self.catalog.named_object(signature, line)
            hits = self._hits.setdefault((node, source, signature, named, role), _Hits())
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

    def _judged(self) -> Iterator[tuple[tuple[str, str, str, tuple[str, str, str], str], _Hits, str]]:
        for key, h in sorted(self._hits.items()):
            node, source, signature, _, _ = key
            why = "" if source in STATE_SOURCES else stale_because(
                self.now, self.window.of(signature), h.last_seen,
                self.recoveries.first_after(node, signature, h.last_seen))
            yield key, h, why

    def facts(self) -> Iterator[dict[str, Any]]:
        """Current hits only: a stale hit must never make a finding."""
        kind = CATALOG["signature_hit"]
        for (node, source, signature, (obj_kind, obj_ns, obj_name), role), h, why in self._judged():
            if not why:
                yield kind.make(
                    node=node, signature=signature, source=source, cni=h.cni, count=h.count,
                    first_seen=h.first_seen, last_seen=h.last_seen, sample=h.sample, role=role,
                    object_kind=obj_kind, object_namespace=obj_ns, object_name=obj_name,
                )

    def resolved(self) -> list[dict[str, Any]]:
        """Stale hits, for the report's "resolved earlier" list."""
        return [resolved_entry(source, node, f"Node/{node}" if node else "", signature, h.count, h.first_seen,
                               h.last_seen, h.sample, why)
                for (node, source, signature, _, _), h, why in self._judged() if why]
