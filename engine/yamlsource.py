"""YAML for untrusted files: safe types, bounded, no duplicate keys, positions kept.

PyYAML silently keeps the last of two equal keys; authored rules must not
lose a condition that way. Every value can be traced back to ``line:col``
so validation errors point at the exact place, as promtool does.

Rule packs, runbooks, the config file and snapshots are untrusted: a file is read
up to a byte limit, nesting is bounded (PyYAML composes recursively), and an alias
counts as a copy of what it names, so a "billion laughs" document is refused once
its expanded size passes a node limit instead of hanging whatever walks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from kubetriage.errors import Problem

#: Bounds for one document: bytes read, nested collections, nodes after alias expansion.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


class YamlLimitError(yaml.MarkedYAMLError):
    """A document passes one of the bounds above (a ``yaml.YAMLError``, so callers catching
    PyYAML's errors need no change)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags) that refuses deep nesting and alias bombs while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height) once expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        target = self.anchors.get(event.anchor) if isinstance(event, yaml.AliasEvent) else None
        if target is not None and id(target) not in self._sizes:
            raise YamlLimitError(None, None, f"alias *{event.anchor} is inside the collection it names",
                                 event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        if id(node) not in self._sizes:  # an alias's target was sized when it was composed
            below = [self._sizes[id(child)] for child in _children(node)]
            self._sizes[id(node)] = (1 + sum(n for n, _ in below), 1 + max((h for _, h in below), default=0))
        values, height = self._sizes[id(node)]
        if values > MAX_NODES or height > MAX_DEPTH:
            raise YamlLimitError(None, None, f"aliases expand to more than {MAX_NODES} values or "
                                             f"{MAX_DEPTH} levels", event.start_mark)
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def safe_load(text: str) -> Any:
    """``yaml.safe_load`` within the bounds above; raises ``yaml.YAMLError`` (also for a bound)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_text(path: Path, problems: list[Problem], limit: int = MAX_BYTES) -> str | None:
    """A UTF-8 file of at most ``limit`` bytes; a problem located at the first bad byte otherwise."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, "E100", f"cannot read file: {exc.strerror or exc}"))
        return None
    if len(data) > limit:
        problems.append(Problem(str(path), 1, 1, "E100", f"file is larger than {limit} bytes"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line, col = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        problems.append(Problem(str(path), line, col, "E100", f"not UTF-8 text: byte {data[exc.start]:#04x}"))
        return None


@dataclass
class LocatedDoc:
    """A parsed YAML document and its node tree, for locating problems."""

    path: str
    value: Any
    root: yaml.Node

    def locate(self, keys: Sequence[Any] = (), key: bool = False) -> tuple[int, int]:
        """1-based line and column of the value at ``keys`` (or of its key)."""
        node, key_node = self.root, None
        for k in keys:
            if isinstance(node, yaml.MappingNode):
                found = next(((kn, vn) for kn, vn in node.value if kn.value == k), None)
                if found is None:
                    break
                key_node, node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(k, int) and k < len(node.value):
                key_node, node = None, node.value[k]
            else:
                break
        mark = (key_node if key and key_node is not None else node).start_mark
        return mark.line + 1, mark.column + 1

    def problem(self, code: str, message: str, keys: Sequence[Any] = (), key: bool = False) -> Problem:
        line, col = self.locate(keys, key)
        return Problem(self.path, line, col, code, message)


def _duplicate_keys(node: yaml.Node, path: str) -> list[Problem]:
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.value in seen:
                mark = key_node.start_mark
                problems.append(
                    Problem(path, mark.line + 1, mark.column + 1, "E100",
                            f"duplicate key {key_node.value!r}")
                )
            seen.add(key_node.value)
            problems += _duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += _duplicate_keys(item, path)
    return problems


def load_located(path: Path, problems: list[Problem]) -> LocatedDoc | None:
    """Parse one YAML document; append problems and return None when it is unusable."""
    text = read_text(path, problems)
    return None if text is None else parse_located(text, str(path), problems)


def parse_located(text: str, name: str, problems: list[Problem], first_line: int = 1) -> LocatedDoc | None:
    """Like load_located for YAML embedded in another file, starting at ``first_line``."""
    loader = _BoundedLoader("\n" * (first_line - 1) + text)
    try:
        root = loader.get_single_node()
        if root is None:
            problems.append(Problem(name, 1, 1, "E100", "empty file"))
            return None
        dupes = _duplicate_keys(root, name)
        if dupes:
            problems.extend(dupes)
            return None
        value = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(name, line, col, "E100", f"invalid YAML: {exc.problem or exc}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(name, 1, 1, "E100", f"invalid YAML: {exc}"))
        return None
    finally:
        loader.dispose()
    return LocatedDoc(name, value, root)
