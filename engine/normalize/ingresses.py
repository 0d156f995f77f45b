"""Ingresses: class resolution, each backend checked against Services, each TLS entry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import meta
from kubetriage.normalize.reachability import ingress_isolation
from kubetriage.normalize.scope import Scope

_DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
_LEGACY_CLASS = "kubernetes.io/ingress.class"


@dataclass
class IngressInfo:
    """An Ingress reduced to what its facts need."""

    namespace: str
    name: str
    class_name: str
    hosts: list[str]
    backends: list[tuple[str, str, str, str]]  # (host, path, service, port)
    tls: list[tuple[str, list[str]]]  # (secretName, hosts)


def read_ingressclasses(objects: Iterable[dict[str, Any]]) -> tuple[set[str], bool]:
    """Names of the IngressClasses, and whether one is marked default."""
    names, has_default = set(), False
    for obj in objects:
        _, name = meta(obj)
        names.add(name)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        has_default = has_default or annotations.get(_DEFAULT_CLASS) == "true"
    return names, has_default


def read_ingresses(objects: Iterable[dict[str, Any]], scope: Scope) -> list[IngressInfo]:
    out = []
    for obj in objects:
        namespace, name = meta(obj)
        spec = obj.get("spec") or {}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        backends = []
        default = (spec.get("defaultBackend") or spec.get("backend") or {})
        if default.get("service"):
            backends.append(("*", "/", *_service_ref(default)))
        hosts = []
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "*")
            hosts.append(host)
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = path.get("backend") or {}
                if backend.get("service"):
                    backends.append((host, str(path.get("path") or "/"), *_service_ref(backend)))
        tls = [(str(t.get("secretName") or ""), [str(h) for h in t.get("hosts") or []])
               for t in spec.get("tls") or []]
        for secret, _ in tls:
            if secret:
                scope.tls_refs.add((namespace, secret))
        out.append(IngressInfo(
            namespace=namespace, name=name,
            class_name=str(spec.get("ingressClassName") or annotations.get(_LEGACY_CLASS) or ""),
            hosts=hosts, backends=backends, tls=tls,
        ))
    return out


def _service_ref(backend: dict[str, Any]) -> tuple[str, str]:
    service = backend["service"]
    port = service.get("port") or {}
    return str(service.get("name") or ""), str(port.get("number") or port.get("name") or "")


def host_covered(host: str, sans: list[str]) -> bool:
    """RFC 6125: case-insensitive; a wildcard is the whole leftmost label and covers exactly one label."""
    host = host.lower().rstrip(".")
    for san in (s.lower().rstrip(".") for s in sans):
        if san == host:
            return True
        if san.startswith("*.") and "." in host and host.split(".", 1)[1] == san[2:] and host.split(".", 1)[0]:
            return True
    return False


def ingress_facts(
    ingresses: list[IngressInfo],
    scope: Scope,
    classes: tuple[set[str], bool] | None,
    secrets_found: set[tuple[str, str]],
) -> Iterator[dict[str, Any]]:
    claimed: dict[tuple[str, str, str], str] = {}
    isolated: set[tuple[str, str, str]] = set()
    for ing in ingresses:
        if classes is None:
            class_exists = True  # not collected: the ingress kind is reported as not evaluable
        else:
            names, has_default = classes
            class_exists = ing.class_name in names if ing.class_name else has_default
        yield CATALOG["ingress"].make(
            namespace=ing.namespace, name=ing.name, class_name=ing.class_name,
            class_exists=class_exists, hosts=ing.hosts,
        )
        for host, path, service, port in ing.backends:
            svc = scope.services.get((ing.namespace, service))
            here = f"{ing.namespace}/{ing.name}"
            other = claimed.setdefault((host, path, ing.class_name), here)
            if other != here:
                yield CATALOG["ingress_path_conflict"].make(host=host, path=path, class_name=ing.class_name,
                                                            first=other, second=here)
            if svc is not None and (ing.namespace, service, ing.name) not in isolated:
                isolated.add((ing.namespace, service, ing.name))
                yield from ingress_isolation(scope, ing.name, svc, port)
            yield CATALOG["ingress_backend"].make(
                namespace=ing.namespace, ingress=ing.name, host=host, path=path,
                service=service, port=port, service_exists=svc is not None,
                port_defined=svc is not None and any(port in (n, p) for n, p, _, _ in svc.ports),
                ready_endpoints=svc.ready_endpoints if svc else 0,
            )
        for secret, hosts in ing.tls:
            yield CATALOG["ingress_tls"].make(
                namespace=ing.namespace, ingress=ing.name, secret_name=secret, hosts=hosts,
                secret_found=(ing.namespace, secret) in secrets_found,
            )
            sans = scope.cert_sans.get((ing.namespace, secret))
            if sans is None:
                continue
            for host in hosts:
                yield CATALOG["ingress_tls_host"].make(namespace=ing.namespace, ingress=ing.name,
                                                       secret_name=secret, host=host,
                                                       covered=host_covered(host, sans), sans=sans)
