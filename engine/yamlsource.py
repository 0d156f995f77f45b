"""YAML for untrusted authored files: safe types, no duplicate keys, positions kept.

PyYAML silently keeps the last of two equal keys; authored rules must not
lose a condition that way. Every value can be traced back to ``line:col``
so validation errors point at the exact place, as promtool does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubetriage.errors import Problem


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), 1, 1, "E100", f"cannot read file: {exc}"))
        return None
    return parse_located(text, str(path), problems)


def parse_located(text: str, name: str, problems: list[Problem], first_line: int = 1) -> LocatedDoc | None:
    """Like load_located for YAML embedded in another file, starting at ``first_line``."""
    loader = yaml.SafeLoader("\n" * (first_line - 1) + text)
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
