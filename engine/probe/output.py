"""What ping, traceroute, nslookup and ip print, read back into numbers (no I/O).

Exec probes run whatever tools the chosen pod has: iputils (Debian, Ubuntu, RHEL images),
busybox (alpine, busybox, distroless debug) or a BSD-style ping (inetutils, macOS). They
differ in wording, not in substance, so each parser keys on the few lines every variant
prints (``N packets transmitted``, ``traceroute to``, ``Server:``/``Name:``) and keeps the
first error line as it was printed. Output is untrusted (a pod's binaries answer): lines and
counts are bounded and nothing is interpreted beyond the numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Lines read from one tool's output; a line keeps its first MAX_LINE characters.
MAX_LINES = 400
MAX_LINE = 300

_PING_HEAD = re.compile(r"^PING (?P<host>\S+) \((?P<ip>[^)]*)\)(?::)? (?P<size>\d+)"
                        r"(?:\((?P<total>\d+)\) bytes of data| data bytes)")
_PING_SUMMARY = re.compile(r"(?P<sent>\d+) packets transmitted, (?P<received>\d+) (?:packets )?received"
                           r"(?:, \+(?P<errors>\d+) errors)?")
_PING_RTT = re.compile(r"^(?:rtt|round-trip) min/avg/max(?P<dev>/(?:mdev|stddev))? = [\d.]+/(?P<avg>[\d.]+)/")
_PING_FROM = re.compile(r"^From \S+(?: \([^)]*\))?:? (?:icmp_seq=\d+ )?(?P<message>.+)$")
_PING_BSD_ERROR = re.compile(r"^\d+ bytes from \S+: (?P<message>(?!icmp_seq)(?!seq=).+)$")
_MTU = re.compile(r"mtu ?=? ?(\d+)", re.IGNORECASE)
_TRACE_HEAD = re.compile(r"^traceroute to (?P<host>\S+) \((?P<ip>[^)]*)\), (?P<max>\d+) hops max")
_TRACE_HOP = re.compile(r"^\s*(?P<ttl>\d+)\s+(?P<rest>.*)$")
_TRACE_ADDR = re.compile(r"(?:\S+ \((?P<named>[0-9a-fA-F.:]+)\)"
                         r"|(?P<bare>\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]+))(?=\s+(?:[\d.]+ ms|\*|!))")
_TRACE_FLAG = re.compile(r"!(?P<flag>[HNPSFX]|Z|A|C|V|P|<\d+>)")
_NS_ADDRESS = re.compile(r"^Address(?: \d+)?:\s*(?P<ip>[0-9a-fA-F.:]+?)(?:[#:]\d+)?(?:\s.*)?$")


def _lines(text: str) -> list[str]:
    return [line.rstrip()[:MAX_LINE] for line in text.splitlines()[:MAX_LINES]]


@dataclass(frozen=True)
class Ping:
    """One ping run. ``variant``: iputils, busybox, bsd or '' (nothing recognisable)."""

    variant: str
    host: str
    ip: str
    size: int
    sent: int | None
    received: int | None
    rtt_ms: float | None
    error: str
    mtu: int  # the path MTU a 'message too long' / 'frag needed' answer names (0: none)

    @property
    def ok(self) -> bool:
        return bool(self.received)


def parse_ping(text: str) -> Ping:
    variant = host = ip = error = ""
    size, mtu = 0, 0
    sent = received = None
    rtt = None
    for line in _lines(text):
        if head := _PING_HEAD.match(line):
            host, ip, size = head["host"], head["ip"], int(head["size"])
            variant = "iputils" if head["total"] else variant
        elif summary := _PING_SUMMARY.search(line):
            sent, received = int(summary["sent"]), int(summary["received"])
        elif rtt_line := _PING_RTT.match(line):
            rtt = float(rtt_line["avg"])
            variant = variant or ("bsd" if rtt_line["dev"] else "busybox")
        elif " seq=" in line and " icmp_seq=" not in line:
            variant = variant or "busybox"
        elif " icmp_seq=0 " in line:
            variant = variant or "bsd"  # iputils counts from 1, BSD from 0
        message = _message(line)
        if message and not error:
            error = message
        if message and (found := _MTU.search(line)):
            mtu = mtu or int(found[1])
    if not variant and (host or sent is not None):
        variant = "busybox/bsd"  # same header and summary; no reply or round-trip line told them apart
    if not error and sent and not received:
        error = "100% packet loss"
    return Ping(variant, host, ip, size, sent, received, rtt, error, mtu)


def _message(line: str) -> str:
    """The error a ping line reports ('' for an ordinary line)."""
    if line.startswith("ping: "):
        return line.removeprefix("ping: ")
    if (match := _PING_FROM.match(line)) and "bytes from" not in line:
        return match["message"]
    if match := _PING_BSD_ERROR.match(line):
        return match["message"]
    if line.startswith("Request timeout for icmp_seq"):
        return "request timeout"
    return ""


@dataclass(frozen=True)
class Hop:
    ttl: int
    addresses: tuple[str, ...]  # who answered at this distance (none: every probe timed out)
    flags: tuple[str, ...]  # !H host unreachable, !N network unreachable, !X prohibited, ...


@dataclass(frozen=True)
class Trace:
    host: str
    ip: str
    max_hops: int
    hops: tuple[Hop, ...]
    error: str

    @property
    def reached(self) -> bool:
        return bool(self.hops) and self.ip in self.hops[-1].addresses

    @property
    def last_answer(self) -> str:
        """The farthest hop that answered: where the path stops when the target is not reached."""
        return next((h.addresses[-1] for h in reversed(self.hops) if h.addresses), "")


def parse_traceroute(text: str) -> Trace:
    host = ip = error = ""
    max_hops = 0
    hops: list[Hop] = []
    for line in _lines(text):
        if head := _TRACE_HEAD.match(line):
            host, ip, max_hops = head["host"], head["ip"], int(head["max"])
        elif hop := _TRACE_HOP.match(line):
            hops.append(Hop(int(hop["ttl"]), _addresses(hop["rest"]), _flags(hop["rest"])))
        elif hops and line.startswith(" ") and (more := _addresses(line)):
            last = hops[-1]  # BSD prints further responders of one hop on their own lines
            hops[-1] = Hop(last.ttl, last.addresses + more, last.flags + _flags(line))
        elif line.startswith("traceroute: ") and not error:
            error = line.removeprefix("traceroute: ")
    return Trace(host, ip, max_hops, tuple(hops), error)


def _addresses(rest: str) -> tuple[str, ...]:
    found = [m["named"] or m["bare"] for m in _TRACE_ADDR.finditer(rest)]
    return tuple(dict.fromkeys(found))


def _flags(rest: str) -> tuple[str, ...]:
    return tuple(f"!{m['flag']}" for m in _TRACE_FLAG.finditer(rest))


@dataclass(frozen=True)
class Lookup:
    server: str
    name: str
    addresses: tuple[str, ...]
    error: str


def parse_nslookup(text: str) -> Lookup:
    """busybox (both its output styles) and BIND nslookup."""
    server = name = error = ""
    addresses: list[str] = []
    for line in _lines(text):
        stripped = line.strip()
        key, _, value = stripped.partition(":")
        if key in ("Server", "Name"):
            server, name = (value.strip(), name) if key == "Server" else (server, value.strip())
        elif (address := _NS_ADDRESS.match(stripped)) and name:
            addresses.append(address["ip"])
        elif stripped.startswith(("** server can't find", ";; ", "nslookup: ", "*** Can't find")) and not error:
            error = stripped.lstrip("*; ").removeprefix("nslookup: ")
    if addresses:
        error = ""  # busybox prints "*** Can't find x: No answer" for the AAAA query beside a good A answer
    return Lookup(server, name, tuple(addresses), error or ("" if addresses else "no address in the answer"))


def parse_mtu(text: str) -> int:
    """The MTU in ``ip link show DEV`` (iproute2 and busybox print ``mtu N``)."""
    found = re.search(r"\bmtu (\d+)", text[:4096])
    return int(found[1]) if found else 0
