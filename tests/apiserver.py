"""An in-process Kubernetes API server for tests: HTTPS on 127.0.0.1, token auth, real JSON.

It serves Lists from a snapshot directory's ``api/*.json`` (any API group), single
objects by name, and pod logs from ``logs/``; honours ``limit``/``continue`` (unless
``paging`` is off). Objects changed through :meth:`FakeApiServer.put` / :meth:`~FakeApiServer.delete`
are held in memory with a resourceVersion, and ``?watch=1`` streams them as a real API
server does (:class:`_WatchLog`): chunked ADDED/MODIFIED/DELETED events after the
resourceVersion asked for, BOOKMARKs when asked, an ERROR 410 Gone event when that
version is older than the log keeps (:meth:`~FakeApiServer.compact`), and watches that
the test can cut mid-stream (:meth:`~FakeApiServer.drop_watches`). Per resource it can be told to misbehave the
ways real servers and the proxies in front of them do (:class:`Fault`): an error status
(403, 404, 410 on a continue token, 429 with Retry-After, 500), a slow answer, a 200
that is not JSON (a login page), a body cut short, a connection reset mid-body, or a
body that never ends. Every request is recorded as (verb, resource, subresource,
namespace, name) for RBAC checks, with its arrival time.
"""

from __future__ import annotations

import base64
import bisect
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$")


Cut = Literal["", "truncate", "reset", "drip"]


@dataclass
class Fault:
    """What to do instead of answering normally; ``times`` = 0 means always.

    ``status`` answers with that code (``retry_after`` adds the header); ``delay`` waits
    first; ``body`` answers 200 with that text/html body; ``cut`` sends the real answer
    but "truncate"s it (half the declared length, then close), "reset"s the connection
    half-way (TCP RST) or "drip"s a body that never ends (a byte every 50 ms).
    """

    status: int = 0
    delay: float = 0.0
    times: int = 0
    on_continue: bool = False  # only for requests that carry a continue token
    retry_after: str = ""
    body: bytes = b""
    cut: Cut = ""


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    at: float = field(default_factory=time.monotonic, compare=False)


_BASE_VERSION = 1000  # the resourceVersion of everything read from the snapshot files


@dataclass
class _WatchLog:
    """Changes in resourceVersion order, as etcd keeps them until compaction."""

    version: int = _BASE_VERSION
    floor: int = _BASE_VERSION  # a watch from before this is 410 Gone
    events: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)  # rv, plural, type, obj
    generation: int = 0  # bumped to cut every open watch
    changed: threading.Condition = field(default_factory=threading.Condition)
    keep: int = 100_000

    def append(self, plural: str, kind: str, obj: dict[str, Any]) -> None:
        with self.changed:
            self.version += 1
            obj["metadata"]["resourceVersion"] = str(self.version)
            self.events.append((self.version, plural, kind, obj))
            if len(self.events) > self.keep:
                self.floor = self.events[-self.keep][0] - 1
                del self.events[:-self.keep]
            self.changed.notify_all()

    def after(self, version: int) -> list[tuple[int, str, str, dict[str, Any]]]:
        return self.events[bisect.bisect_right(self.events, version, key=lambda e: e[0]):]


