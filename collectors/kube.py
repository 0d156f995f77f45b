"""Live collection from the Kubernetes API with the official ``kubernetes`` client.

Lists are read page by page (``limit``/``continue``; a ``410 Gone`` restarts the
list and skips what was already yielded) by background workers for the list being
read and the next few, each at most two pages ahead, so memory does not grow with
the cluster. Every call has a timeout. A 401/403/404 is permanent (the resource
becomes a coverage error: RBAC, or an API group the cluster does not serve); a
5xx, 429 or a dropped connection is retried twice with backoff. Only TLS
Secrets an Ingress references are read, by name, with ``tls.key`` dropped at
the parser before anything else sees it.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from kubetriage.bundle import BundleMeta, CollectionError, NodeFiles, PodLog
from kubetriage.collectors.jsonstream import single_object
from kubetriage.errors import KubetriageError
from kubetriage.normalize.roles import container_images, detect_role

log = logging.getLogger("kubetriage.api")

#: bundle resource -> (API prefix, plural, namespaced)
API_RESOURCES: dict[str, tuple[str, str, bool]] = {
    "nodes": ("/api/v1", "nodes", False),
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
_PREFETCHED = tuple(r for r in API_RESOURCES if r != "endpoints")
_RETRYABLE = {429, 500, 502, 503, 504}
_LOG_TAIL = 200


class ApiFailure(Exception):
    """A request failed; ``permanent`` says whether retrying could help."""

    def __init__(self, message: str, permanent: bool, status: int = 0) -> None:
        super().__init__(message)
        self.permanent, self.status = permanent, status


@dataclass(frozen=True)
class ApiSettings:
    """How to talk to the API server."""

    namespace: str | None = None  # None: all namespaces
    chunk_size: int = 500
    timeout: float = 30.0
    concurrency: int = 4
    retries: int = 2


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
                log.info("GET %s failed (%s); retrying in %.1fs", path, failure, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _get_once(self, path: str, query: dict[str, Any]) -> bytes:
        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, query_params=list(query.items()), auth_settings=["BearerToken"],
            header_params={"Accept": "application/json"})
        started = time.perf_counter()
        try:
            response = self.api.call_api(method, url, header_params=headers,
                                         _request_timeout=(min(10.0, self.settings.timeout),
                                                           self.settings.timeout))
            body: bytes = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _transport_failure(exc, self.settings.timeout) from None
        log.debug("GET %s -> %s in %.0f ms", url.split("?")[0], response.status,
                  (time.perf_counter() - started) * 1000)
        if 200 <= response.status < 300:
            return body
        raise ApiFailure(_status_message(response.status, body),
                         permanent=response.status not in _RETRYABLE, status=response.status)


def _transport_failure(exc: Exception, timeout: float) -> ApiFailure:
    """Map a urllib3/socket error (possibly wrapped in MaxRetryError) to an ApiFailure."""
    wrapped = isinstance(exc, urllib3.exceptions.MaxRetryError)
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError)):
        return ApiFailure(f"timed out after {timeout:g}s", permanent=True)
    if isinstance(reason, urllib3.exceptions.SSLError):
        return ApiFailure(f"TLS error: {reason}", permanent=True)
    return ApiFailure(f"{'cannot connect' if wrapped else 'connection failed'}: {reason}", permanent=False)


def _status_message(status: int, body: bytes) -> str:
    try:
        detail = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        detail = body[:200].decode("utf-8", "replace")
    label = {401: "unauthorized", 403: "forbidden (RBAC)", 404: "not found (API group or kind not served?)",
             410: "gone (list expired)"}.get(status, f"HTTP {status}")
    return f"{label}: {detail}" if detail else label


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
        self._stop = threading.Event()
        self._tls_refs: set[tuple[str, str]] = set()
        self._log_pods: list[tuple[str, str, list[str], bool]] = []  # ns, pod, containers, restarted

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
        threading.Thread(target=self._produce, args=(resource,), daemon=True,
                         name=f"list-{resource}").start()

    def _produce(self, resource: str) -> None:
        out = self._queues[resource]
        try:
            for page in self._pages(resource):
                if not self._put(out, page):
                    return
            self._put(out, None)
        except ApiFailure as failure:
            self._put(out, failure)

    def _put(self, out: queue.Queue[Any], item: Any) -> bool:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _pages(self, resource: str) -> Iterator[list[dict[str, Any]]]:
        prefix, plural, namespaced = API_RESOURCES[resource]
        ns = self.settings.namespace if namespaced else None
        path = f"{prefix}/namespaces/{quote(ns, safe='')}/{plural}" if ns else f"{prefix}/{plural}"
        seen: set[str] = set()
        token = ""
        while True:
            query: dict[str, Any] = {"limit": self.settings.chunk_size}
            if token:
                query["continue"] = token
            try:
                doc = json.loads(self.http.get(path, query))
            except ApiFailure as failure:
                if token and failure.status == 410:
                    log.info("list %s expired mid-way (410); restarting", resource)
                    token = ""
                    continue
                raise
            page = [o for o in doc.get("items") or [] if _uid(o) not in seen]
            seen.update(_uid(o) for o in page)
            yield page
            token = str((doc.get("metadata") or {}).get("continue") or "")
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
        source = self._queues[resource]
        while True:
            item = source.get()
            if item is None:
                self._done.add(resource)
                return
            if isinstance(item, ApiFailure):
                self.errors.append(CollectionError("api", resource, str(item)))
                return
            for obj in item:
                self._observe(resource, obj)
                yield obj

    def _observe(self, resource: str, obj: dict[str, Any]) -> None:
        """Remember what to fetch later: referenced TLS secrets, logs of sick networking pods."""
        md = obj.get("metadata") or {}
        if resource == "ingresses":
            for tls in (obj.get("spec") or {}).get("tls") or []:
                if tls.get("secretName"):
                    self._tls_refs.add((str(md.get("namespace")), str(tls["secretName"])))
        elif resource == "pods":
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            if not detect_role(str(md.get("name")), container_images(spec)):
                return
            statuses = status.get("containerStatuses") or []
            restarted = any(int(c.get("restartCount") or 0) for c in statuses)
            unready = not statuses or not all(c.get("ready") for c in statuses)
            if restarted or unready:
                names = [str(c.get("name")) for c in spec.get("containers") or []]
                self._log_pods.append((str(md.get("namespace")), str(md.get("name")), names, restarted))

    def _secrets(self) -> Iterator[dict[str, Any]]:
        failed = False
        for namespace, name in sorted(self._tls_refs):
            path = f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"
            try:
                secret = single_object(io.BytesIO(self.http.get(path)))
            except ApiFailure as failure:
                if failure.status != 404:  # a missing secret is evidence, not a gap
                    failed = True
                self.errors.append(CollectionError("api", f"secrets/{namespace}/{name}", str(failure)))
                continue
            if secret.get("type") == "kubernetes.io/tls":
                yield secret
        if not failed:
            self._done.add("secrets")

    # -- logs and node files --------------------------------------------------------
    def pod_logs(self) -> Iterator[PodLog]:
        for namespace, pod, containers, restarted in self._log_pods:
            for container in containers:
                for previous in (False, True) if restarted else (False,):
                    lines = self._log(namespace, pod, container, previous)
                    if lines is not None:
                        yield PodLog(namespace, pod, container, previous, lines)

    def _log(self, namespace: str, pod: str, container: str, previous: bool) -> list[str] | None:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"
        query: dict[str, Any] = {"container": container, "tailLines": _LOG_TAIL}
        if previous:
            query["previous"] = "true"
        try:
            return self.http.get(path, query).decode("utf-8", "replace").splitlines()
        except ApiFailure as failure:
            if not previous:  # a missing previous instance is normal
                self.errors.append(CollectionError("api", f"logs/{namespace}/{pod}/{container}",
                                                   str(failure)))
            return None

    def node_files(self) -> Iterator[NodeFiles]:
        return iter(())  # the API cannot read node files; see kubetriage.collectors.ssh

    def close(self) -> None:
        """Release background workers still waiting on resources nobody read."""
        self._stop.set()


def _uid(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return str(md.get("uid") or f"{md.get('namespace')}/{md.get('name')}")
