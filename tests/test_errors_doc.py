"""docs/errors.md lists every error code the source can raise, and only those."""

from __future__ import annotations

import re

from .conftest import ROOT

DOC = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")


def _raised() -> set[str]:
    sources = [*(ROOT / "engine").rglob("*.py"), *(ROOT / "collectors").rglob("*.py")]
    return {code for path in sources for code in re.findall(r'"(E\d{3})"', path.read_text(encoding="utf-8"))}


def test_every_raised_code_is_documented_once() -> None:
    documented = re.findall(r"^\| (E\d{3}) \|", DOC, flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), "a code is listed twice"
    assert set(documented) == _raised()


def test_every_exit_code_is_documented() -> None:
    cli = (ROOT / "engine" / "cli.py").read_text(encoding="utf-8")
    declared = re.search(r"^EXIT_\w+(?:, EXIT_\w+)* = ([\d, ]+)$", cli, re.MULTILINE)
    assert declared, "cli.py declares its exit codes as EXIT_A, EXIT_B = 0, 1"
    exits = {int(n) for n in declared.group(1).split(",")}
    documented = {int(n) for n in re.findall(r"^\| (\d) \|", DOC, flags=re.MULTILINE)}
    assert exits <= documented
