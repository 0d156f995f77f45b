"""Exec probes: the guide's own commands, run inside a pod the user names, read as mesh entries.

``kubetriage probe --from NS/POD --to TARGET`` does what a person does by hand with
``kubectl exec POD -- ping IP``: through the pods/exec API (a websocket, as kubectl), it runs
``ip link show eth0`` (the pod's MTU), ``ping`` (then, with iputils, a don't-fragment ping as
large as that MTU allows), ``traceroute`` when the ping fails, and ``nslookup`` for Service and
host names. When the pod's image lacks a tool, the same commands run in an ephemeral debug
container added to the pod (it shares the pod's network; it cannot be removed again, so it only
sleeps for a bounded time). Commands are argv lists: a value from the cluster (an address, a
name) is one argument, never part of a shell line, and one that starts with '-' is refused.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import kubernetes.client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from kubetriage.collectors.probe import ProbeApi
from kubetriage.errors import KubetriageError
from kubetriage.probe.output import Ping, parse_mtu, parse_nslookup, parse_ping, parse_traceroute
from kubetriage.probe.plan import ExecSettings

#: Bytes kept of one command's stdout and of its stderr.
MAX_OUTPUT = 64 * 1024
#: Kept in an entry's ``output``: enough to show the lines that matter.
SHOWN = 2000
IP_ICMP_HEADER = 28
#: What the runtime says when an exec names a binary the image does not have: containerd through
#: the exec error channel (https://github.com/nigelpoulton/TheK8sBook/issues/30), dockershim as
#: exit code 126 with the message on the stream (https://github.com/docker/for-linux/issues/246).
MISSING = ("executable file not found", "no such file or directory")
Entry = dict[str, Any]


@dataclass(frozen=True)
class Result:
    """One command's outcome; ``code`` is None when it did not run (``error`` says why)."""

    stdout: str
    stderr: str
    code: int | None
    error: str = ""

    @property
    def missing(self) -> bool:
        said = f"{self.error}\n{self.stdout}\n{self.stderr}".lower()
        return self.code in (None, 126, 127) and any(m in said for m in MISSING)

    @property
    def text(self) -> str:
        return self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr


Runner = Callable[[list[str]], Result]


@dataclass(frozen=True)
class Endpoint:
    """A pod at the other end (or the source itself)."""

    namespace: str
    name: str
    node: str
    ip: str


@dataclass(frozen=True)
class Target:
    kind: str  # pod | ip | service | host
    address: str  # what ping and traceroute get: an IP or a host name
    pod: Endpoint | None = None
    service: str = ""  # namespace/name
    dns_name: str = ""  # what nslookup gets
    endpoints: tuple[Endpoint, ...] = ()


class PodExec:
    """Runs argv in one container through pods/exec, bounded in time and bytes (a Runner)."""

    def __init__(self, api: k8s.ApiClient, namespace: str, pod: str, container: str, timeout: float) -> None:
        self.core = k8s.CoreV1Api(api)
        self.namespace, self.pod, self.container, self.timeout = namespace, pod, container, timeout

    def __call__(self, argv: list[str]) -> Result:
        try:
            ws = stream(self.core.connect_get_namespaced_pod_exec, self.pod, self.namespace, command=argv,
                        container=self.container, stdin=False, stdout=True, stderr=True, tty=False,
                        _preload_content=False, _request_timeout=self.timeout)
        except ApiException as exc:
            return Result("", "", None, f"exec refused: {exc.status or ''} {exc.reason or ''}".strip())
        try:
            deadline = time.monotonic() + self.timeout
            while ws.is_open() and (left := deadline - time.monotonic()) > 0:
                ws.update(timeout=min(left, 1.0))
                if len(ws.peek_stdout()) + len(ws.peek_stderr()) > 2 * MAX_OUTPUT:
                    break
            done = not ws.is_open()
            out, err, status = ws.read_stdout()[:MAX_OUTPUT], ws.read_stderr()[:MAX_OUTPUT], ws.read_channel(3)
        finally:
            ws.close()
        if not done and not status:
            return Result(out, err, None, f"no exit within {self.timeout:g} s")
        return _result(out, err, status)


