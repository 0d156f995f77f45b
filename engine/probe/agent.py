"""The probe agent: runs in a pod (stdlib only), tests the data plane, prints JSON lines.

One line per probe, each a ``probes/mesh.json`` entry (docs/snapshot-format.md): ICMP echo to every peer
pod (small, then as large as the pod MTU allows with don't-fragment set), TCP to a Service
ClusterIP and to one of its endpoints, DNS lookups through the cluster DNS server. The pod's
own address and MTU ride along in ``from``. ICMP uses a raw socket (the pod gets NET_RAW),
so the don't-fragment bit is set by the kernel, not by whichever ``ping`` the image has.

    python -m kubetriage.probe.agent --node worker-1 --peer worker-2=10.42.2.7 \\
        --service default/kubernetes=10.43.0.1:443 --endpoint 10.0.0.10:6443 \\
        --dns-server 10.43.0.10 --dns-name kubernetes.default.svc.cluster.local
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Linux socket options (not exported by the socket module on every Python).
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
ICMP_ECHO, ICMP_ECHO_REPLY, ICMP_UNREACH = 8, 0, 3
IP_ICMP_HEADER = 28  # IPv4 header + ICMP header: payload = MTU - 28
SMALL = 56
Entry = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    """Where the agent runs: reported in every entry's ``from``."""

    node: str
    name: str
    ip: str
    mtu: int

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "pod": self.name, "ip": self.ip, "mtu": self.mtu}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the pod's own interface (the guide's ifconfig) -------------------------------------------
def default_interface(route_table: str = "/proc/net/route") -> str:
    """The interface of the IPv4 default route, or '' when there is none."""
    with open(route_table, encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                return fields[0]
    return ""


def interface_mtu(name: str) -> int:
    try:
        return int(Path(f"/sys/class/net/{name}/mtu").read_text())
    except (OSError, ValueError):
        return 0


def own_ip(towards: str = "10.255.255.255") -> str:
    """The source address the kernel picks for cluster traffic (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((towards, 9))
            return str(s.getsockname()[0])
        except OSError:
            return ""


# -- ICMP -------------------------------------------------------------------------------------
def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int(word) for word in struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(ident: int, seq: int, size: int) -> bytes:
    payload = bytes(i & 0xFF for i in range(size))
    header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, _checksum(header + payload), ident, seq) + payload


def ping(ip: str, size: int, dont_fragment: bool, count: int, timeout: float) -> tuple[int, float | None, str]:
    """(replies, average rtt ms, error) of ``count`` echo requests; the error names what came
    back instead of a reply (e.g. 'Frag needed and DF set (mtu = 1450)') or the loss."""
    ident = random.randrange(1, 0xFFFF)
    rtts: list[float] = []
    error = ""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        if dont_fragment:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        for seq in range(1, count + 1):
            started = time.monotonic()
            try:
                sock.sendto(_echo(ident, seq, size), (ip, 0))
            except OSError as exc:
                error = f"sendto: {exc.strerror or exc}"
                continue
            reply, why = _await_reply(sock, ip, ident, seq, started + timeout)
            if reply:
                rtts.append((time.monotonic() - started) * 1000)
            elif why:
                error = why
    if len(rtts) < count and not error:
        error = f"{100 - len(rtts) * 100 // count}% packet loss"
    return len(rtts), (round(sum(rtts) / len(rtts), 3) if rtts else None), ("" if rtts else error)


def _await_reply(sock: socket.socket, ip: str, ident: int, seq: int, deadline: float) -> tuple[bool, str]:
    late = 0  # past the deadline, still read what is queued: we may have been descheduled
    while late < 64:
        left = deadline - time.monotonic()
        late += left <= 0
        if not select.select([sock], [], [], max(left, 0))[0]:
            break
        packet, (source, _) = sock.recvfrom(65535)
        header = (packet[0] & 0x0F) * 4
        kind, code = packet[header], packet[header + 1]
        if kind == ICMP_ECHO_REPLY and source == ip:
            if struct.unpack("!HH", packet[header + 4:header + 8]) == (ident, seq):
                return True, ""
        elif kind == ICMP_UNREACH:
            inner = packet[header + 8:]  # the IP header of the request that failed
            inner_ip = inner[(inner[0] & 0x0F) * 4:] if inner else b""
            if len(inner) >= 20 and socket.inet_ntoa(inner[16:20]) == ip and \
                    inner_ip[4:8] == struct.pack("!HH", ident, seq):
                if code == 4:
                    mtu = struct.unpack("!H", packet[header + 6:header + 8])[0]
                    return False, f"From {source}: Frag needed and DF set (mtu = {mtu})"
                return False, f"From {source}: Destination {_UNREACH.get(code, 'Unreachable')}"
    return False, ""


_UNREACH = {0: "Net Unreachable", 1: "Host Unreachable", 3: "Port Unreachable", 13: "Prohibited Filter"}


# -- TCP and DNS --------------------------------------------------------------------------------
def connect(ip: str, port: int, timeout: float) -> str:
    """'' when a TCP connection opens, else why not."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return ""
    except TimeoutError:
        return f"dial tcp {ip}:{port}: i/o timeout"
    except OSError as exc:
        return f"dial tcp {ip}:{port}: {exc.strerror or exc}"


_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def resolve(name: str, server: str, timeout: float) -> tuple[int, str]:
    """(answers, error) of an A query for ``name`` sent straight to ``server`` over UDP."""
    ident = random.randrange(0xFFFF)
    question = b"".join(bytes([len(label)]) + label.encode("idna") for label in name.rstrip(".").split("."))
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + b"\0" + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(query, (server, 53))
            while True:
                reply = sock.recv(4096)
                if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == ident:
                    break
        except TimeoutError:
            return 0, f"lookup {name} on {server}:53: i/o timeout"
        except OSError as exc:
            return 0, f"lookup {name} on {server}:53: {exc.strerror or exc}"
    flags, _, answers = struct.unpack("!HHH", reply[2:8])
    rcode = flags & 0x0F
    if rcode:
        return 0, f"lookup {name} on {server}:53: {_RCODES.get(rcode, f'rcode {rcode}')}"
    return answers, "" if answers else f"lookup {name} on {server}:53: no answer"


# -- one run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What to probe; see ``main`` for the options."""

    peers: Sequence[tuple[str, str]]  # (node, pod IP)
    services: Sequence[tuple[str, str, int]]  # (namespace/name, ClusterIP, port)
    endpoints: Sequence[tuple[str, str, int]]  # (namespace/name, endpoint IP, port)
    dns_server: str
    dns_names: Sequence[str]
    count: int = 3
    timeout: float = 2.0


def run(pod: Pod, plan: Plan) -> Iterator[Entry]:
    """Every probe of the plan, one entry each, in order."""
    origin = pod.as_dict()
    large = max((pod.mtu or 1500) - IP_ICMP_HEADER, SMALL)
    for node, ip in plan.peers:
        for size, df in ((SMALL, False), (large, True)):
            replies, rtt, error = ping(ip, size, df, plan.count, plan.timeout)
            yield {"kind": "pod-to-pod", "from": origin, "to": {"node": node, "ip": ip}, "protocol": "icmp",
                   "size": size, "dont_fragment": df, "sent": plan.count, "received": replies, "rtt_ms": rtt,
                   "error": error or None, "at": now()}
    for endpoint, targets in ((False, plan.services), (True, plan.endpoints)):
        for service, ip, port in targets:
            error = connect(ip, port, plan.timeout)
            yield {"kind": "pod-to-service", "from": origin, "protocol": "tcp", "error": error or None,
                   "to": {"service": service, "ip": ip, "port": port, "endpoint": endpoint}, "at": now()}
    for name in plan.dns_names if plan.dns_server else ():
        answers, error = resolve(name, plan.dns_server, plan.timeout)
        yield {"kind": "pod-to-dns", "from": origin, "protocol": "dns", "answers": answers,
               "error": error or None, "to": {"name": name, "server": plan.dns_server}, "at": now()}


def _target(text: str) -> tuple[str, str, int]:
    name, _, address = text.rpartition("=")
    ip, _, port = address.rpartition(":")
    return name, ip, int(port)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubetriage-probe-agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--node", default=os.environ.get("NODE_NAME", ""), help="Node this pod runs on.")
    parser.add_argument("--pod", default=os.environ.get("POD_NAME", ""), help="namespace/name of this pod.")
    parser.add_argument("--peer", action="append", default=[], metavar="NODE=IP", help="A peer probe pod.")
    parser.add_argument("--peers-file", type=Path, metavar="PATH",
                        help="JSON {node: {peer: ip}}, waited for (a ConfigMap the collector fills).")
    parser.add_argument("--service", action="append", default=[], metavar="NS/NAME=IP:PORT")
    parser.add_argument("--endpoint", action="append", default=[], metavar="NS/NAME=IP:PORT")
    parser.add_argument("--dns-server", default="")
    parser.add_argument("--dns-name", action="append", default=[])
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="Seconds per probe.")
    parser.add_argument("--wait", type=float, default=300.0, help="Seconds to wait for --peers-file.")
    parser.add_argument("--linger", action="store_true", help="Stay alive after probing (in a DaemonSet).")
    return parser.parse_args(argv)


def _peers(args: argparse.Namespace, me: str) -> list[tuple[str, str]]:
    peers = [tuple(p.split("=", 1)) for p in args.peer]
    if args.peers_file:
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            try:
                listed = json.loads(args.peers_file.read_text() or "{}")
            except (OSError, ValueError):
                listed = {}
            if isinstance(listed, dict) and listed:  # {node: {peer node: peer pod IP}}
                mine = listed.get(me)
                peers += [(str(n), str(ip)) for n, ip in mine.items()] if isinstance(mine, dict) else []
                break
            time.sleep(1)
    return [(n, ip) for n, ip in peers if n != me]


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    iface = default_interface()
    pod = Pod(args.node, args.pod, own_ip(), interface_mtu(iface) if iface else 0)
    plan = Plan(peers=_peers(args, args.node), services=[_target(s) for s in args.service],
                endpoints=[_target(s) for s in args.endpoint], dns_server=args.dns_server,
                dns_names=args.dns_name, count=args.count, timeout=args.timeout)
    for entry in run(pod, plan):
        print(json.dumps(entry), flush=True)
    print(json.dumps({"kind": "done", "from": pod.as_dict(), "at": now()}), flush=True)
    while args.linger:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1:])
