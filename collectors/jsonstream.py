"""Streaming JSON: the items of a Kubernetes List one at a time, bounded, Secret keys dropped unread.

Built on ijson's event stream (C parser) with our own object builder, so that
nesting is bounded (ijson's own builder keeps a prefix string per level: 30,000
levels cost gigabytes), the List's shape is checked (a bare array, a string or
``items`` that is not a list is not "a List with no items"), and a ``tls.key``
value is skipped at the event level, never built into an object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

#: Kubernetes objects nest about 20 levels deep; custom resources stay well below this.
MAX_DEPTH = 100
#: Where a TLS private key sits in a Secret, relative to the object.
PRIVATE_KEY_PATH = ("data", "tls.key")

Events = Iterator[tuple[str, Any]]
_STARTS = frozenset(("start_map", "start_array"))


class ShapeError(ValueError):
    """Well-formed JSON that is not the expected shape."""


@dataclass(frozen=True)
class TooDeep:
    """Stands for an item nested deeper than MAX_DEPTH (skipped without being built)."""

    reason: str = f"nested deeper than {MAX_DEPTH} levels"


def list_items(stream: IO[bytes], strip_private_keys: bool = False, key: str = "items") -> Iterator[Any]:
    """Yield each value of a List's ``items`` (or of another top-level array ``key``; normally an
    object, a TooDeep in its place when nested too deep). Raises ShapeError when the document is
    not such an object, ijson.JSONError when it is not JSON. With ``strip_private_keys``, a
    ``tls.key`` value is replaced by null unread."""
    drop = PRIVATE_KEY_PATH if strip_private_keys else None
    events: Events = ijson.basic_parse(stream, use_float=True)
    event, value = next(events)
    if event != "start_map":
        raise ShapeError(f"found a JSON {_what(event)}")
    kind, found = "", False
    for event, name in events:
        if event == "end_map":
            break
        event, value = next(events)
        if name == key:
            if event != "start_array":
                raise ShapeError(f"found {key} that is a JSON {_what(event)}, not a list")
            found = True
            for event, value in events:
                if event == "end_array":
                    break
                yield _item(events, event, value, drop)
        elif name == "kind" and event == "string":
            kind = value
        else:
            _skip(events, event)
    for _ in events:  # trailing garbage is an error too
        pass
    if not found:
        raise ShapeError(f"found kind {ascii(kind)[1:-1][:100]}" if kind else f"found no {key} list")


def single_object(stream: IO[bytes]) -> dict[str, Any]:
    """One object (a GET response), with any ``tls.key`` value replaced by null unread."""
    events: Events = ijson.basic_parse(stream, use_float=True)
    obj = _item(events, *next(events), PRIVATE_KEY_PATH)
    for _ in events:
        pass
    if not isinstance(obj, dict):
        raise ShapeError("not a JSON object" if not isinstance(obj, TooDeep) else obj.reason)
    return obj


def _item(events: Events, event: str, value: Any, drop: tuple[str, ...] | None) -> Any:
    try:
        return _build(events, event, value, 1, drop)
    except _Deep as deep:
        for _ in range(deep.open_levels):
            _skip(events, "start_map")  # any start event: skip to its end
        return TooDeep()


class _Deep(Exception):
    def __init__(self, open_levels: int) -> None:
        self.open_levels = open_levels


def _build(events: Events, event: str, value: Any, depth: int, drop: tuple[str, ...] | None) -> Any:
    """The value that starts with ``event``; containers built recursively (depth is bounded)."""
    if event == "start_map":
        if depth > MAX_DEPTH:
            raise _Deep(depth)
        obj: dict[str, Any] = {}
        for event, key in events:
            if event == "end_map":
                return obj
            event, value = next(events)
            if drop is not None and drop[0] == key:
                if len(drop) == 1:
                    _skip(events, event)
                    obj[key] = None
                    continue
                obj[key] = _build(events, event, value, depth + 1, drop[1:])
            else:
                obj[key] = _build(events, event, value, depth + 1, None) if event in _STARTS else value
        return obj
    if event == "start_array":
        if depth > MAX_DEPTH:
            raise _Deep(depth)
        array: list[Any] = []
        for event, value in events:
            if event == "end_array":
                return array
            array.append(_build(events, event, value, depth + 1, None) if event in _STARTS else value)
        return array
    return value


def _skip(events: Events, event: str) -> None:
    """Consume the rest of the value that started with ``event`` (nothing for a scalar)."""
    if event not in _STARTS:
        return
    depth = 1
    for event, _ in events:
        if event in _STARTS:
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


def _what(event: str) -> str:
    return {"start_map": "object", "start_array": "array", "map_key": "key", "null": "null",
            "boolean": "boolean", "integer": "number", "double": "number", "number": "number",
            "string": "string"}.get(event, event)