def _result(out: str, err: str, status: str) -> Result:
    """Read the exec error channel: a v1 Status, Success or a failure with an ExitCode cause."""
    try:
        doc = json.loads(status) if status else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict) or doc.get("status") == "Success":
        return Result(out, err, 0)
    for cause in (doc.get("details") or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode" and str(cause.get("message")).isdigit():
            return Result(out, err, int(cause["message"]))
    return Result(out, err, None, str(doc.get("message") or "the command did not run")[:500])


class DebugContainer:
    """An ephemeral container in the source pod (shares its network), made once and reused."""

    def __init__(self, api: ProbeApi, client: k8s.ApiClient, pod: Endpoint, settings: ExecSettings) -> None:
        self.api, self.client, self.pod, self.settings = api, client, pod, settings
        self.runner: Runner | None = None

    def __call__(self, argv: list[str]) -> Result:
        if self.runner is None:
            self.runner = PodExec(self.client, self.pod.namespace, self.pod.name, self._start(), self.settings.timeout)
        return self.runner(argv)

    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.pod.namespace}/pods/{self.pod.name}"

    def _start(self) -> str:
        """A running debug container of an earlier run, else a new one (they cannot be removed)."""
        pod = self.api.call("GET", self._path())
        running = [cs.get("name") for cs in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
                   if str(cs.get("name")).startswith("kubetriage-debug-") and "running" in (cs.get("state") or {})]
        if running:
            return str(running[-1])
        existing = {c.get("name") for c in pod["spec"].get("ephemeralContainers") or []}
        name = next(f"kubetriage-debug-{i}" for i in range(1, len(existing) + 2)
                    if f"kubetriage-debug-{i}" not in existing)
        pod["spec"].setdefault("ephemeralContainers", []).append({
            "name": name, "image": self.settings.debug_image,
            "command": ["sleep", str(self.settings.debug_seconds)],
            "securityContext": {"capabilities": {"add": ["NET_RAW"]}}})
        self.api.call("PUT", f"{self._path()}/ephemeralcontainers", pod)
        deadline = time.monotonic() + self.settings.timeout
        while time.monotonic() < deadline:
            status = self.api.call("GET", self._path()).get("status") or {}
            for cs in status.get("ephemeralContainerStatuses") or []:
                if cs.get("name") == name and "running" in (cs.get("state") or {}):
                    return name
            time.sleep(1.0)
        raise KubetriageError(f"debug container {name} in {self.pod.namespace}/{self.pod.name} did not start "
                              f"within {self.settings.timeout:g} s (image {self.settings.debug_image})")


class WithFallback:
    """The pod's own container; the debug container for a tool it lacks."""

    def __init__(self, own: Runner, debug: Runner) -> None:
        self.own, self.debug = own, debug
        self.used_debug = False

    def __call__(self, argv: list[str]) -> Result:
        if not self.used_debug:
            result = self.own(argv)
            if not result.missing:
                return result
        self.used_debug = True
        return self.debug(argv)


# -- what to run ---------------------------------------------------------------------------------
def _argument(value: str) -> str:
    """A cluster value as one argv element; refused when a tool would read it as an option."""
    if not value or value.startswith("-") or any(c.isspace() or not c.isprintable() for c in value):
        raise KubetriageError(f"refusing {value[:80]!r} as a probe target")
    return value


def ping_argv(address: str, settings: ExecSettings, size: int = 0) -> list[str]:
    """-c and -W mean the same to iputils, busybox and BSD ping; -M do -s is iputils only."""
    argv = ["ping", "-c", str(settings.count), "-W", "2"]
    return argv + (["-M", "do", "-s", str(size)] if size else []) + [_argument(address)]


def traceroute_argv(address: str) -> list[str]:
    """One probe per hop, 1 s each, 10 hops: pod to pod across an overlay is 3 or 4 hops."""
    return ["traceroute", "-n", "-w", "1", "-q", "1", "-m", "10", _argument(address)]


def nslookup_argv(name: str) -> list[str]:
    return ["nslookup", _argument(name)]


