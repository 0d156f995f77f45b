"""Hostile rule packs, runbooks and config files: a located error, never a hang or a traceback.

Each case writes a small pack into a temporary directory and runs the real CLI under a
timeout; the table says what kubetriage must answer instead of crashing or expanding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetriage import yamlsource
from kubetriage.errors import Problem

from .conftest import Run

ROOT = Path(__file__).resolve().parent.parent
RULE = (ROOT / "rules" / "ingress" / "NET-ING-001.yaml").read_text(encoding="utf-8")

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(("text", "message"), [
    (LAUGHS, "aliases expand to more than 100000 values"),
    ("a: &a [1, *a]\n", "alias *a is inside the collection it names"),
    ("[" * 200 + "]" * 200, "nested deeper than 64 levels"),
    ("x: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
], ids=["billion-laughs", "recursive-alias", "deep-nesting", "python-tag"])
def test_bounded_loader_refuses(text: str, message: str) -> None:
    with pytest.raises(yaml.YAMLError, match=message.replace("*", r"\*")):
        yamlsource.safe_load(text)
    problems: list[Problem] = []
    assert yamlsource.parse_located(text, "f.yaml", problems) is None
    assert len(problems) == 1 and problems[0].code == "E100" and message in problems[0].message


def test_bounded_loader_keeps_ordinary_aliases() -> None:
    assert yamlsource.safe_load("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}


@pytest.mark.parametrize("where", ["rule", "config", "runbook"])
def test_alias_bomb_in_every_authored_file_is_a_located_error(where: str, tmp_path: Path,
                                                               kubetriage: Run) -> None:
    pack = tmp_path / "pack"
    (pack / "runbooks").mkdir(parents=True)
    args: list[str | Path] = ["rules", "lint", pack]
    if where == "rule":
        target = pack / "NET-X-001.yaml"
        target.write_text(LAUGHS, encoding="utf-8")
    elif where == "config":
        target = tmp_path / "kubetriage.yaml"
        target.write_text(LAUGHS, encoding="utf-8")
        args = ["rules", "lint", "--config", target]
    else:
        target = pack / "runbooks" / "bomb.md"
        target.write_text("---\n" + LAUGHS + "---\nbody\n", encoding="utf-8")
    proc = kubetriage(*args)
    assert proc.returncode == 1, proc.stderr
    assert f"{target}:" in proc.stdout and "E100 invalid YAML: aliases expand" in proc.stdout
    assert len(proc.stdout) < 2000 and "Traceback" not in proc.stderr


def test_runbook_that_is_not_utf8_is_located(tmp_path: Path, kubetriage: Run) -> None:
    books = tmp_path / "pack" / "runbooks"
    books.mkdir(parents=True)
    (books / "bad.md").write_bytes(b"---\nid: bad\ntitle: \xff\xfe broken\n---\n")
    proc = kubetriage("rules", "lint", books.parent)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{books / 'bad.md'}:3:8: E100 not UTF-8 text: byte 0xff" in proc.stdout
