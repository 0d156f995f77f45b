"""Node evidence over SSH (paramiko): kubelet/containerd/kernel logs, CNI config, IPAM state.

When the CNI is down a debug pod cannot start on the node, so the node itself is
read over SSH. Trust rules: host keys are verified against known_hosts (an unknown
key is refused unless ``accept-new`` was asked for; a changed key is refused
loudly), ``~/.ssh/config`` (HostName, User, Port, IdentityFile, ProxyJump) and the
agent are honoured, a password only ever comes from an environment variable the
user names, and only fixed read-only commands run, every argument ``shlex.quote``d,
each with a timeout. Nodes are read concurrently (default 16) and yielded in order
through a bounded window, so memory does not grow with the number of nodes.
Every failure becomes a coverage error naming the node and the reason.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import os
import re
import shlex
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Literal

import paramiko

from kubetriage.bundle import Bundle, CollectionError, NodeFiles, PodLog, ProbeFiles
from kubetriage.collectors.pool import ordered_map
from kubetriage.distros import IPAM_DIR, layout
from kubetriage.errors import KubetriageError, Problem, ValidationError
from kubetriage.probe.output import parse_ping
from kubetriage.probe.plan import ProbeSettings, plan
from kubetriage.schema import check as check_schema
from kubetriage.yamlsource import load_located

log = logging.getLogger("kubetriage.ssh")

Distro = Literal["auto", "kubeadm", "rke2", "k3s"]
HostKeyPolicy = Literal["strict", "accept-new"]
_DETECT = "for d in rke2 k3s; do [ -d /var/lib/rancher/$d/agent ] && { echo $d; exit 0; }; done; echo kubeadm"
_CNI_NAMES = r"\( -name '*.conf' -o -name '*.conflist' -o -name '*.json' \)"
_MAX_CONFIG = "-256k"


@dataclass(frozen=True)
class SshTarget:
    """How to reach one node; unset fields fall back to settings and ~/.ssh/config."""

    node: str
    host: str
    port: int | None = None
    user: str | None = None
    jump: str | None = None
    distro: Distro = "auto"


@dataclass(frozen=True)
class SshSettings:
    user: str | None = None
    key_file: str | None = None
    jump: str | None = None
    host_key_policy: HostKeyPolicy = "strict"
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    ssh_config: Path | None = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    password_env: str | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    concurrency: int = 16
    since_seconds: int = 1800
    max_lines: int = 10_000
    sudo: bool = False
    distro: Distro = "auto"
    probe: bool = False  # also the node-side probes (see NodeProbes)


#: Node-side probe commands and the files they fill (``probes/nodes/<node>/``).
NODE_NET_COMMANDS = {"addr.json": "ip -j addr show", "route.json": "ip -j route show",
                     "link.json": "ip -j -d link show", "iptables.txt": "iptables -S"}
#: iptables rules kept: those naming an overlay transport (flannel/cilium VXLAN 8472, VXLAN 4789,
#: Geneve 6081, BGP 179, weave 6783-6784, WireGuard 51820-51821, IP-in-IP as protocol 4/ipencap).
_OVERLAY_RULE = re.compile(r"--dport (?:8472|4789|6081|179|6783|6784|51820|51821)\b|-p (?:4|ipencap)\b")
_MAX_NET_BYTES = 4 * 1024 * 1024


@dataclass
class NodeProbes:
    """Node-side probes (``--ssh --probe``): the node's own view of its network (``ip -j``, the
    overlay's firewall rules) and a ping from the node to a pod on other nodes, which crosses
    the overlay without deploying anything. ``peers``: node -> {other node: that node's pod IP}."""

    peers: dict[str, dict[str, str]]
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class NodeReadError(Exception):
    """Reading a node failed; the message is what the coverage report says."""


# -- inventory ------------------------------------------------------------------------
def load_inventory(path: Path) -> list[SshTarget]:
    """``nodes.yaml``: ``{defaults: {...}, nodes: {name: {host, port, user, jump, distro}}}``."""
    problems: list[Problem] = []
    doc = load_located(path, problems)
    if doc is None:
        raise ValidationError(problems)
    problems += check_schema(doc, "inventory", "E130")
    if problems:
        raise ValidationError(problems)
    defaults = doc.value.get("defaults", {})
    targets = []
    for name, entry in doc.value["nodes"].items():
        merged = {**defaults, **(entry or {})}
        targets.append(SshTarget(node=str(name), host=str(merged.get("host") or name),
                                 port=merged.get("port"), user=merged.get("user"),
                                 jump=merged.get("jump"), distro=merged.get("distro", "auto")))
    return targets


# -- commands -------------------------------------------------------------------------
def parse_duration(text: str) -> int:
    """``30m``, ``2h``, ``1h30m``, ``90s`` or plain seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total, number = 0, ""
    for ch in text.strip():
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total, number = total + int(number) * units[ch], ""
        else:
            raise KubetriageError(f"--since: {text!r} is not a duration like 30m, 2h or 1h30m")
    total += int(number) if number else 0
    if total <= 0:
        raise KubetriageError(f"--since: {text!r} must be positive")
    return total


def _journal(units: str, settings: SshSettings) -> str:
    args = ["journalctl"]
    for unit in units.split(","):
        args += ["-u", unit]
    args += [f"--since=-{settings.since_seconds}s", "-n", str(settings.max_lines), "-o", "short-iso",
             "--no-pager", "-q"]
    return shlex.join(args)


def log_command(source: str, settings: SshSettings) -> str:
    """The fixed read-only command that prints a log source's recent lines."""
    if source == "kernel":
        return shlex.join(["journalctl", "-k", f"--since=-{settings.since_seconds}s", "-n",
                           str(settings.max_lines), "-o", "short-iso", "--no-pager", "-q"])
    if source.startswith("journal:"):
        return _journal(source.removeprefix("journal:"), settings)
    return shlex.join(["tail", "-n", str(settings.max_lines), "--", source])


def cni_command(dirs: tuple[str, ...]) -> str:
    """A tar stream of the config files (never credentials such as calico-kubeconfig) of the
    first CNI directory that exists; exit 3 when none does."""
    tries = " ".join(shlex.quote(d) for d in dirs)
    return (f"for d in {tries}; do if [ -d \"$d\" ]; then cd \"$d\" && find . -maxdepth 1 -type f "
            f"{_CNI_NAMES} -size {_MAX_CONFIG} -print0 | xargs -0 -r tar -cf -; exit $?; fi; done; exit 3")


def ipam_command() -> str:
    return shlex.join(["find", IPAM_DIR, "-mindepth", "2", "-maxdepth", "2", "-type", "f"])


# -- transport ------------------------------------------------------------------------
class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust an unknown host key on first use and record it; a *changed* key is still refused
    (paramiko raises BadHostKeyException before consulting this policy)."""

    def __init__(self, known_hosts: Path, lock: threading.Lock) -> None:
        self.known_hosts, self.lock = known_hosts, lock

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        with self.lock:
            client.get_host_keys().add(hostname, key.get_name(), key)
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self.known_hosts.open("a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        log.warning("accepted new host key for %s (%s)", hostname, key.get_name())


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    user: str | None
    key_files: tuple[str, ...]
    jump: str | None


class SshReader:
    """Reads node evidence with fixed commands; one instance serves many nodes concurrently."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._config = paramiko.SSHConfig.from_path(str(settings.ssh_config)) \
            if settings.ssh_config and settings.ssh_config.is_file() else paramiko.SSHConfig()
        self._password = os.environ.get(settings.password_env) if settings.password_env else None
        if settings.password_env and self._password is None:
            raise KubetriageError(f"--ssh-password-env names {settings.password_env}, which is not set")
        self._jumps: dict[str, paramiko.SSHClient] = {}

    def close(self) -> None:
        """Close the jump-host connections shared by all nodes."""
        with self._lock:
            for client in self._jumps.values():
                client.close()
            self._jumps.clear()

    def _endpoint(self, alias: str, host: str | None = None, port: int | None = None,
                  user: str | None = None, jump: str | None = None) -> _Endpoint:
        cfg = self._config.lookup(alias)
        configured = cfg.get("hostname")
        return _Endpoint(
            host=configured if configured and configured != alias else (host or alias),
            port=port or int(cfg.get("port", 22)),
            user=user or self.settings.user or cfg.get("user"),
            key_files=tuple([self.settings.key_file] if self.settings.key_file else cfg.get("identityfile", [])),
            jump=jump or self.settings.jump or cfg.get("proxyjump"),
        )

    def _connect(self, ep: _Endpoint, label: str) -> paramiko.SSHClient:
        sock = self._jump_channel(ep) if ep.jump and ep.jump.lower() != "none" else None
        client = paramiko.SSHClient()
        if self.settings.known_hosts.is_file():
            client.load_host_keys(str(self.settings.known_hosts))
        client.set_missing_host_key_policy(
            _AcceptNew(self.settings.known_hosts, self._lock) if self.settings.host_key_policy == "accept-new"
            else paramiko.RejectPolicy())
        timeout = self.settings.connect_timeout
        try:
            client.connect(ep.host, port=ep.port, username=ep.user, key_filename=list(ep.key_files) or None,
                           password=self._password, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, allow_agent=True, look_for_keys=not ep.key_files,
                           sock=sock)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise NodeReadError(
                f"HOST KEY MISMATCH for {label} ({ep.host}:{ep.port}): the server presented "
                f"{exc.key.get_name()} {exc.key.get_fingerprint().hex()}, known_hosts has another key. "
                "Possible man-in-the-middle attack; refusing to connect") from None
        except paramiko.AuthenticationException:
            client.close()
            raise NodeReadError(f"authentication failed for {ep.user or 'the default user'}@{ep.host}:{ep.port} "
                                "(tried the agent and the configured keys)") from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise NodeReadError(
                    f"unknown host key for {ep.host}:{ep.port} (not in {self.settings.known_hosts}); verify it "
                    "and add it, or pass --ssh-host-key-policy accept-new to trust it on first use") from None
            raise NodeReadError(f"ssh error with {ep.host}:{ep.port}: {exc}") from None
        except TimeoutError:
            client.close()
            raise NodeReadError(f"timed out connecting to {ep.host}:{ep.port} after {timeout:g}s") from None
        except socket.gaierror:
            client.close()
            raise NodeReadError(f"cannot resolve {ep.host}") from None
        except OSError as exc:  # refused, unreachable (NoValidConnectionsError is one)
            client.close()
            raise NodeReadError(f"unreachable: {ep.host}:{ep.port}: {exc.strerror or exc}") from None
        return client

    def _jump_channel(self, ep: _Endpoint) -> paramiko.Channel:
        spec = ep.jump or ""
        user, _, hostport = spec.rpartition("@")
        host, _, port = hostport.partition(":")
        with self._lock:
            jump = self._jumps.get(spec)
        if jump is None:
            jump = self._connect(self._endpoint(host, port=int(port) if port else None, user=user or None,
                                                jump="none"), f"jump host {spec}")
            with self._lock:
                self._jumps[spec] = jump
        transport = jump.get_transport()
        if transport is None:
            raise NodeReadError(f"jump host {spec} closed the connection")
        try:
            return transport.open_channel("direct-tcpip", (ep.host, ep.port), ("127.0.0.1", 0),
                                          timeout=self.settings.connect_timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise NodeReadError(f"jump host {spec} cannot reach {ep.host}:{ep.port}: {exc}") from None

    def _run(self, client: paramiko.SSHClient, command: str, label: str) -> tuple[int, bytes, str]:
        if self.settings.sudo:
            command = f"sudo -n sh -c {shlex.quote(command)}"
        timeout = self.settings.command_timeout
        try:
            _, stdout, stderr = client.exec_command(command, timeout=timeout)
            out = stdout.read()
            err = stderr.read().decode("utf-8", "replace")
            status = stdout.channel.recv_exit_status()
        except TimeoutError:
            raise NodeReadError(f"{label}: timed out after {timeout:g}s") from None
        except paramiko.SSHException as exc:
            raise NodeReadError(f"{label}: {exc}") from None
        if status == 127:
            raise NodeReadError(f"{label}: command not found on the node ({err.strip()[:200]})")
        if "a password is required" in err:
            raise NodeReadError(f"{label}: sudo -n needs a password; allow these read-only commands "
                                "without one, or drop --ssh-sudo")
        return status, out, err

    def _step(self, client: paramiko.SSHClient, command: str, target: str, label: str,
              errors: list[CollectionError]) -> tuple[int, bytes, str] | None:
        """One command of a node's read; its failure is that item's coverage error, and what
        the node's other commands read is kept."""
        try:
            return self._run(client, command, label)
        except NodeReadError as exc:
            errors.append(CollectionError("ssh", target, str(exc)))
            return None

    def read(self, target: SshTarget, errors: list[CollectionError], probes: NodeProbes | None = None
             ) -> NodeFiles | None:
        """Everything readable from one node; problems are appended to ``errors``."""
        ep = self._endpoint(target.node, target.host, target.port, target.user, target.jump)
        try:
            client = self._connect(ep, f"node {target.node}")
        except NodeReadError as exc:
            errors.append(CollectionError("ssh", target.node, str(exc)))
            return None
        try:
            files = self._read_files(client, target, errors)
            if probes is not None:
                self._probe(client, target, probes, errors)
            return files
        except NodeReadError as exc:
            errors.append(CollectionError("ssh", target.node, str(exc)))
            return None
        finally:
            client.close()

    def _read_files(self, client: paramiko.SSHClient, target: SshTarget,
                    errors: list[CollectionError]) -> NodeFiles:
        distro: str = target.distro if target.distro != "auto" else self.settings.distro
        if distro == "auto":
            distro = self._run(client, _DETECT, "detect distribution")[1].decode().strip() or "kubeadm"
        profile = layout(distro)
        logs: dict[str, list[str]] = {}
        for name, source in (("kubelet.log", profile.kubelet), ("containerd.log", profile.containerd),
                             ("kernel.log", "kernel")):
            result = self._step(client, log_command(source, self.settings), f"{target.node}/{name}", name, errors)
            if result is None:
                continue
            status, out, err = result
            if status == 0:
                logs[name] = out.decode("utf-8", "replace").splitlines()[-self.settings.max_lines:]
            elif name == "kubelet.log" or "ermission denied" in err:
                errors.append(CollectionError("ssh", f"{target.node}/{name}",
                                              f"{source}: exit {status}: {err.strip()[:200]}"))
        dirs: dict[str, dict[str, str]] = {}
        result = self._step(client, cni_command(profile.cni_dirs), f"{target.node}/cni", "cni config", errors)
        if result is not None:
            status, out, err = result
            if status in (0, 3):
                dirs["cni"] = _untar(out) if status == 0 else {}
            else:
                errors.append(CollectionError("ssh", f"{target.node}/cni", f"exit {status}: {err.strip()[:200]}"))
        result = self._step(client, ipam_command(), f"{target.node}/ipam", "ipam state", errors)
        if result is not None:
            status, out, err = result
            if status == 0:
                dirs["ipam"] = _ipam(out.decode("utf-8", "replace"))
            elif "ermission denied" in err:
                errors.append(CollectionError("ssh", f"{target.node}/ipam", f"{IPAM_DIR}: permission denied"))
        return NodeFiles(target.node, dict(logs), dirs)


    def _probe(self, client: paramiko.SSHClient, target: SshTarget, probes: NodeProbes,
               errors: list[CollectionError]) -> None:
        files = {}
        for name, command in NODE_NET_COMMANDS.items():
            result = self._step(client, command, f"probes/nodes/{target.node}/{name}", command, errors)
            if result is None:
                continue
            status, out, err = result
            if status != 0 or len(out) > _MAX_NET_BYTES:
                why = f"exit {status}: {err.strip()[:200]}" if status else f"more than {_MAX_NET_BYTES} bytes"
                errors.append(CollectionError("ssh", f"probes/nodes/{target.node}/{name}", f"{command}: {why}"))
                continue
            text = out.decode("utf-8", "replace")
            files[name] = "".join(line + "\n" for line in text.splitlines() if _OVERLAY_RULE.search(line)) \
                if name == "iptables.txt" else text
        entries = []
        for peer, ip in probes.peers.get(target.node, {}).items():
            if not _is_ip(ip):  # cluster data: an address, nothing else, reaches the shell
                errors.append(CollectionError("ssh", f"probes/nodes/{target.node}", f"{peer}: not an IP: {ip[:60]!r}"))
                continue
            result = self._step(client, shlex.join(["ping", "-c", "3", "-W", "2", ip]),
                                f"probes/nodes/{target.node}", f"ping {ip}", errors)
            if result is not None:
                entries.append(node_ping_entry(target.node, peer, ip, result[1].decode("utf-8", "replace")
                                               + result[2]))
        with probes.lock:
            probes.files[target.node] = files
            probes.entries += entries


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def node_ping_entry(node: str, peer: str, ip: str, output: str) -> dict[str, Any]:
    """A mesh.json ``node-to-pod`` entry from what ``ping`` printed on the node."""
    ping = parse_ping(output)
    error = ping.error or ("" if ping.ok else "no reply")
    return {"kind": "node-to-pod", "via": "ssh", "from": {"node": node}, "to": {"node": peer, "ip": ip},
            "protocol": "icmp", "size": ping.size, "dont_fragment": False, "sent": ping.sent,
            "received": ping.received, "rtt_ms": ping.rtt_ms, "error": error or None,
            "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "output": output[-2000:]}


def _untar(data: bytes) -> dict[str, str]:
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                files[Path(member.name).name] = handle.read().decode("utf-8", "replace")
    return files


def _ipam(listing: str) -> dict[str, str]:
    networks: dict[str, list[str]] = {}
    for line in listing.splitlines():
        parts = line.strip().rsplit("/", 2)
        if len(parts) == 3:
            networks.setdefault(parts[1], []).append(parts[2])
    return {network: "\n".join(sorted(entries)) + "\n" for network, entries in networks.items()}


# -- the bundle -----------------------------------------------------------------------
class SshNodeBundle:
    """A Bundle that adds node files read over SSH to another Bundle (usually the live API).

    Node addresses come from the inventory, or else from the InternalIP of each Node the
    wrapped bundle streams; so node files are read after the API objects.
    """

    def __init__(self, base: Bundle, settings: SshSettings, inventory: list[SshTarget] | None = None) -> None:
        self.base, self.settings, self.inventory = base, settings, inventory
        self.meta = base.meta
        self.errors = base.errors
        self._addresses: dict[str, str] = {}
        self._pod_ips: dict[str, str] = {}  # node -> one running pod's IP (a ping target for its peers)
        self.node_probes: NodeProbes | None = None
        self.reader = SshReader(settings)

    def has_resource(self, resource: str) -> bool:
        return self.base.has_resource(resource)

    def objects(self, resource: str) -> Iterator[dict[str, Any]]:
        for obj in self.base.objects(resource):
            if resource == "nodes":
                addresses = {a.get("type"): a.get("address") for a in (obj.get("status") or {}).get("addresses") or []}
                name = str((obj.get("metadata") or {}).get("name"))
                self._addresses[name] = str(addresses.get("InternalIP") or addresses.get("Hostname") or name)
            elif resource == "pods" and self.settings.probe:
                self._note_pod(obj)
            yield obj

    def _note_pod(self, pod: dict[str, Any]) -> None:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        node, ip = str(spec.get("nodeName") or ""), str(status.get("podIP") or "")
        if node and ip and not spec.get("hostNetwork") and status.get("phase") == "Running":
            self._pod_ips.setdefault(node, ip)

    def pod_logs(self) -> Iterator[PodLog]:
        return self.base.pod_logs()

    def probes(self) -> ProbeFiles:
        """The wrapped bundle's probes, and the node-side ones (known once node_files ran)."""
        base = self.base.probes()
        if self.node_probes is None:
            return base
        return ProbeFiles([*(base.mesh or ()), *self.node_probes.entries], base.tls,
                          {**base.nodes, **self.node_probes.files})

    def targets(self) -> list[SshTarget]:
        if self.inventory is not None:
            return self.inventory
        if not self._addresses:
            self.errors.append(CollectionError("ssh", "nodes", "no node addresses: Nodes were not listed; "
                                                               "pass --ssh-inventory"))
        return [SshTarget(node, host) for node, host in self._addresses.items()]

    def node_files(self) -> Iterator[NodeFiles]:
        errors: list[CollectionError] = []
        if self.settings.probe:
            self.node_probes = NodeProbes(plan(self._pod_ips, ProbeSettings()))
        read = partial(self.reader.read, errors=errors, probes=self.node_probes)
        for files in ordered_map(read, self.targets(), self.settings.concurrency, "ssh"):
            if files is not None:
                yield files
        self.reader.close()
        self.errors.extend(sorted(errors, key=lambda e: (e.target, e.message)))
