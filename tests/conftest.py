"""Shared fixtures: paths to the demo snapshots and a CLI runner over the real entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = ROOT / "examples" / "rke2-outage"
HEALTHY = ROOT / "examples" / "healthy"


@pytest.fixture
def outage_copy(tmp_path: Path) -> Path:
    """A writable copy of the outage snapshot, to break in place."""
    return Path(shutil.copytree(OUTAGE, tmp_path / "snap"))


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubetriage() -> Run:
    """Run the installed CLI as a user would (a real subprocess, real exit codes)."""
    def run(*args: str | Path, check_json: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "kubetriage", *map(str, args)],
                              capture_output=True, text=True, timeout=120)
        if check_json:
            json.loads(proc.stdout)
        return proc
    return run


def triage_json(run: Run, snapshot: Path, *extra: str) -> dict[str, Any]:
    proc = run("triage", "--snapshot", snapshot, "-o", "json", "--fail-on", "never", *extra)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))
