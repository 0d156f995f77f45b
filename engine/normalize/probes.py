"""Active-probe results (``probes/mesh.json``, ``probes/tls/``) -> facts that localise a fault.

Traffic between two nodes' pods is judged per unordered node pair. A node is *isolated*
when every pair it is part of fails while some pair without it works: the fault is on that
node (its overlay port blocked, its tunnel down), not in the network between all of them.
Failing pairs no isolated node explains are reported as a partition. Every entry is
untrusted: a malformed one becomes a located coverage error and the rest is still read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kubetriage.bundle import CollectionError, ItemErrors
from kubetriage.catalog import CATALOG
from kubetriage.normalize.certificates import certificate_fact
from kubetriage.normalize.common import clip
from kubetriage.normalize.ingresses import IngressInfo, host_covered
from kubetriage.normalize.scope import Scope

MESH = "probes/mesh.json"
#: Entries read from one mesh.json at most (all pairs of 400 nodes); the rest is reported.
MAX_ENTRIES = 200_000
#: A don't-fragment probe at least this large tests the path MTU, not reachability.
LARGE = 1000
NOT_RUNNING = "probe pod not running"
#: Subjects of the controllers' built-in certificates, served when no Secret matches the SNI
#: name: ingress-nginx (https://github.com/kubernetes/ingress-nginx/issues/1286) and Traefik
#: (https://github.com/traefik/traefik/issues/2829, SAN *.traefik.default in
#: https://github.com/moov-io/infra/issues/77).
FAKE_SUBJECTS = ("Kubernetes Ingress Controller Fake Certificate", "TRAEFIK DEFAULT CERT")
_KINDS = frozenset({"pod-to-pod", "node-to-pod", "mtu", "pod-to-service", "pod-to-dns",
                    "ingress-path", "loadbalancer", "pod-to-host"})
_OUTCOMES = {503: "no-endpoints", 404: "no-rule", 502: "backend-unreachable", 504: "backend-unreachable"}


@dataclass(frozen=True)
class Overlay:
    """How a CNI carries pod traffic between nodes, for evidence and runbook commands."""

    words: str
    iface: str
    filter: str
    ports: tuple[str, ...]

    def fields(self, cni: str) -> dict[str, Any]:
        return {"cni": cni, "overlay": self.words, "overlay_iface": self.iface,
                "overlay_filter": self.filter, "overlay_ports": list(self.ports)}


_FLANNEL = Overlay("VXLAN over UDP port 8472", "flannel.1", "udp port 8472", ("udp/8472",))
#: Port requirements: https://ranchermanager.docs.rancher.com/getting-started/installation-and-upgrade/installation-requirements/port-requirements
#: https://docs.tigera.io/calico/latest/getting-started/kubernetes/requirements#network-requirements
#: https://docs.cilium.io/en/stable/operations/system_requirements/#firewall-rules
#: https://github.com/weaveworks/weave/blob/master/site/faq.md#ports
OVERLAYS: Mapping[str, Overlay] = {
    "flannel": _FLANNEL,
    "canal": _FLANNEL,
    "calico": Overlay("IP-in-IP (IP protocol 4) or VXLAN over UDP port 4789, routes learnt over BGP (TCP 179)",
                      "tunl0", "ip proto 4 or udp port 4789 or tcp port 179", ("4", "udp/4789", "tcp/179")),
    "cilium": Overlay("VXLAN over UDP port 8472 or Geneve over UDP port 6081", "cilium_vxlan",
                      "udp port 8472 or udp port 6081", ("udp/8472", "udp/6081")),
    "weave": Overlay("Weave on TCP port 6783 and UDP ports 6783-6784", "weave",
                     "port 6783 or udp port 6784", ("tcp/6783", "udp/6783", "udp/6784")),
}
_UNKNOWN = Overlay("the CNI's overlay (unknown CNI: VXLAN UDP 8472/4789, Geneve UDP 6081 or IP-in-IP)", "",
                   "udp port 8472 or udp port 4789 or udp port 6081 or ip proto 4",
                   ("udp/8472", "udp/4789", "udp/6081", "4"))


class BadEntry(ValueError):
    """A mesh.json entry that does not follow docs/snapshot-format.md."""


@dataclass
class _Pairs:
    """Outcome of one test per unordered node pair, and per direction."""

    ok: dict[frozenset[str], bool] = field(default_factory=dict)
    direction: dict[tuple[str, str], bool] = field(default_factory=dict)
    sample: dict[frozenset[str], tuple[int, str]] = field(default_factory=dict)

    def add(self, src: str, dst: str, ok: bool, size: int, sample: str) -> None:
        pair = frozenset((src, dst))
        self.ok[pair] = self.ok.get(pair, True) and ok
        self.direction[(src, dst)] = self.direction.get((src, dst), True) and ok
        if not ok:
            self.sample.setdefault(pair, (size, sample))

    def culprits(self) -> set[str]:
        """Nodes all of whose pairs fail while some pair without them works."""
        total: Counter[str] = Counter()
        good: Counter[str] = Counter()
        for pair, ok in self.ok.items():
            for node in pair:
                total[node] += 1
                good[node] += ok
        works = sum(self.ok.values())
        return {n for n in total if good[n] == 0 and works > 0}

    def failed_peers(self, node: str) -> list[str]:
        return sorted(next(iter(p - {node})) for p, ok in self.ok.items() if node in p and not ok)

    def peers(self, node: str) -> int:
        return sum(1 for p in self.ok if node in p)

    def state(self, src: str, dst: str) -> str:
        ok = self.direction.get((src, dst))
        return "not-probed" if ok is None else "ok" if ok else "failed"


@dataclass
class _Mesh:
    """What the entries of one mesh.json add up to."""

    small: _Pairs = field(default_factory=_Pairs)
    large: _Pairs = field(default_factory=_Pairs)
    pod_error: dict[str, str] = field(default_factory=dict)
    pod: dict[str, tuple[str, int]] = field(default_factory=dict)  # node -> (ip, mtu)
    #: (namespace, name, vip, port) -> node -> error ('' when it answered)
    vip: dict[tuple[str, str, str, int], dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    endpoint: dict[tuple[str, str, str], tuple[str, bool]] = field(default_factory=dict)  # (node, ns, name)
    dns: dict[tuple[str, str], dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    endpoints: list[dict[str, Any]] = field(default_factory=list)


def probe_facts(entries: Iterable[Any], tls: Mapping[str, str], scope: Scope, ingresses: list[IngressInfo],
                errors: list[CollectionError]) -> Iterator[dict[str, Any]]:
    """Facts from the raw probe results; malformed entries go to ``errors``, located."""
    mesh, skipped = _Mesh(), ItemErrors(errors, "probes", MESH)
    for index, entry in enumerate(entries):
        if index >= MAX_ENTRIES:
            errors.append(CollectionError("probes", MESH, f"more than {MAX_ENTRIES} probes: the rest was not read"))
            break
        try:
            _read(entry, mesh, scope, ingresses)
        except BadEntry as exc:
            skipped.add(f"probes[{index}]: {exc}")
    skipped.close()
    overlay = OVERLAYS.get(scope.cni, _UNKNOWN).fields(scope.cni)
    yield from _node_facts(mesh, overlay)
    yield from _pair_facts(mesh, overlay)
    yield from _service_facts(mesh)
    yield from _dns_facts(mesh)
    yield from mesh.endpoints
    for name, text in sorted(tls.items()):
        fact = _served(name, text, scope, ingresses, errors)
        if fact is not None:
            yield fact


# -- reading entries ----------------------------------------------------------------------
def _text(obj: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadEntry(f"{where}{key} must be a non-empty string, got {clip(repr(value), 60)}")
    return clip(value, 253)


def _number(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadEntry(f"{key} must be a number, got {clip(repr(value), 60)}")
    return int(value)


def _part(entry: dict[str, Any], key: str) -> dict[str, Any]:
    value = entry.get(key)
    if not isinstance(value, dict):
        raise BadEntry(f"{key} must be an object, got {clip(repr(value), 60)}")
    return value


def _ok(entry: dict[str, Any]) -> bool:
    """Sent packets and none came back fail; otherwise an error fails."""
    sent, received = _number(entry, "sent"), _number(entry, "received")
    if sent and received is not None:
        return received > 0
    return not _text(entry, "error", "", required=False)


def _read(entry: Any, mesh: _Mesh, scope: Scope, ingresses: list[IngressInfo]) -> None:
    if not isinstance(entry, dict):
        raise BadEntry(f"expected an object, got {type(entry).__name__}")
    kind = _text(entry, "kind", "")
    if kind not in _KINDS:
        raise BadEntry(f"unknown kind {kind!r} (expected one of {', '.join(sorted(_KINDS))})")
    error = _text(entry, "error", "", required=False)
    to = _part(entry, "to")
    if kind in ("ingress-path", "loadbalancer"):
        mesh.endpoints.append(_endpoint(kind, entry, to, error, scope, ingresses))
        return
    src = _text(_part(entry, "from"), "node", "from.")
    if error.startswith(NOT_RUNNING):
        mesh.pod_error.setdefault(src, error)
        return
    origin = _part(entry, "from")
    ip = _text(origin, "ip", "from.", required=False)
    if ip:
        mesh.pod.setdefault(src, (ip, _number(origin, "mtu") or 0))
    ok = _ok(entry)
    if kind == "pod-to-host":
        return  # an exec probe to an address outside the cluster's pods: shown, not judged
    if kind == "pod-to-service":
        _service(entry, to, src, ok, error, mesh, scope)
    elif kind == "pod-to-dns":
        mesh.dns[(_text(to, "name", "to."), _text(to, "server", "to.", required=False))][src] = \
            "" if ok else error or "no answer"
    else:
        dst = _text(to, "node", "to.")
        if dst == src:
            return  # same-node traffic never crosses the overlay
        size = _number(entry, "size") or 0
        large = kind == "mtu" or (entry.get("dont_fragment") is True and size >= LARGE)
        sample = f"{src} -> {dst} ({_text(to, 'ip', 'to.', required=False) or '?'}, {size} bytes): " \
                 f"{error or 'no reply'}"
        (mesh.large if large else mesh.small).add(src, dst, ok, size, clip(sample))


def _service(entry: dict[str, Any], to: dict[str, Any], src: str, ok: bool, error: str, mesh: _Mesh,
             scope: Scope) -> None:
    namespace, _, name = _text(to, "service", "to.").partition("/")
    ip, port = _text(to, "ip", "to."), _number(to, "port") or 0
    info = scope.services.get((namespace, name))
    direct = to.get("endpoint") is True or (info is not None and bool(info.cluster_ip)
                                             and ip != info.cluster_ip)
    if direct:
        mesh.endpoint[(src, namespace, name)] = (f"{ip}:{port}", ok)
    else:
        mesh.vip[(namespace, name, ip, port)][src] = "" if ok else error or "no answer"


def _endpoint(kind: str, entry: dict[str, Any], to: dict[str, Any], error: str, scope: Scope,
              ingresses: list[IngressInfo]) -> dict[str, Any]:
    status = _number(entry, "status") or 0
    host = _text(to, "host", "to.", required=False)
    path = _text(to, "path", "to.", required=False)
    address = f"{_text(to, 'ip', 'to.')}:{_number(to, 'port') or 0}"
    namespace, name, service = "", "", ""
    if kind == "ingress-path":
        claimed = _text(to, "ingress", "to.", required=False)
        for ing in ingresses:
            for b_host, b_path, b_service, _ in ing.backends:
                if (claimed in ("", f"{ing.namespace}/{ing.name}") and b_host == (host or "*")
                        and b_path == (path or "/")):
                    namespace, name, service = ing.namespace, ing.name, f"{ing.namespace}/{b_service}"
        if not name and claimed:
            namespace, _, name = claimed.partition("/")
    else:
        namespace, _, name = _text(to, "service", "to.").partition("/")
        service = f"{namespace}/{name}"
    svc_ns, _, svc_name = service.partition("/")
    info = scope.services.get((svc_ns, svc_name))
    outcome = "no-answer" if error or not status else _OUTCOMES.get(status, "ok")
    return CATALOG["probe_endpoint"].make(
        type=kind, namespace=namespace, name=name, host=host, path=path, address=address, status=status,
        outcome=outcome, error=error, service=service, nodes=sorted(info.pod_nodes) if info else [])


# -- facts ----------------------------------------------------------------------------------
def _node_facts(mesh: _Mesh, overlay: dict[str, Any]) -> Iterator[dict[str, Any]]:
    isolated, mtu_isolated = mesh.small.culprits(), mesh.large.culprits()
    nodes = {n for pair in [*mesh.small.ok, *mesh.large.ok] for n in pair} | set(mesh.pod_error)
    for node in sorted(nodes):
        unreachable = mesh.small.failed_peers(node)
        mtu_failed = [p for p in mesh.large.failed_peers(node) if p not in unreachable]
        sample = next((s for p, (_, s) in mesh.small.sample.items() if node in p), "")
        mtu = [(size, s) for p, (size, s) in mesh.large.sample.items() if node in p]
        ip, pod_mtu = mesh.pod.get(node, ("", 0))
        yield CATALOG["probe_node"].make(
            node=node, pod_error=clip(mesh.pod_error.get(node, "")), pod_ip=ip, pod_mtu=pod_mtu,
            peers=mesh.small.peers(node), unreachable_peers=len(unreachable), unreachable=unreachable,
            isolated=node in isolated, sample=sample, mtu_failed_peers=len(mtu_failed),
            mtu_isolated=node in mtu_isolated and node not in isolated and bool(mtu_failed),
            mtu_size=max((size for size, _ in mtu), default=0), mtu_sample=min(mtu)[1] if mtu else "",
            **overlay)


def _pair_facts(mesh: _Mesh, overlay: dict[str, Any]) -> Iterator[dict[str, Any]]:
    blamed = mesh.small.culprits()
    for test, pairs in (("connectivity", mesh.small), ("mtu", mesh.large)):
        if test == "mtu":
            blamed |= pairs.culprits()
        for pair, ok in sorted(pairs.ok.items(), key=lambda item: sorted(item[0])):
            if ok or pair & blamed or (test == "mtu" and mesh.small.ok.get(pair) is False):
                continue
            a, b = sorted(pair)
            size, sample = pairs.sample[pair]
            yield CATALOG["probe_pair"].make(test=test, node_a=a, node_b=b, a_to_b=pairs.state(a, b),
                                             b_to_a=pairs.state(b, a), size=size, sample=sample, **overlay)


def _service_facts(mesh: _Mesh) -> Iterator[dict[str, Any]]:
    for (namespace, name, ip, port), by_node in sorted(mesh.vip.items()):
        answered = sum(1 for e in by_node.values() if not e)
        for node, error in sorted(by_node.items()):
            if not error:
                continue
            endpoint, endpoint_ok = mesh.endpoint.get((node, namespace, name), ("", False))
            yield CATALOG["probe_service"].make(
                node=node, namespace=namespace, name=name, ip=ip, port=port, error=clip(error),
                endpoint=endpoint, endpoint_ok=endpoint_ok, ok_from_nodes=answered)


def _dns_facts(mesh: _Mesh) -> Iterator[dict[str, Any]]:
    for (name, server), by_node in sorted(mesh.dns.items()):
        failed = {n: e for n, e in by_node.items() if e}
        for node, error in sorted(failed.items()):
            yield CATALOG["probe_dns"].make(node=node, name=name, server=server, error=clip(error),
                                            ok_from_nodes=len(by_node) - len(failed),
                                            failed_from_nodes=len(failed))


def _served(file_name: str, text: str, scope: Scope, ingresses: list[IngressInfo],
            errors: list[CollectionError]) -> dict[str, Any] | None:
    where = f"probes/tls/{file_name}"
    host, _, port = file_name.removesuffix(".pem").rpartition("_")
    try:
        chain = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        errors.append(CollectionError("probes", where, f"not a PEM certificate chain: {clip(str(exc), 120)}"))
        return None
    if not host or not port.isdigit():
        errors.append(CollectionError("probes", where, "expected a file name <host>_<port>.pem"))
        return None
    leaf = chain[0]
    cert = certificate_fact(leaf, "", "", scope.now)
    namespace = ingress = secret = ""
    for ing in ingresses:
        for secret_name, hosts in ing.tls:
            if not ingress and any(h.lower() == host.lower() for h in hosts):
                namespace, ingress, secret = ing.namespace, ing.name, secret_name
    secret_leaf = scope.cert_leaves.get((namespace, secret))
    return CATALOG["served_certificate"].make(
        host=host, port=int(port), subject=cert["subject"], issuer=cert["issuer"],
        serial=format(leaf.serial_number, "x"), not_after=cert["not_after"], expired=cert["expired"],
        covers_host=host_covered(host, cert["sans"]),
        fake_default=any(s in cert["subject"] for s in FAKE_SUBJECTS)
        or any(s.endswith(".traefik.default") for s in cert["sans"]),
        namespace=namespace, ingress=ingress, secret_name=secret, secret_found=secret_leaf is not None,
        secret_serial=format(secret_leaf.serial_number, "x") if secret_leaf else "",
        matches_secret=secret_leaf is not None
        and secret_leaf.public_bytes(Encoding.DER) == leaf.public_bytes(Encoding.DER),
    )
