"""Fuzz (hypothesis): random mutations of the demo snapshot's JSON and node files.

Whatever a mutation does, the triage finishes (no exception, no hang), prints no
escape sequence, and loses nothing silently: a source that is no longer collected
has a coverage error naming it.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rich.console import Console

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.reports import render_report
from kubetriage.triage import TriageReport, resolve_now, triage

from .conftest import OUTAGE

KNOWLEDGE = Knowledge.load()
API_FILES = sorted(p.relative_to(OUTAGE).as_posix() for p in (OUTAGE / "api").glob("*.json"))
NODE_FILES = sorted(p.relative_to(OUTAGE).as_posix() for p in (OUTAGE / "nodes").rglob("*") if p.is_file())
#: Seconds one triage may take before it counts as a hang (in-process, so generous for a loaded machine).
HANG = 120

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\x1b]0;pwned\x07", "\x1b[2J", "999.1.1.1/xx", "web 1", "lots", "cni plugin not initialized", ""])
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | _TEXT)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6)


@st.composite
def json_mutation(draw: st.DrawFn) -> tuple[str, list[Any], Any]:
    """(file, path of keys into it, new value): the path is walked from the top of the document
    (one mutation per file: a path is only valid in the unchanged document)."""
    rel = draw(st.sampled_from(API_FILES))
    node: Any = json.loads((OUTAGE / rel).read_text())
    path: list[Any] = []
    while isinstance(node, (dict, list)) and node and draw(st.integers(0, 5)):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    return rel, path, draw(_VALUES)


@st.composite
def bytes_mutation(draw: st.DrawFn) -> tuple[str, int, bytes]:
    """(node file, offset, bytes inserted there)."""
    rel = draw(st.sampled_from(NODE_FILES))
    size = (OUTAGE / rel).stat().st_size
    return rel, draw(st.integers(0, size)), draw(st.binary(max_size=64) | st.sampled_from(
        [b"\x1b]0;x\x07", b"\xff\xfe", b"\x00" * 10, b"x" * 20_000, b"\n" * 3]))


def _apply_json(snap: Path, rel: str, path: list[Any], value: Any) -> None:
    doc = json.loads((snap / rel).read_text())
    if not path:
        doc = value
    else:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    (snap / rel).write_text(json.dumps(doc))


def _apply_bytes(snap: Path, rel: str, offset: int, data: bytes) -> None:
    old = (snap / rel).read_bytes()
    (snap / rel).write_bytes(old[:offset] + data + old[offset:])


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def hang(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the triage took longer than {seconds}s")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _triage(snap: Path) -> tuple[TriageReport, str]:
    with _deadline(HANG):
        bundle = SnapshotBundle(snap)
        report = triage(bundle, KNOWLEDGE, resolve_now(bundle, None))
        console = Console(file=io.StringIO(), width=120)
        render_report(report, "table", console)
        json.dumps(report.as_dict())
    return report, console.file.getvalue()  # type: ignore[attr-defined]


BASELINE, _ = _triage(OUTAGE)


def _check(snap: Path) -> None:
    report, table = _triage(snap)
    assert "\x1b" not in table and "\x07" not in table
    errors = [e.target for e in report.facts.errors]
    for source in set(BASELINE.facts.collected) - set(report.facts.collected):
        assert any(t == source or t.startswith(source + ".") or source.startswith(t + "/") for t in errors), \
            (source, report.facts.errors)


#: Bounded and repeatable (derandomized), without shrinking: a failure prints its example at once.
_FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                 phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FUZZ
@given(mutations=st.lists(json_mutation(), min_size=1, max_size=3, unique_by=lambda m: m[0]))
def test_json_mutations_never_crash_hang_or_hide(mutations: list[tuple[str, list[Any], Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(shutil.copytree(OUTAGE, Path(tmp) / "snap"))
        for rel, path, value in mutations:
            _apply_json(snap, rel, path, value)
        _check(snap)


@_FUZZ
@given(mutations=st.lists(bytes_mutation(), min_size=1, max_size=3))
def test_node_file_mutations_never_crash_hang_or_leak_escapes(mutations: list[tuple[str, int, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(shutil.copytree(OUTAGE, Path(tmp) / "snap"))
        for rel, offset, data in mutations:
            _apply_bytes(snap, rel, offset, data)
        _check(snap)
