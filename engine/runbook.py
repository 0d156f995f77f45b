"""Runbook templates: Markdown with YAML front-matter, found by id.

Built-in runbooks ship in ``kubetriage.runbooks``; users add directories, and
a later runbook with the same id replaces an earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from kubetriage.errors import Problem, RuleValidationError
from kubetriage.templates import render


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    rules: tuple[str, ...]
    body: str
    path: str

    def render(self, context: dict[str, Any]) -> str:
        return render(self.body, {"title": self.title, **context})


def builtin_runbooks_dir() -> Path:
    return Path(str(files("kubetriage.runbooks")))


def load_runbooks(extra_dirs: Sequence[Path] = ()) -> dict[str, Runbook]:
    problems: list[Problem] = []
    books: dict[str, Runbook] = {}
    for directory in (builtin_runbooks_dir(), *extra_dirs):
        for path in sorted(directory.glob("*.md")):
            book = _load(path, problems)
            if book:
                books[book.id] = book
    if problems:
        raise RuleValidationError(problems)
    return books


def _load(path: Path, problems: list[Problem]) -> Runbook | None:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        problems.append(Problem(str(path), 1, 1, "E120", "a runbook starts with YAML front-matter "
                                "between '---' lines"))
        return None
    head, body = text[4:].split("\n---\n", 1)
    try:
        front = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(str(path), (mark.line + 2) if mark else 1,
                                (mark.column + 1) if mark else 1, "E120", f"invalid front-matter: {exc}"))
        return None
    if not isinstance(front, dict) or not isinstance(front.get("id"), str):
        problems.append(Problem(str(path), 2, 1, "E120", "front-matter needs an 'id'"))
        return None
    if front["id"] != path.stem:
        problems.append(Problem(str(path), 2, 1, "E120",
                                f"runbook id {front['id']!r} must match the file name {path.stem!r}"))
        return None
    return Runbook(id=front["id"], title=str(front.get("title", front["id"])),
                   rules=tuple(front.get("rules") or ()), body=body, path=str(path))
