"""Generated test data is current: the example snapshots and the scenario corpus equal, byte for
byte, what their builders write now (`make regen` rewrites them; the rule pages, README tables and
golden runbooks are checked beside their own tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scenarios import build_scenarios
from tests.support import build_examples

from .conftest import ROOT


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}


@pytest.mark.parametrize(("built", "builder"), [
    (ROOT / "examples", build_examples.build_all),
    (ROOT / "tests" / "scenarios", build_scenarios.build_all),
], ids=["examples", "scenarios"])
def test_generated_data_is_current(built: Path, builder: Callable[[Path], None], tmp_path: Path) -> None:
    builder(tmp_path)
    fresh, kept = _tree(tmp_path), _tree(built)
    stale = sorted(name for name in fresh.keys() | kept.keys() if fresh.get(name) != kept.get(name))
    assert not stale, f"{len(stale)} stale file(s) under {built.relative_to(ROOT)}, e.g. {stale[:3]}: run `make regen`"
