"""Delivery: one background worker per target, so a slow or failing target delays only itself.

``submit`` never blocks on the network and never raises: it renders each change once and hands
it to every target's bounded queue (a full queue drops and counts). A worker POSTs each message
with a timeout, retries connection errors, 429 and 5xx with exponential backoff (honouring
``Retry-After``), never follows a redirect (a POST turned into a GET would look delivered), and
counts what was sent, failed, retried and dropped. For Alertmanager it also re-sends the firing
alerts every ``resend`` (default one minute, like Prometheus), because Alertmanager resolves an
alert it has not heard about by its ``endsAt``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.client import HTTPException
from typing import Any

import prometheus_client

from kubetriage import __version__
from kubetriage.escape import terminal
from kubetriage.incidents import Change
from kubetriage.notify import messages
from kubetriage.notify.messages import Notice
from kubetriage.notify.targets import Target

log = logging.getLogger("kubetriage.notify")

_RETRYABLE = {429, 500, 502, 503, 504}
_MAX_BACKOFF = 60.0
_MAX_RESPONSE = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Message,
                         newurl: str) -> None:
        return None  # urllib then raises HTTPError for the 3xx


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class Delivery:
    """How hard to try: attempts after the first, the first backoff, each request's timeout."""

    retries: int = 6
    backoff: float = 1.0
    timeout: float = 10.0
    queue_size: int = 1000
    resend: timedelta = timedelta(minutes=1)


class _Metrics:
    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self.sent = prometheus_client.Counter(
            "kubetriage_notifications_sent", "Notifications delivered, by target kind and change kind",
            ["target", "kind"], registry=registry)
        self.failed = prometheus_client.Counter(
            "kubetriage_notifications_failed", "Notifications given up on after retries, by target and change kind",
            ["target", "kind"], registry=registry)
        self.retries = prometheus_client.Counter(
            "kubetriage_notification_retries", "Delivery attempts retried after a failure", ["target"],
            registry=registry)
        self.dropped = prometheus_client.Counter(
            "kubetriage_notifications_dropped", "Notifications dropped because a target's queue was full",
            ["target"], registry=registry)


class Dispatcher:
    """Sends changes to every target in the background."""

    def __init__(self, targets: list[Target], registry: prometheus_client.CollectorRegistry,
                 runbook_text: Callable[[dict[str, Any]], str] | None = None, *, cluster: str = "",
                 delivery: Delivery = Delivery()) -> None:
        """``runbook_text``: the rendered runbook of a finding (called in ``submit``, with the
        triage that found it still current); ``cluster``: the name every message carries."""
        self.cluster, self._runbook_text = cluster, runbook_text
        metrics = _Metrics(registry)
        self._workers = [_Worker(t, metrics, delivery) for t in targets]
        for worker in self._workers:
            worker.start()

    def submit(self, changes: list[Change]) -> None:
        """Queue the changes for every target; returns at once, never raises."""
        try:
            at = datetime.now(timezone.utc)
            notices = [Notice(c, self.cluster, self._runbook(c.finding), at) for c in changes]
            for worker in self._workers:
                worker.put(notices)
        except Exception:  # a notification must never take the watcher down
            log.exception("could not queue %d notification(s)", len(changes))

    def close(self, timeout: float) -> None:
        """Deliver what is queued for at most ``timeout`` seconds, then abandon the rest."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.finish()
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            if worker.is_alive():
                worker.abandon()

    def _runbook(self, finding: dict[str, Any]) -> str:
        if self._runbook_text is None:
            return ""
        try:
            return self._runbook_text(finding)
        except Exception as exc:  # a user runbook may be broken; the notification still goes
            log.warning("runbook of %s could not be rendered: %s", finding.get("id"), exc)
            return f"(runbook {finding.get('runbook', '')} could not be rendered: {exc})"


class _Worker(threading.Thread):
    """One target's queue, delivery loop and (for Alertmanager) firing alerts."""

    def __init__(self, target: Target, metrics: _Metrics, delivery: Delivery) -> None:
        super().__init__(name=f"notify-{target.kind}", daemon=True)
        self.target, self.metrics, self.delivery = target, metrics, delivery
        self._queue: deque[Notice] = deque()
        self._wake = threading.Condition()
        self._finishing = False
        self._abandoned = threading.Event()
        self._firing: dict[str, tuple[Notice, datetime]] = {}  # Alertmanager: finding id -> (latest, startsAt)
        self._last_post = time.monotonic()

    def put(self, notices: list[Notice]) -> None:
        with self._wake:
            room = max(0, self.delivery.queue_size - len(self._queue))
            self._queue.extend(notices[:room])
            if len(notices) > room:
                self.metrics.dropped.labels(self.target.kind).inc(len(notices) - room)
                log.warning("notifications to %s: queue full, %d dropped", self.target, len(notices) - room)
            self._wake.notify()

    def finish(self) -> None:
        with self._wake:
            self._finishing = True
            self._wake.notify()

    def abandon(self) -> None:
        self._abandoned.set()

    def run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._finishing, timeout=self._until_resend())
                if not self._queue and self._finishing:
                    return
                notice = self._queue.popleft() if self._queue else None
            try:
                if notice is not None:
                    self._send(notice)
                elif self._firing and self._until_resend() == 0:
                    self._refresh()
            except Exception:  # a bug here must not silence every later notification
                log.exception("notification to %s failed", self.target)

    def _until_resend(self) -> float | None:
        if self.target.kind != "alertmanager" or not self._firing:
            return None
        return max(0.0, self._last_post + self.delivery.resend.total_seconds() - time.monotonic())

    def _send(self, notice: Notice) -> None:
        kind = notice.change.kind
        if self.target.kind == "webhook":
            body: Any = messages.webhook(notice)
        elif self.target.kind == "slack":
            body = messages.slack(notice)
        else:
            body = self._alerts(notice)
        self._post(body, kind)

    def _alerts(self, notice: Notice) -> list[dict[str, Any]]:
        """The alert to post for a change, and the firing set kept for re-sending."""
        change, fid, at = notice.change, notice.finding["id"], notice.at
        starts = self._firing.pop(fid, (notice, at))[1]
        if change.kind == "resolved":
            return [messages.alert(notice, starts, at)]
        self._firing[fid] = (notice, starts)
        firing = messages.alert(notice, starts, messages.expiry(at, self.delivery.resend))
        if change.kind == "changed" and change.previous_severity:
            return [messages.alert(notice, starts, at, severity=change.previous_severity), firing]
        return [firing]

    def _refresh(self) -> None:
        at = datetime.now(timezone.utc)
        self._post([messages.alert(n, starts, messages.expiry(at, self.delivery.resend))
                    for n, starts in self._firing.values()], "refresh")

    def _post(self, body: Any, kind: str) -> None:
        data = json.dumps(body).encode()
        self._last_post = time.monotonic()
        delay = self.delivery.backoff
        for attempt in range(self.delivery.retries + 1):
            error, retry_after = self._attempt(data)
            if error is None:
                self.metrics.sent.labels(self.target.kind, kind).inc()
                return
            if retry_after is None or attempt == self.delivery.retries:
                break
            self.metrics.retries.labels(self.target.kind).inc()
            wait = min(max(delay, retry_after), _MAX_BACKOFF)
            log.info("notification to %s failed (%s); retrying in %.1fs", self.target, error, wait)
            if self._abandoned.wait(wait):
                break
            delay = min(delay * 2, _MAX_BACKOFF)
        self.metrics.failed.labels(self.target.kind, kind).inc()
        log.warning("notification (%s) to %s failed: %s", kind, self.target, error)

    def _attempt(self, data: bytes) -> tuple[str | None, float | None]:
        """One POST: (None, None) when delivered, else the error and, if worth retrying, the
        least wait the server asked for."""
        request = urllib.request.Request(self.target.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"kubetriage/{__version__}"})
        try:
            with _OPENER.open(request, timeout=self.delivery.timeout) as response:
                response.read(_MAX_RESPONSE)
            return None, None
        except urllib.error.HTTPError as exc:
            try:
                detail = terminal(exc.read(200).decode("utf-8", "replace").strip())
            except (OSError, HTTPException):
                detail = ""
            error = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
            if exc.code not in _RETRYABLE:
                return error, None
            return error, _retry_after(exc.headers.get("Retry-After"))
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return f"cannot connect: {terminal(str(reason))}", 0.0


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0  # an HTTP date: the backoff decides
