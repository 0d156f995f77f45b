"""The mesh probe: a short-lived DaemonSet of probe agents, its results as ``probes/mesh.json``.

A run creates two objects in the namespace ``kubetriage-probe`` (made by deploy/rbac-probe.yaml,
whose Role grants exactly this): a ConfigMap and a DaemonSet, both labelled, with an owner
marker and an expiry annotation, and deletes them (the DaemonSet's pods with it) when the run
ends, fails or is interrupted; ``cleanup`` removes what an interrupted run left. The pods learn
their peers from the ConfigMap once they run: every pair up to ``all_pairs_up_to`` nodes, beyond
that each node probes its ``ring`` successors on a ring, so the cost stays O(N).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import kubernetes.client as k8s
import urllib3

from kubetriage.errors import KubetriageError
from kubetriage.probe.plan import ProbeSettings, plan

NAMESPACE = "kubetriage-probe"
NAME = "kubetriage-probe"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "kubetriage"}
SELECTOR = ",".join(f"{k}={v}" for k, v in LABELS.items())
OWNER = "kubetriage.io/owner"
EXPIRES = "kubetriage.io/expires-at"
NOT_RUNNING = "probe pod not running"
#: Names the cluster DNS Service has (kubeadm/k3s, RKE2).
DNS_SERVICES = ("kube-dns", "rke2-coredns-rke2-coredns")


class ProbeApi:
    """The few API calls a probe run makes, with JSON in and out."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
             absent: tuple[int, ...] = ()) -> Any:
        """The decoded response; None for a status in ``absent`` (not there, or no log yet)."""
        _, url, headers, body_bytes, _ = self.api.param_serialize(
            method, path, query_params=list((query or {}).items()), body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": "application/json"})
        try:
            response = self.api.call_api(method, url, header_params=headers, body=body_bytes,
                                         _request_timeout=(10.0, 30.0))
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubetriageError(f"{method} {path}: {exc}") from None
        if response.status in absent:
            return None
        if response.status == 409:
            raise KubetriageError(f"{path}: already exists: another probe run is active or was interrupted "
                                  "(`kubetriage probe --cleanup` removes its leftovers)")
        if not 200 <= response.status < 300:
            raise KubetriageError(f"{method} {path}: HTTP {response.status}: {data[:300].decode('utf-8', 'replace')}")
        if path.endswith("/log"):
            return data.decode("utf-8", "replace")
        return json.loads(data) if data else None


def _daemonset(settings: ProbeSettings, service: tuple[str, int], endpoint: tuple[str, int], dns: str,
               expires: str) -> dict[str, Any]:
    args = ["--peers-file=/etc/kubetriage-probe/peers.json", "--linger",
            f"--service=default/kubernetes={service[0]}:{service[1]}"]
    if endpoint[0]:
        args.append(f"--endpoint=default/kubernetes={endpoint[0]}:{endpoint[1]}")
    if dns:
        args += [f"--dns-server={dns}", *(f"--dns-name={n}" for n in settings.dns_names)]
    env = [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS,
                     "annotations": {OWNER: settings.owner, EXPIRES: expires}},
        "spec": {"selector": {"matchLabels": LABELS}, "template": {
            "metadata": {"labels": LABELS, "annotations": {OWNER: settings.owner, EXPIRES: expires}},
            "spec": {
                "tolerations": [{"operator": "Exists"}], "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": False, "enableServiceLinks": False,
                "containers": [{
                    "name": "agent", "image": settings.image,
                    "command": ["python", "-m", "kubetriage.probe.agent"], "args": args, "env": env,
                    "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
                                        "allowPrivilegeEscalation": False},
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}},
                    "volumeMounts": [{"name": "peers", "mountPath": "/etc/kubetriage-probe"}]}],
                "volumes": [{"name": "peers", "configMap": {"name": NAME}}]}}}}


