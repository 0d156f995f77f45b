"""List, then watch, one resource for as long as the process runs, keeping the mirror current.

The list is read page by page; its resourceVersion starts the watch. Every event moves
the resourceVersion on (BOOKMARKs too: the server says "you are current up to here"). A
watch that ends (the server's timeout, a dropped connection) resumes from the last
resourceVersion; one that is too old (410 Gone, as an ERROR event or a status) lists
again. Failures back off exponentially up to a minute; a permanent one (403, 404: RBAC or
an API group not served) makes the resource "not collected" until a retry succeeds.
Requests go through :class:`kubetriage.collectors.kube.Api` (auth, TLS, timeouts, error
mapping); only the streaming read of a watch is done here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3

from kubetriage.collectors.kube import API_RESOURCES, Api, ApiFailure
from kubetriage.watch.mirror import Key, Mirror, key_of, slim

log = logging.getLogger("kubetriage.watch")

_WATCH_SECONDS = 300  # the server ends each watch after this; we resume from where it was
_MAX_LINE = 16 << 20  # one watch event
_MAX_BACKOFF = 60.0


class Gone(Exception):
    """The resourceVersion is too old: list again."""


@dataclass
class StreamState:
    """What the metrics say about one resource's stream."""

    resource: str
    version: str = ""
    synced: bool = False
    heard: float = 0.0  # monotonic time of the last list, event or bookmark
    error: str = ""


@dataclass(frozen=True)
class Hooks:
    """What an informer reports, for metrics."""

    relisted: Callable[[str, str], None]  # resource, reason
    event: Callable[[str, str], None]  # resource, type
    failed: Callable[[str], None]  # resource
    reconnected: Callable[[str], None]  # resource


class Informer:
    """One resource's list+watch loop on its own thread; see the module docstring."""

    def __init__(self, resource: str, http: Api, mirror: Mirror, hooks: Hooks, namespace: str | None,
                 stop: threading.Event, chunk_size: int = 500, watch_seconds: int = _WATCH_SECONDS) -> None:
        prefix, plural, namespaced = API_RESOURCES[resource]
        ns = namespace if namespaced else None
        self.path = f"{prefix}/namespaces/{quote(ns, safe='')}/{plural}" if ns else f"{prefix}/{plural}"
        self.resource, self.http, self.mirror, self.hooks = resource, http, mirror, hooks
        self.stop, self.chunk_size, self.watch_seconds = stop, chunk_size, watch_seconds
        self.state = StreamState(resource)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{resource}")

    def start(self) -> Informer:
        self.thread.start()
        return self

    def _run(self) -> None:
        backoff, reason = 0.5, "start"
        while not self.stop.is_set():
            try:
                self._list(reason)
                backoff = 0.5
                while not self.stop.is_set():
                    self._watch()
                    self.hooks.reconnected(self.resource)
            except Gone:
                reason = "gone"
                continue
            except ApiFailure as failure:
                self._failed(str(failure), failure.permanent)
            except Exception as exc:  # a bug must not end the watch of this resource for good
                log.exception("watch of %s failed", self.resource)
                self._failed(f"internal error: {exc}", permanent=False)
            reason = "error"
            self.stop.wait(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _failed(self, message: str, permanent: bool) -> None:
        log.warning("watch %s: %s", self.resource, message)
        self.hooks.failed(self.resource)
        self.state.error = message
        if permanent:
            self.state.synced = False
            self.mirror.forget(self.resource)

    def _list(self, reason: str) -> None:
        objects: dict[Key, dict[str, Any]] = {}
        token, version = "", ""
        while True:
            query: dict[str, Any] = {"limit": self.chunk_size}
            if token:
                query["continue"] = token
            doc = self.http.get_json(self.path, query)  # a 410 on a continue token: list again from the start
            items = doc.get("items")
            if items is not None and not isinstance(items, list):
                raise ApiFailure(f"response is not a List (items is a {type(items).__name__})", permanent=True)
            for obj in items or []:
                key = key_of(obj) if isinstance(obj, dict) else None
                if key is not None:
                    objects[key] = slim(obj)
            metadata = _metadata(doc)
            version = version or str(metadata.get("resourceVersion") or "")
            token = str(metadata.get("continue") or "")
            if not token:
                break
        self.mirror.replace(self.resource, objects)
        self.state.version, self.state.synced, self.state.error = version, True, ""
        self.state.heard = time.monotonic()
        self.hooks.relisted(self.resource, reason)

    def _watch(self) -> None:
        query = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": self.watch_seconds}
        if self.state.version:
            query["resourceVersion"] = self.state.version
        for event in self._events(query):
            kind, obj = event.get("type"), event.get("object")
            if not isinstance(obj, dict):
                continue
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ApiFailure(f"watch error: {obj.get('message') or obj}", permanent=False)
            md = _metadata(obj)
            self.state.version = str(md.get("resourceVersion") or self.state.version)
            self.state.heard = time.monotonic()
            if kind in ("ADDED", "MODIFIED"):
                self.mirror.put(self.resource, obj)
            elif kind == "DELETED":
                self.mirror.delete(self.resource, obj)
            self.hooks.event(self.resource, str(kind))

    def _events(self, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The decoded events of one watch request, until the server ends it or the stream breaks
        (a dropped connection ends the watch quietly: the caller resumes from the last version)."""
        response = self.http.open(self.path, query, read_timeout=self.watch_seconds + self.http.settings.timeout)
        raw = response.response
        try:
            if response.status == 410:
                raise Gone()
            if not 200 <= response.status < 300:
                body = raw.read(64 << 10)
                raise ApiFailure(f"watch: HTTP {response.status}: {body[:200].decode('utf-8', 'replace')}",
                                 permanent=response.status in (401, 403, 404))
            yield from _decoded(_lines(raw))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.info("watch %s: stream ended (%s); resuming", self.resource, exc)
        finally:
            raw.close()


def _lines(raw: Any) -> Iterator[bytes]:
    """Newline-delimited lines of a streamed body, each bounded by ``_MAX_LINE``."""
    buffer = b""
    for chunk in raw.stream(1 << 16, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
        if len(buffer) > _MAX_LINE:
            raise ApiFailure(f"a watch event larger than {_MAX_LINE >> 20} MiB", permanent=False)
    if buffer.strip():
        yield buffer


def _decoded(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            raise ApiFailure(f"a watch event is not JSON: {line[:80]!r}", permanent=False) from None
        if isinstance(event, dict):
            yield event


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}
