"""Endpoint probes from where kubetriage runs: what Ingress and LoadBalancer addresses answer.

Per Ingress host with TLS, a handshake with SNI against the address in the Ingress status (the
served chain becomes ``probes/tls/<host>_<port>.pem``); per rule path, one HTTP GET whose status
is kept (503, 404, 502/504 mean something); per LoadBalancer address and port, a TCP connect.
Only addresses the cluster publishes in object status are contacted; every step is bounded by a
timeout and the number of requests by ``limit``. Results are mesh.json entries; nothing is
interpreted here.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial
from typing import Any

Entry = dict[str, Any]
#: A host the served chain is saved for: a DNS name, so that ``<host>_<port>.pem`` is a plain file
#: name (an Ingress host is cluster data: no wildcard, slash or dot-dot reaches the file system).
_DNS_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we want to see what is served, trusted or not
    return context


def served_chain(host: str, ip: str, port: int, timeout: float) -> str:
    """The certificate chain served for SNI ``host`` (leaf first), as PEM."""
    with socket.create_connection((ip, port), timeout=timeout) as raw, \
            _context().wrap_socket(raw, server_hostname=host) as tls:
        chain = getattr(tls, "get_unverified_chain", None)  # Python 3.13+: DER bytes, leaf first
        if chain is not None:
            return "".join(ssl.DER_cert_to_PEM_cert(bytes(der)) for der in chain())
        der = tls.getpeercert(binary_form=True)
        return ssl.DER_cert_to_PEM_cert(der) if der else ""


def http_status(host: str, path: str, ip: str, port: int, tls: bool, timeout: float) -> tuple[int, str]:
    """(status, '') of a GET for ``host`` and ``path``, or (0, why not)."""
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection(ip, port, timeout=timeout, context=_context())
        conn._server_hostname = host  # type: ignore[attr-defined]  # SNI = the Ingress host
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"Host": host, "User-Agent": "kubetriage-probe"})
        return conn.getresponse().status, ""
    except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: a host unfit for a header
        return 0, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def connect(ip: str, port: int, timeout: float) -> str:
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return ""
    except OSError as exc:
        return f"connect to {ip}:{port}: {exc.strerror or exc}"


def _addresses(obj: dict[str, Any], default_ports: Iterable[int]) -> list[tuple[str, int]]:
    out = []
    for lb in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        ip = str(lb.get("ip") or "")
        ports = [int(p["port"]) for p in lb.get("ports") or [] if isinstance(p.get("port"), int)]
        out += [(ip, port) for port in ports or default_ports if ip]
    return out


def endpoint_probes(ingresses: Iterable[dict[str, Any]], services: Iterable[dict[str, Any]],
                    timeout: float = 5.0, limit: int = 500, workers: int = 8
                    ) -> tuple[list[Entry], dict[str, str]]:
    """mesh.json entries for Ingress paths and LoadBalancer addresses, and the served chains
    by file name."""
    jobs = list(_jobs(ingresses, services))[:limit]
    entries: list[Entry] = []
    chains: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda job: job(timeout), jobs):
            if isinstance(result, tuple):
                name, pem = result
                if pem:
                    chains[name] = pem
            else:
                entries.append(result)
    return entries, chains


def _jobs(ingresses: Iterable[dict[str, Any]], services: Iterable[dict[str, Any]]
          ) -> Iterator[Callable[[float], Entry | tuple[str, str]]]:
    """One call per probe, each taking the timeout."""
    for ing in ingresses:
        md, spec = ing.get("metadata") or {}, ing.get("spec") or {}
        name = f"{md.get('namespace', '')}/{md.get('name', '')}"
        tls_hosts = {str(h) for t in spec.get("tls") or [] for h in t.get("hosts") or []}
        for ip, port in _addresses(ing, (443,) if tls_hosts else (80,)):
            tls = port != 80
            for host in sorted(h for h in tls_hosts if _DNS_NAME.fullmatch(h)) if tls else ():
                yield partial(_chain_job, host, ip, port)
            for rule in spec.get("rules") or []:
                for path in (rule.get("http") or {}).get("paths") or []:
                    yield partial(_path_entry, name, str(rule.get("host") or ""), str(path.get("path") or "/"),
                                  ip, port, tls)
    for svc in services:
        md, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        ports = [int(p["port"]) for p in spec.get("ports") or []
                 if str(p.get("protocol") or "TCP") == "TCP" and isinstance(p.get("port"), int)]
        for ip, port in _addresses(svc, ports):
            yield partial(_lb_entry, f"{md.get('namespace', '')}/{md.get('name', '')}", ip, port)


def _lb_entry(service: str, ip: str, port: int, timeout: float) -> Entry:
    return {"kind": "loadbalancer", "from": {"node": ""}, "protocol": "tcp", "at": _now(),
            "to": {"service": service, "ip": ip, "port": port}, "error": connect(ip, port, timeout) or None}


def _chain_job(host: str, ip: str, port: int, timeout: float) -> tuple[str, str]:
    """(file name, PEM); an empty PEM when the handshake failed (the path probes say why)."""
    try:
        return f"{host}_{port}.pem", served_chain(host, ip, port, timeout)
    except (OSError, ssl.SSLError):
        return f"{host}_{port}.pem", ""


def _path_entry(ingress: str, host: str, path: str, ip: str, port: int, tls: bool, timeout: float) -> Entry:
    status, error = http_status(host, path, ip, port, tls, timeout)
    return {"kind": "ingress-path", "from": {"node": ""}, "protocol": "tcp", "status": status,
            "error": error or None, "at": _now(),
            "to": {"ingress": ingress, "host": host, "path": path, "ip": ip, "port": port}}