def _waiting_reason(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting:
            return ": ".join(str(x) for x in (waiting.get("reason"), waiting.get("message")) if x)
    for cond in status.get("conditions") or []:
        if cond.get("status") == "False" and cond.get("message"):
            return f"{cond.get('reason') or cond.get('type')}: {cond['message']}"
    return str(status.get("phase") or "Pending")


class MeshProbe:
    """One run: create, wait, read, always delete. ``run`` returns the mesh.json entries."""

    def __init__(self, api: ProbeApi, settings: ProbeSettings) -> None:
        self.api, self.settings = api, settings
        self.created: list[str] = []

    def run(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.settings.timeout
        try:
            self._create()
            running, stuck = self._wait_running(deadline)
            peers = plan(running, self.settings)
            self.api.call("PUT", f"/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}",
                          self._configmap(peers))
            entries = list(self._results(running, deadline))
            for node, reason in sorted(stuck.items()):
                entries.append({"kind": "pod-to-pod", "from": {"node": node}, "to": {"node": ""},
                                "error": f"{NOT_RUNNING}: {reason}", "at": _now()})
            return entries
        finally:  # also on Ctrl-C (KeyboardInterrupt) and errors: only what this run created
            for path in reversed(self.created):
                self.api.call("DELETE", path, {"propagationPolicy": "Background"}, absent=(404,))

    def _configmap(self, peers: dict[str, dict[str, str]]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
                "data": {"peers.json": json.dumps(peers, sort_keys=True)}}

    def _create(self) -> None:
        expires = (datetime.now(timezone.utc) + timedelta(seconds=self.settings.timeout * 2)
                   ).strftime("%Y-%m-%dT%H:%M:%SZ")
        kubernetes = self.api.call("GET", "/api/v1/namespaces/default/services/kubernetes", absent=(404,)) or {}
        slices = self.api.call("GET", "/api/v1/namespaces/default/endpoints/kubernetes", absent=(404,)) or {}
        subset = (slices.get("subsets") or [{}])[0]
        endpoint = ((subset.get("addresses") or [{}])[0].get("ip", ""),
                    int((subset.get("ports") or [{}])[0].get("port", 443)))
        found = (self.api.call("GET", f"/api/v1/namespaces/kube-system/services/{name}", absent=(404,))
                 for name in DNS_SERVICES)
        dns: dict[str, Any] = next(filter(None, found), {})
        service = (str((kubernetes.get("spec") or {}).get("clusterIP") or "10.96.0.1"), 443)
        dns_ip = str((dns.get("spec") or {}).get("clusterIP") or "")
        for base, obj in ((f"/api/v1/namespaces/{NAMESPACE}/configmaps", self._configmap({})),
                          (f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets",
                           _daemonset(self.settings, service, endpoint, dns_ip, expires))):
            self.api.call("POST", base, obj)
            self.created.append(f"{base}/{NAME}")

    def _pods(self) -> list[dict[str, Any]]:
        listed = self.api.call("GET", f"/api/v1/namespaces/{NAMESPACE}/pods", query={"labelSelector": SELECTOR})
        return list((listed or {}).get("items") or [])

    def _wait_running(self, deadline: float) -> tuple[dict[str, str], dict[str, str]]:
        """node -> pod IP of running probe pods, node -> why not for the others, once every
        scheduled pod runs or the deadline (half the budget) passes."""
        settle = time.monotonic() + (deadline - time.monotonic()) / 2
        while True:
            daemonset = self.api.call("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets/{NAME}") or {}
            desired = int((daemonset.get("status") or {}).get("desiredNumberScheduled") or 0)
            running: dict[str, str] = {}
            stuck: dict[str, str] = {}
            for pod in self._pods():
                node = str((pod.get("spec") or {}).get("nodeName") or "")
                status = pod.get("status") or {}
                if status.get("phase") == "Running" and status.get("podIP"):
                    running[node] = str(status["podIP"])
                elif node:
                    stuck[node] = _waiting_reason(pod)
            if (desired and len(running) >= desired) or time.monotonic() >= settle:
                return running, stuck
            time.sleep(self.settings.poll)

    def _results(self, running: dict[str, str], deadline: float) -> Iterator[dict[str, Any]]:
        """The agents' JSON lines, read from each pod's log once it printed 'done'."""
        pending = {str(p["metadata"]["name"]): str(p["spec"]["nodeName"]) for p in self._pods()
                   if (p.get("spec") or {}).get("nodeName") in running}
        while pending:
            for pod, node in sorted(pending.items()):
                text = self.api.call("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log",
                                     query={"container": "agent"}, absent=(400, 404)) or ""
                entries = [e for e in map(_json_line, text.splitlines()) if e]
                if any(e.get("kind") == "done" for e in entries) or time.monotonic() >= deadline:
                    del pending[pod]
                    yield from (e for e in entries if e.get("kind") != "done")
                    if not any(e.get("kind") == "done" for e in entries):
                        yield {"kind": "pod-to-pod", "from": {"node": node}, "to": {"node": ""},
                               "error": f"{NOT_RUNNING}: no result before the deadline", "at": _now()}
            if pending:
                time.sleep(self.settings.poll)


def _json_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cleanup(api: ProbeApi) -> list[str]:
    """Delete the probe DaemonSet (its pods go with it) and ConfigMap when kubetriage made them;
    what was deleted."""
    deleted = []
    for path in (f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets/{NAME}",
                 f"/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}"):
        found = api.call("GET", path, absent=(404,)) or {}
        if ((found.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/managed-by") == "kubetriage":
            api.call("DELETE", path, {"propagationPolicy": "Background"}, absent=(404,))
            deleted.append(path.rsplit("/", 2)[-2] + "/" + NAME)
    return deleted