@dataclass
class FakeApiServer:
    root: Path
    token: str = "test-token-not-a-secret"
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    host: str = "127.0.0.1"
    paging: bool = True  # False: ignore limit/continue and answer whole lists, as some proxies do
    bookmark_interval: float = 1.0  # seconds between BOOKMARKs on a quiet watch that asked for them
    watch_log: _WatchLog = field(default_factory=_WatchLog)
    store: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)  # changed resources
    #: called after a POST/PUT/DELETE with (verb, plural, object): tests play controllers here
    on_write: Callable[[str, str, dict[str, Any]], None] | None = None
    #: answers pods/exec (namespace, pod, container, argv) -> (stdout, stderr, exit code or a runtime error)
    on_exec: Callable[[str, str, str, list[str]], tuple[bytes, bytes, int | str]] | None = None

    def start(self, workdir: Path) -> FakeApiServer:
        self.ca_pem, cert_pem, key_pem = _certificates()
        (workdir / "server.crt").write_bytes(cert_pem)
        (workdir / "server.key").write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "server.crt", workdir / "server.key")
        self.server = ThreadingHTTPServer((self.host, 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.drop_watches()
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def kubeconfig(self, path: Path, context: str = "fixture", token: str | None = None) -> Path:
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca_pem).decode()}}],
            "users": [{"name": context, "user": {"token": token or self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    # -- data ---------------------------------------------------------------------------
    def items(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        with self.watch_log.changed:
            items = list(self.store[plural].values()) if plural in self.store else self._file_items(plural)
        return [i for i in items if namespace is None or i["metadata"].get("namespace") == namespace]

    def _file_items(self, plural: str) -> list[dict[str, Any]]:
        path = self.root / "api" / f"{plural}.json"
        items: list[dict[str, Any]] = json.loads(path.read_text())["items"] if path.exists() else []
        for item in items:
            item["metadata"].setdefault("resourceVersion", str(_BASE_VERSION))
        return items

    def _objects(self, plural: str) -> dict[tuple[str, str], dict[str, Any]]:
        if plural not in self.store:
            self.store[plural] = {(i["metadata"].get("namespace", ""), i["metadata"]["name"]): i
                                  for i in self._file_items(plural)}
        return self.store[plural]

    # -- changes, as a controller or kubectl would make them ------------------------------
    def put(self, plural: str, obj: dict[str, Any]) -> None:
        """Create or replace an object (ADDED or MODIFIED to watchers)."""
        obj = copy.deepcopy(obj)
        md = obj["metadata"]
        with self.watch_log.changed:
            objects = self._objects(plural)
            key = (md.get("namespace", ""), md["name"])
            kind = "MODIFIED" if key in objects else "ADDED"
            self.watch_log.append(plural, kind, obj)
            objects[key] = obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        with self.watch_log.changed:
            gone = self._objects(plural).pop((namespace, name))
            self.watch_log.append(plural, "DELETED", copy.deepcopy(gone))

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """A copy of an object, to change and ``put`` back."""
        with self.watch_log.changed:
            return copy.deepcopy(self._objects(plural)[(namespace, name)])

    def compact(self) -> None:
        """Forget the change log, as etcd compaction does: a watch resumed from an older
        resourceVersion gets 410 Gone and must list again."""
        with self.watch_log.changed:
            self.watch_log.version += 1  # a list made now can be watched from
            self.watch_log.floor = self.watch_log.version
            self.watch_log.events.clear()

    def drop_watches(self) -> None:
        """Cut every open watch connection mid-stream (no final chunk), as a restarting API
        server or a load balancer's idle timeout does."""
        with self.watch_log.changed:
            self.watch_log.generation += 1
            self.watch_log.changed.notify_all()

    def write(self, verb: str, plural: str, namespace: str, name: str, obj: dict[str, Any]) -> int:
        """Create, replace or delete one object, as the API does for POST/PUT/DELETE (watchers see
        ADDED/MODIFIED/DELETED); the HTTP status."""
        name = name or str((obj.get("metadata") or {}).get("name", ""))
        with self.watch_log.changed:
            objects = self._objects(plural)
            exists = (namespace, name) in objects
            if (verb == "post") == exists:
                return 409 if exists else 404
            if verb == "delete":
                obj = objects[(namespace, name)]
                self.delete(plural, namespace, name)
                if plural == "namespaces":  # the namespace takes its objects along
                    for other in {p.stem for p in (self.root / "api").glob("*.json")} | set(self.store):
                        for ns, member in [key for key in self._objects(other) if key[0] == name]:
                            self.delete(other, ns, member)
            else:
                obj.setdefault("metadata", {}).update(name=name, **({"namespace": namespace} if namespace else {}))
                self.put(plural, obj)
        if self.on_write:
            self.on_write(verb, plural, obj)
        return 201 if verb == "post" else 200

    def fault_for(self, plural: str, has_continue: bool) -> Fault | None:
        fault = self.faults.get(plural)
        if fault is None or (fault.on_continue and not has_continue):
            return None
        if fault.times:
            fault.times -= 1
            if fault.times == 0:
                del self.faults[plural]
        return fault


class _Cut(Exception):
    """The test cut the watches."""


def _status(code: int, message: str) -> dict[str, Any]:
    reasons = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 410: "Expired",
               429: "TooManyRequests", 500: "InternalError"}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reasons.get(code, "Unknown"), "code": code}


def _handler(api: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        cut: Cut = ""

        def _send(self, code: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) + (1 << 30 if self.cut == "drip" else 0)))
            self.end_headers()
            if not self.cut:
                self.wfile.write(body)
                return
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if self.cut == "reset":
                time.sleep(0.1)  # let the client start reading the body: the reset comes mid-page
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif self.cut == "drip":
                self._drip()

        def _drip(self) -> None:
            """JSON whitespace, forever (until the client hangs up, or a minute has passed)."""
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def _json(self, code: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(code, json.dumps(doc).encode(), headers=headers)

        def do_GET(self) -> None:
            self.cut = ""
            scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or credential.strip() != api.token:  # schemes are case-blind
                self._json(401, _status(401, "Unauthorized"))
                return
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            match = _PATH.match(url.path)
            if not match:
                self._json(404, _status(404, f"the server could not find {url.path}"))
                return
            group, ns, plural, name, sub = (match.group(k) or "" for k in ("group", "ns", "plural", "name", "sub"))
            verb = "watch" if query.get("watch") in ("1", "true") else "get" if name else "list"
            api.requests.append(Request(verb, group, plural, sub, ns, name))
            if verb == "watch":
                self._watch(plural, ns or None, query)
                return
            fault = api.fault_for(plural, "continue" in query)
            if fault:
                time.sleep(fault.delay)
                if fault.status:
                    self._json(fault.status, _status(fault.status,
                               f'{plural} is forbidden: User "system:serviceaccount:ops:kubetriage" '
                               f'cannot {verb} resource "{plural}"' if fault.status == 403
                               else f"injected {fault.status}"),
                               {"Retry-After": fault.retry_after} if fault.retry_after else None)
                    return
                if fault.body:
                    self._send(200, fault.body, "text/html")
                    return
                self.cut = fault.cut
            if sub == "exec":
                self._exec(ns, name, parse_qs(url.query))
            elif sub == "log":
                self._log(ns, name, query)
            elif name:
                found = [i for i in api.items(plural, ns) if i["metadata"]["name"] == name]
                if found:
                    self._json(200, found[0])
                else:
                    self._json(404, _status(404, f'{plural} "{name}" not found'))
            else:
                self._list(plural, ns or None, query)

        def _write(self, verb: str) -> None:
            scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
            match = _PATH.match(urlparse(self.path).path)
            if scheme.lower() != "bearer" or credential.strip() != api.token or not match:
                self._json(401 if match else 404, _status(401 if match else 404, "refused"))
                return
            group, ns, plural, name, sub = (match.group(k) or "" for k in ("group", "ns", "plural", "name", "sub"))
            api.requests.append(Request(verb, group, plural, sub, ns, name))
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            code = api.write(verb, plural, ns, name, body)
            self._json(code, body if code < 300 else _status(code, f'{plural} "{name}" conflict or not found'))

        def do_POST(self) -> None:
            self._write("post")

        def do_PUT(self) -> None:
            self._write("put")

        def do_DELETE(self) -> None:
            self._write("delete")

        def _exec(self, ns: str, pod: str, query: dict[str, list[str]]) -> None:
            """pods/exec over a websocket (RFC 6455) with the v4.channel.k8s.io subprotocol: stdout on
            channel 1, stderr on 2, the v1 Status on 3, then a close frame."""
            key = (self.headers.get("Sec-WebSocket-Key") or "") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
            accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            for header, value in (("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                  ("Sec-WebSocket-Accept", accept), ("Sec-WebSocket-Protocol", "v4.channel.k8s.io")):
                self.send_header(header, value)
            self.end_headers()
            argv, container = query.get("command", []), query.get("container", [""])[-1]
            out, err, code = api.on_exec(ns, pod, container, argv) if api.on_exec else (b"", b"", "exec: not served")
            for channel, data in ((1, out), (2, err)):
                if data:
                    self._frame(bytes([channel]) + data)
            if code == 0:
                status: dict[str, Any] = {"metadata": {}, "status": "Success"}
            elif isinstance(code, int):
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: exit code {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            else:
                status = {"metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
                          "message": f"Internal error occurred: error executing command in container: {code}"}
            self._frame(b"\x03" + json.dumps(status).encode())
            self._frame(struct.pack("!H", 1000), opcode=0x8)
            self.close_connection = True

        def _frame(self, payload: bytes, opcode: int = 0x2) -> None:
            size = len(payload)
            length = bytes([size]) if size < 126 else bytes([126]) + struct.pack("!H", size) if size < 1 << 16 \
                else bytes([127]) + struct.pack("!Q", size)
            self.wfile.write(bytes([0x80 | opcode]) + length + payload)
            self.wfile.flush()

        def _list(self, plural: str, ns: str | None, query: dict[str, str]) -> None:
            items = api.items(plural, ns)
            if not api.paging:
                query = {}
            start = int(json.loads(base64.b64decode(query["continue"]))["offset"]) if "continue" in query else 0
            limit = int(query.get("limit", 0)) or len(items) or 1
            page = items[start:start + limit]
            metadata: dict[str, Any] = {"resourceVersion": str(api.watch_log.version)}
            if start + limit < len(items):
                metadata["continue"] = base64.b64encode(json.dumps({"offset": start + limit}).encode()).decode()
            kind = plural[:-1].capitalize() + "List"
            self._json(200, {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": page})

        def _watch(self, plural: str, ns: str | None, query: dict[str, str]) -> None:
            """A chunked stream of watch events until ``timeoutSeconds`` or a cut."""
            log = api.watch_log
            generation = log.generation
            since = int(query.get("resourceVersion") or log.version)
            bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
            deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 1800), 1800)
            self.protocol_version = "HTTP/1.1"
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            kind = plural[:-1].capitalize()
            try:
                if since < log.floor:
                    self._chunk({"type": "ERROR", "object": _status(410, f"too old resource version: {since} "
                                                                          f"({log.floor})")})
                else:
                    self._stream(plural, ns, since, kind if bookmarks else "", generation, deadline)
                self.wfile.write(b"0\r\n\r\n")
            except _Cut:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client hung up

        def _stream(self, plural: str, ns: str | None, since: int, bookmark_kind: str, generation: int,
                    deadline: float) -> None:
            log = api.watch_log
            while time.monotonic() < deadline:
                with log.changed:
                    log.changed.wait_for(lambda since=since: log.version > since or log.generation != generation,  # type: ignore[misc]
                                         timeout=min(api.bookmark_interval, max(deadline - time.monotonic(), 0)))
                    if log.generation != generation:
                        raise _Cut
                    news, version = log.after(since), log.version
                for rv, what, kind, obj in news:
                    if what == plural and (ns is None or obj["metadata"].get("namespace") == ns):
                        self._chunk({"type": kind, "object": obj})
                    since = rv
                if not news and bookmark_kind:
                    self._chunk({"type": "BOOKMARK", "object": {
                        "kind": bookmark_kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}}})
                since = max(since, version)

        def _chunk(self, event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def _log(self, ns: str, pod: str, query: dict[str, str]) -> None:
            previous = query.get("previous") == "true"
            path = api.root / "logs" / ns / pod / f"{query.get('container', '')}{'.previous' if previous else ''}.log"
            if previous and not path.exists():
                self._json(400, _status(400, f'previous terminated container "{query.get("container")}" '
                                             f'in pod "{pod}" not found'))
                return
            lines = path.read_text().splitlines()[-int(query.get("tailLines", "0") or 0):] if path.exists() else []
            body = "".join(line + "\n" for line in lines).encode()
            self._send(200, body[:int(query.get("limitBytes", 0)) or None], "text/plain")

    return Handler


def _certificates() -> tuple[bytes, bytes, bytes]:
    """A throwaway CA, and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubetriage-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
            # what Python 3.13's strict verification (VERIFY_X509_STRICT) requires of a chain
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem
