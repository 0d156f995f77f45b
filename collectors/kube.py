"""Live collection from the Kubernetes API with the official ``kubernetes`` client.

Lists are read page by page (``limit``/``continue``) by background workers for the
list being read and the next few, each at most two pages ahead, so memory does not
grow with the cluster. A worker hands every outcome to the reader — a page, the end,
or its failure, even a bug — and the reader stops waiting when the worker is gone, so
no server behaviour can hang a triage.

Every request is bounded: a connect and read timeout, a deadline for the whole body
(a body that trickles forever is cut off) and a size cap. A 401/403/404, a body that
is not a JSON object (a login page from a proxy in front of the API server, a cut
page) or a 429 asking for more than the request timeout is permanent: the resource
becomes a coverage error. A 5xx, 429 or dropped connection is retried twice with
backoff (a 429's ``Retry-After`` is honoured). A ``410 Gone`` on a continue token
restarts the list at most twice, skipping what was already yielded. Nothing here
watches: a server or proxy without watch support serves everything we need.

Only TLS Secrets an Ingress references are read, by name, with ``tls.key`` dropped at
the parser before anything else sees it. Logs: a bounded tail (``--since``, a line and
a byte cap) of every pod with a networking role — CNI agents, DNS, kube-proxy, ingress
and load-balancer controllers — whether or not it is ready (a Ready controller is the
one logging why it cannot serve), plus the previous instance of each restarted container.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import ijson
import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from kubetriage.bundle import RESOURCES, BundleMeta, CollectionError, NodeFiles, PodLog, ProbeFiles
from kubetriage.collectors.jsonstream import single_object
from kubetriage.collectors.pool import ordered_map
from kubetriage.errors import KubetriageError
from kubetriage.roles import container_images, detect_role

log = logging.getLogger("kubetriage.api")

#: bundle resource -> (API prefix, plural, namespaced)
API_RESOURCES: dict[str, tuple[str, str, bool]] = {
    "nodes": ("/api/v1", "nodes", False),
    "namespaces": ("/api/v1", "namespaces", False),
    "ingressclasses": ("/apis/networking.k8s.io/v1", "ingressclasses", False),
    "ingresses": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "services": ("/api/v1", "services", True),
    "daemonsets": ("/apis/apps/v1", "daemonsets", True),
    "deployments": ("/apis/apps/v1", "deployments", True),
    "pods": ("/api/v1", "pods", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "events": ("/api/v1", "events", True),
    "networkpolicies": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "endpoints": ("/api/v1", "endpoints", True),  # only read when EndpointSlices are not served
}
#: Lists started ahead of the reader, in the order normalization asks for them.
_PREFETCHED = tuple(r for r in RESOURCES if r in API_RESOURCES and r != "endpoints")
_RETRYABLE = {429, 500, 502, 503, 504}
_MAX_BODY = 256 << 20  # one list page or object
_LOG_BYTES = 4 << 20  # one container log (limitBytes)
_LIST_RESTARTS = 2  # expired continue tokens tolerated per list


class ApiFailure(Exception):
    """A request failed; ``permanent`` says whether retrying could help."""

    def __init__(self, message: str, permanent: bool, status: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent, self.status, self.retry_after = permanent, status, retry_after


@dataclass(frozen=True)
class ApiSettings:
    """How to talk to the API server, and how much of each pod log to read."""

    namespace: str | None = None  # None: all namespaces
    chunk_size: int = 500
    timeout: float = 30.0
    concurrency: int = 4
    retries: int = 2
    log_since_seconds: int = 1800
    log_lines: int = 1000


def api_client(kubeconfig: str | None, context: str | None, in_cluster: bool) -> tuple[k8s.ApiClient, str]:
    """An ApiClient and the cluster's name, from kubeconfig (KUBECONFIG may list several
    files) or the in-cluster ServiceAccount. Config problems raise KubetriageError."""
    configuration = k8s.Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
            name = "in-cluster"
        else:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context,
                                        client_configuration=configuration, persist_config=False)
            _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
            name = context or str(active["name"])
    except (ConfigException, OSError) as exc:
        raise KubetriageError(f"cannot load Kubernetes credentials: {exc}") from None
    configuration.retries = 0  # retries are ours: counted, logged, and never on a timeout
    return k8s.ApiClient(configuration), name


def context_names(kubeconfig: str | None) -> list[str]:
    """Every context of the kubeconfig (``KUBECONFIG`` may list several files), for fleets."""
    try:
        contexts, _ = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, OSError) as exc:
        raise KubetriageError(f"cannot list kubeconfig contexts: {exc}") from None
    return [str(c["name"]) for c in contexts or []]


class Api:
    """GET requests with timeouts, retries and error mapping (httpx-style boundary)."""

    def __init__(self, api: k8s.ApiClient, settings: ApiSettings) -> None:
        self.api, self.settings = api, settings
        api.configuration.connection_pool_maxsize = max(settings.concurrency + 2, 4)

    def get(self, path: str, query: dict[str, Any] | None = None) -> bytes:
        delay = 0.5
        for attempt in range(self.settings.retries + 1):
            try:
                return self._get_once(path, query or {})
            except ApiFailure as failure:
                if failure.permanent or attempt == self.settings.retries:
                    raise
                wait = delay if failure.retry_after is None else failure.retry_after
                log.info("GET %s failed (%s); retrying in %.1fs", path, failure, wait)
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")

    def get_json(self, path: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """A GET whose body must be a JSON object; anything else is a permanent failure."""
        body = self.get(path, query)
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ApiFailure(_not_json(body, exc), permanent=True) from None
        if not isinstance(doc, dict):
            raise ApiFailure(f"response is a JSON {type(doc).__name__}, not an object", permanent=True)
        return doc

    def open(self, path: str, query: dict[str, Any], read_timeout: float | None = None) -> Any:
        """Send one GET; the response comes back before its body is read (a watch streams it)."""
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, query_params=list(query.items()), auth_settings=["BearerToken"],
            header_params={"Accept": "application/json"})
        timeout = self.settings.timeout
        try:
            return self.api.call_api(method, url, header_params=headers,
                                     _request_timeout=(min(10.0, timeout), read_timeout or timeout))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _transport_failure(exc, timeout) from None

    def _get_once(self, path: str, query: dict[str, Any]) -> bytes:
        timeout = self.settings.timeout
        started = time.monotonic()
        response = self.open(path, query)
        try:
            body = _read_body(response.response, started + timeout, timeout)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _transport_failure(exc, timeout) from None
        log.debug("GET %s%s -> %s in %.0f ms", self.api.configuration.host, path, response.status,
                  (time.monotonic() - started) * 1000)
        if 200 <= response.status < 300:
            return body
        message = _status_message(response.status, body)
        if response.status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > timeout:
                raise ApiFailure(f"{message} (the server asks to retry after {retry_after:g}s, more than "
                                 f"the {timeout:g}s request timeout)", permanent=True, status=429)
            raise ApiFailure(message, permanent=False, status=429, retry_after=retry_after)
        raise ApiFailure(message, permanent=response.status not in _RETRYABLE, status=response.status)


def _read_body(raw: Any, deadline: float, timeout: float) -> bytes:
    """The whole body, read as it arrives, within ``deadline`` and ``_MAX_BODY``; a body cut
    short raises urllib3's ProtocolError. A connection abandoned mid-body is closed, not reused."""
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := raw.read1(1 << 16):
            size += len(chunk)
            if size > _MAX_BODY:
                raise ApiFailure(f"response larger than {_MAX_BODY >> 20} MiB", permanent=True)
            if time.monotonic() > deadline:
                raise ApiFailure(f"response not complete after {timeout:g}s (the body never ended)",
                                 permanent=True)
            chunks.append(chunk)
    except BaseException:
        raw.close()
        raise
    raw.release_conn()
    return b"".join(chunks)


def _transport_failure(exc: Exception, timeout: float) -> ApiFailure:
    """Map a urllib3/socket error (possibly wrapped in MaxRetryError) to an ApiFailure."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    # first: urllib3 2 derives NewConnectionError from ConnectTimeoutError
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return ApiFailure(f"cannot connect: {reason}", permanent=False)
    if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError)):
        return ApiFailure(f"timed out after {timeout:g}s", permanent=True)
    if isinstance(reason, urllib3.exceptions.SSLError):
        return ApiFailure(f"TLS error: {reason}", permanent=True)
    return ApiFailure(f"connection failed: {reason}", permanent=False)


def _not_json(body: bytes, exc: Exception) -> str:
    where = f"{exc.msg} at byte {exc.pos} of {len(body)}" if isinstance(exc, json.JSONDecodeError) else str(exc)
    start = body[:60].decode("utf-8", "replace")
    hint = "; an HTML page: a proxy or login page in front of the API server?" \
        if start.lstrip()[:1] == "<" else ""
    return f"response is not JSON ({where}; it starts {start!r}){hint}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from API servers: plain backoff)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _status_message(status: int, body: bytes) -> str:
    try:
        detail = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError, RecursionError):
        detail = body[:200].decode("utf-8", "replace")
    label = {401: "unauthorized", 403: "forbidden (RBAC)", 404: "not found (API group or kind not served?)",
             410: "gone (list expired)", 429: "too many requests"}.get(status, f"HTTP {status}")
    return f"{label}: {detail}" if detail else label


def _map(obj: Any, key: str) -> dict[str, Any]:
    """``obj[key]`` when both are mappings, else empty: API objects are read defensively."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class _LogRequest:
    namespace: str
    pod: str
    container: str
    previous: bool