MTU_ARGV = ["ip", "link", "show", "eth0"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(result: Result) -> str:
    return result.text[-SHOWN:]


def run_checks(run: Runner, source: Endpoint, target: Target, settings: ExecSettings) -> list[Entry]:
    """The guide's commands against one target, as mesh.json entries (``via: exec``)."""
    mtu = parse_mtu(run(MTU_ARGV).stdout)
    origin = {"node": source.node, "pod": f"{source.namespace}/{source.name}", "ip": source.ip, "mtu": mtu}
    entries: list[Entry] = []
    if target.dns_name:
        lookup = run(nslookup_argv(target.dns_name))
        answer = parse_nslookup(lookup.text)
        entries.append({"kind": "pod-to-dns", "via": "exec", "tool": "nslookup", "from": origin,
                        "to": {"name": target.dns_name, "server": answer.server.partition("#")[0]},
                        "protocol": "dns", "answers": list(answer.addresses), "at": _now(),
                        "error": _not_run(lookup) or answer.error or None, "output": _shown(lookup)})
    for other in target.endpoints or ((target.pod,) if target.pod else ()):
        entries += _pings(run, origin, "pod-to-pod", {"node": other.node, "pod": f"{other.namespace}/{other.name}",
                                                      "ip": other.ip}, other.ip, mtu, settings)
    if target.kind in ("ip", "host"):
        entries += _pings(run, origin, "pod-to-host", {"host": target.address}, target.address, mtu, settings)
    return entries


def _not_run(result: Result) -> str:
    return "" if result.code is not None else result.error


def _pings(run: Runner, origin: dict[str, Any], kind: str, to: dict[str, Any], address: str, mtu: int,
           settings: ExecSettings) -> list[Entry]:
    small = run(ping_argv(address, settings))
    ping = parse_ping(small.text)
    entries = [_ping_entry(kind, origin, to, small, ping, False)]
    if not ping.ok and not _not_run(small):
        trace = run(traceroute_argv(address))
        path = parse_traceroute(trace.stderr + "\n" + trace.stdout)  # BSD and busybox print the header on stderr
        entries[0]["traceroute"] = {"hops": [list(h.addresses) or ["*"] for h in path.hops],
                                    "reached": path.reached, "last_answer": path.last_answer,
                                    "error": _not_run(trace) or path.error, "output": _shown(trace)}
    elif ping.variant == "iputils" and mtu > IP_ICMP_HEADER and kind == "pod-to-pod":
        large = run(ping_argv(address, settings, mtu - IP_ICMP_HEADER))
        entries.append(_ping_entry("mtu", origin, to, large, parse_ping(large.text), True))
    return entries


def _ping_entry(kind: str, origin: dict[str, Any], to: dict[str, Any], result: Result, ping: Ping,
                dont_fragment: bool) -> Entry:
    error = _not_run(result) or ping.error or ("" if ping.ok else "no reply")
    return {"kind": kind, "via": "exec", "tool": f"ping ({ping.variant or 'unknown'})", "from": origin, "to": to,
            "protocol": "icmp", "size": ping.size, "dont_fragment": dont_fragment, "sent": ping.sent,
            "received": ping.received, "rtt_ms": ping.rtt_ms, "path_mtu": ping.mtu or None,
            "error": error or None, "at": _now(), "output": _shown(result)}


# -- who is who --------------------------------------------------------------------------------
def _endpoint(pod: dict[str, Any]) -> Endpoint:
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    return Endpoint(str(md.get("namespace") or ""), str(md.get("name") or ""), str(spec.get("nodeName") or ""),
                    str(status.get("podIP") or ""))


def _split(ref: str, what: str) -> tuple[str, str]:
    namespace, _, name = ref.rpartition("/")
    if not name or "/" in namespace:
        raise KubetriageError(f"{what} {ref!r}: expected NAMESPACE/NAME")
    return namespace or "default", name


def source_pod(api: ProbeApi, ref: str) -> tuple[Endpoint, str]:
    """The pod named by --from, and its first container."""
    namespace, name = _split(ref, "--from")
    pod = api.call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", absent=(404,))
    if pod is None:
        raise KubetriageError(f"--from {ref}: no such pod")
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return _endpoint(pod), str(containers[0].get("name") or "")


def resolve(api: ProbeApi, ref: str, settings: ExecSettings) -> Target:
    """--to: ``svc/NS/NAME`` (a Service: its DNS name and up to 3 ready endpoints), ``NS/NAME``
    (a pod), an IP (a pod's when one has it), or a host name. Selectors are checked here too:
    not every API server (or proxy) honours them."""
    if ref.startswith(("svc/", "service/")):
        namespace, name = _split(ref.partition("/")[2], "--to")
        svc = api.call("GET", f"/api/v1/namespaces/{namespace}/services/{name}", absent=(404,))
        if svc is None:
            raise KubetriageError(f"--to {ref}: no such Service")
        slices = api.call("GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                          query={"labelSelector": f"kubernetes.io/service-name={name}"}) or {}
        ready = [e for s in slices.get("items") or []
                 if ((s.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name") == name
                 for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") is not False
                 and e.get("addresses")]
        return Target("service", str((svc.get("spec") or {}).get("clusterIP") or ""), service=f"{namespace}/{name}",
                      dns_name=f"{name}.{namespace}.svc.{settings.cluster_domain}",
                      endpoints=tuple(_slice_endpoint(api, namespace, e) for e in ready[:3]))
    try:
        ipaddress.ip_address(ref)
    except ValueError:
        pass
    else:
        found = api.call("GET", "/api/v1/pods", query={"fieldSelector": f"status.podIP={ref}"},
                         absent=(403,)) or {}  # not allowed to list every pod: a plain address
        pods = [p for p in found.get("items") or []
                if (p.get("status") or {}).get("podIP") == ref and not (p.get("spec") or {}).get("hostNetwork")]
        return Target("pod", ref, pod=_endpoint(pods[0])) if pods else Target("ip", ref)
    if ref.count("/") == 1:
        target = _pod(api, *_split(ref, "--to"))
        return Target("pod", _argument(target.ip), pod=target)
    return Target("host", _argument(ref), dns_name=ref)


def _pod(api: ProbeApi, namespace: str, name: str) -> Endpoint:
    pod = api.call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", absent=(404,))
    if pod is None:
        raise KubetriageError(f"no pod {namespace}/{name}")
    return _endpoint(pod)


def _slice_endpoint(api: ProbeApi, namespace: str, endpoint: dict[str, Any]) -> Endpoint:
    """An EndpointSlice endpoint as a pod; its node from the slice, else from its pod."""
    ref = endpoint.get("targetRef") or {}
    ip, node = str(endpoint["addresses"][0]), str(endpoint.get("nodeName") or "")
    if node or ref.get("kind") != "Pod":
        return Endpoint(namespace, str(ref.get("name") or ip), node or "unknown", ip)
    return dataclasses.replace(_pod(api, namespace, str(ref.get("name"))), ip=ip)
