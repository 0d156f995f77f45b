"""Streaming JSON: objects of a Kubernetes List one at a time; Secret keys dropped unread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson

#: Where a TLS private key sits in a Secret, relative to the object.
PRIVATE_KEY_PATH = "data.tls.key"


def list_items(stream: IO[bytes], strip_private_keys: bool = False) -> Iterator[dict[str, Any]]:
    """Yield ``items[]`` of a List. With ``strip_private_keys``, a ``tls.key`` value is
    replaced by null at the parser-event level, so it is never built into an object."""
    if not strip_private_keys:
        yield from ijson.items(stream, "items.item", use_float=True)
        return
    yield from _filtered(stream, "items.item")


def single_object(stream: IO[bytes]) -> dict[str, Any]:
    """One object (a GET response), with any ``tls.key`` value replaced by null unread."""
    for obj in _filtered(stream, ""):
        return obj
    return {}


def _filtered(stream: IO[bytes], item_prefix: str) -> Iterator[dict[str, Any]]:
    secret = f"{item_prefix}.{PRIVATE_KEY_PATH}" if item_prefix else PRIVATE_KEY_PATH
    builder: ijson.ObjectBuilder | None = None
    for prefix, event, value in ijson.parse(stream, use_float=True):
        if builder is not None and prefix.startswith(secret):
            if prefix == secret and not event.startswith("end_"):
                builder.event("null", None)
            continue
        if prefix == item_prefix and event == "start_map":
            builder = ijson.ObjectBuilder()
        if builder is not None:
            builder.event(event, value)
            if prefix == item_prefix and event == "end_map":
                yield builder.value
                builder = None