class LiveBundle:
    """A Bundle read from the API server; see the module docstring."""

    def __init__(self, api: k8s.ApiClient, cluster: str, settings: ApiSettings | None = None) -> None:
        self.settings = settings or ApiSettings()
        self.http = Api(api, self.settings)
        self.meta = BundleMeta(cluster=cluster,
                               collected_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.errors: list[CollectionError] = []
        self._done: set[str] = set()
        self._queues: dict[str, queue.Queue[Any]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._tls_refs: set[tuple[str, str]] = set()
        self._logs: list[_LogRequest] = []
        #: set by an active probe run (``--probe``); a plain triage sends nothing
        self.probe_results = ProbeFiles()

    # -- lists ---------------------------------------------------------------------
    def _start_window(self, resource: str) -> None:
        """Start the lists of ``resource`` and the next few the consumer will ask for. Only
        lists at or ahead of the consumer run, so the one it waits on always makes progress
        (a fixed pool could fill up with lists blocked on queues nobody reads yet)."""
        order = list(_PREFETCHED)
        ahead = order[order.index(resource):][: self.settings.concurrency] if resource in order else [resource]
        for name in ahead:
            if name not in self._queues:
                self._spawn(name)

    def _spawn(self, resource: str) -> None:
        self._queues[resource] = queue.Queue(maxsize=2)
        worker = threading.Thread(target=self._produce, args=(resource,), daemon=True, name=f"list-{resource}")
        self._workers[resource] = worker
        worker.start()

    def _produce(self, resource: str) -> None:
        """Pages, then None; or the exception that ended the list. Never leaves the reader waiting."""
        out = self._queues[resource]
        end: Exception | None = None
        try:
            for page in self._pages(resource):
                if not self._put(out, page):
                    return
        except Exception as exc:
            end = exc
        self._put(out, end)

    def _put(self, out: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _take(self, resource: str) -> Any:
        """The next item of a list; a worker that ended without a word is a failure, not a wait."""
        source, worker = self._queues[resource], self._workers[resource]
        while True:
            try:
                return source.get(timeout=0.2)
            except queue.Empty:
                if not worker.is_alive() and source.empty():
                    return ApiFailure("the list worker stopped without a result", permanent=True)

    def _pages(self, resource: str) -> Iterator[list[Any]]:
        prefix, plural, namespaced = API_RESOURCES[resource]
        ns = self.settings.namespace if namespaced else None
        path = f"{prefix}/namespaces/{quote(ns, safe='')}/{plural}" if ns else f"{prefix}/{plural}"
        seen: set[str] = set()
        token, restarts = "", 0
        while True:
            query: dict[str, Any] = {"limit": self.settings.chunk_size}
            if token:
                query["continue"] = token
            try:
                doc = self.http.get_json(path, query)
            except ApiFailure as failure:
                if token and failure.status == 410:
                    if restarts == _LIST_RESTARTS:
                        raise ApiFailure(f"{failure} (the list expired {restarts + 1} times)",
                                         permanent=True) from None
                    restarts += 1
                    log.info("list %s expired mid-way (410); restarting", resource)
                    token = ""
                    continue
                raise
            items = doc.get("items")
            if items is not None and not isinstance(items, list):
                raise ApiFailure(f"response is not a List (items is a {type(items).__name__})", permanent=True)
            page = [o for o in items or [] if _uid(o) not in seen]
            seen.update(_uid(o) for o in page)
            yield page
            token = str(_map(doc, "metadata").get("continue") or "")
            if not token:
                return

    def has_resource(self, resource: str) -> bool:
        return resource in self._done

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        if resource == "secrets":
            yield from self._secrets()
            return
        if resource not in API_RESOURCES:
            return
        self._start_window(resource)
        while True:
            item = self._take(resource)
            if item is None:
                self._done.add(resource)
                return
            if isinstance(item, ApiFailure):
                self.errors.append(CollectionError("api", resource, str(item)))
                return
            if isinstance(item, Exception):
                raise item  # a bug in the worker, raised where the caller can see it
            for index, obj in enumerate(item):
                if not isinstance(obj, dict):
                    kind = type(obj).__name__
                    self.errors.append(CollectionError("api", resource, f"item {index} of a page is a {kind}, "
                                                                        "not an object; skipped"))
                    continue
                self._observe(resource, obj)
                yield obj

    def adopt(self, resource: str, objects: Iterable[dict[str, Any]]) -> None:
        """Take ``resource`` as read elsewhere (by a watch), to fetch what it refers to: the TLS
        Secrets of Ingresses (``objects("secrets")``), the logs of networking pods (``pod_logs()``)."""
        for obj in objects:
            self._observe(resource, obj)
        self._done.add(resource)

    def _observe(self, resource: str, obj: dict[str, Any]) -> None:
        """Remember what to fetch later: referenced TLS secrets, logs of networking pods."""
        md = _map(obj, "metadata")
        if resource == "ingresses":
            for tls in _list(_map(obj, "spec"), "tls"):
                if isinstance(tls, dict) and tls.get("secretName"):
                    self._tls_refs.add((str(md.get("namespace")), str(tls["secretName"])))
        elif resource == "pods":
            spec = _map(obj, "spec")
            if detect_role(str(md.get("name")), container_images(spec)):
                self._logs.extend(_log_requests(str(md.get("namespace")), str(md.get("name")),
                                                _list(_map(obj, "status"), "containerStatuses")))

    def _secrets(self) -> Iterator[dict[str, Any]]:
        failed = False
        for namespace, name in sorted(self._tls_refs):
            path = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"
            try:
                secret = _secret(self.http.get(path))
            except ApiFailure as failure:
                if failure.status != 404:  # a missing secret is evidence, not a gap
                    failed = True
                self.errors.append(CollectionError("api", f"secrets/{namespace}/{name}", str(failure)))
                continue
            if secret.get("type") == "kubernetes.io/tls":
                yield secret
        if not failed and "ingresses" in self._done:  # no Ingress read: which secrets matter is unknown
            self._done.add("secrets")

    # -- logs and node files --------------------------------------------------------
    def pod_logs(self) -> Iterator[PodLog]:
        for found in ordered_map(self._log, self._logs, self.settings.concurrency, "log"):
            if found is not None:
                yield found

    def _log(self, request: _LogRequest) -> PodLog | None:
        path = f"/api/v1/namespaces/{quote(request.namespace, safe='')}/pods/{quote(request.pod, safe='')}/log"
        query: dict[str, Any] = {"container": request.container, "tailLines": self.settings.log_lines,
                                 "sinceSeconds": self.settings.log_since_seconds, "limitBytes": _LOG_BYTES}
        if request.previous:
            query["previous"] = "true"
        try:
            text = self.http.get(path, query).decode("utf-8", "replace")
        except ApiFailure as failure:
            if not request.previous:  # a missing previous instance is normal
                self.errors.append(CollectionError(
                    "api", f"logs/{request.namespace}/{request.pod}/{request.container}", str(failure)))
            return None
        lines = text.splitlines()[-self.settings.log_lines:]
        return PodLog(request.namespace, request.pod, request.container, request.previous, lines)

    def node_files(self) -> Iterator[NodeFiles]:
        return iter(())  # the API cannot read node files; see kubetriage.collectors.ssh

    def probes(self) -> ProbeFiles:
        return self.probe_results

    def close(self) -> None:
        """Release background workers still waiting on resources nobody read."""
        self._stop.set()


def _log_requests(namespace: str, pod: str, statuses: list[Any]) -> Iterator[_LogRequest]:
    """The current log of each container that has run, and the previous one of each that restarted."""
    for status in statuses:
        if not isinstance(status, dict):
            continue
        name = str(status.get("name"))
        restarts = status.get("restartCount")
        restarted = isinstance(restarts, int) and restarts > 0
        if restarted or set(_map(status, "state")) & {"running", "terminated"}:
            yield _LogRequest(namespace, pod, name, False)
        if restarted:
            yield _LogRequest(namespace, pod, name, True)


def _secret(body: bytes) -> dict[str, Any]:
    """A Secret parsed with ``tls.key`` dropped unread; a body that is not JSON is a failure."""
    try:
        return single_object(io.BytesIO(body))
    except (ijson.JSONError, ValueError) as exc:
        raise ApiFailure(_not_json(body, exc), permanent=True) from None


def _uid(obj: Any) -> str:
    md = _map(obj, "metadata")
    return str(md.get("uid") or f"{md.get('namespace')}/{md.get('name')}")
