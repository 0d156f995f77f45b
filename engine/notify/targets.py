"""Where notifications go: ``KIND:URL`` specs, and URLs safe to print.

A Slack incoming-webhook URL is a secret (its path is the token), and any URL may carry
credentials or a token in its user info or query; logs and errors show only scheme, host and
port, so a leaked log never leaks the way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from kubetriage.errors import KubetriageError
from kubetriage.escape import terminal

TargetKind = Literal["webhook", "slack", "alertmanager"]
KINDS: tuple[TargetKind, ...] = ("webhook", "slack", "alertmanager")
ALERTMANAGER_PATH = "/api/v2/alerts"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    url: str  # where to POST (for Alertmanager, its alerts API)

    def __str__(self) -> str:
        return f"{self.kind}:{redact(self.url)}"

    def __repr__(self) -> str:
        return f"Target({self})"


def parse_target(spec: str) -> Target:
    """``webhook:URL``, ``slack:URL`` or ``alertmanager:URL`` (Alertmanager's base URL, or its
    ``/api/v2/alerts``); the error names the bad spec, its secrets left out."""
    kind, _, url = spec.partition(":")
    shown = redact(spec) if kind in ("http", "https") else f"{terminal(kind[:20])}:{redact(url)}"
    if kind not in KINDS:
        raise KubetriageError(f"notification target {shown!r}: expected KIND:URL with KIND one of "
                              f"{', '.join(KINDS)}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError as exc:
        raise KubetriageError(f"notification target {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KubetriageError(f"notification target {shown!r}: the URL must be http:// or https:// with a host")
    if kind == "alertmanager" and not parts.path.rstrip("/").endswith(ALERTMANAGER_PATH):
        url = url.split("?")[0].rstrip("/") + ALERTMANAGER_PATH
    return Target(kind, url)


def redact(url: str) -> str:
    """``scheme://host:port/…``: no user info, path or query (they may hold a token)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or not host:
        return "<unparsable URL>"
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"
