"""Parsers of ping, traceroute, nslookup and ip output, on output people pasted in public threads
(each case names its thread) — iputils, busybox and BSD-style tools. The same parsers read the
tools run for real in network namespaces in tests/test_probe_exec.py."""

from __future__ import annotations

import pytest

from kubetriage.probe.output import parse_mtu, parse_nslookup, parse_ping, parse_traceroute

# https://github.com/projectcalico/calico/issues/2004 (iputils, CentOS host)
IPUTILS_OK = """PING 192.168.96.14 (192.168.96.14) 56(84) bytes of data.
64 bytes from 192.168.96.14: icmp_seq=1 ttl=63 time=0.363 ms
64 bytes from 192.168.96.14: icmp_seq=2 ttl=63 time=0.351 ms
64 bytes from 192.168.96.14: icmp_seq=3 ttl=63 time=0.365 ms
^C
--- 192.168.96.14 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss"""
# https://github.com/projectcalico/canal/issues/126 (iputils; interrupted before the summary)
IPUTILS_UNREACHABLE = """PING 10.244.3.4 (10.244.3.4) 56(84) bytes of data.
From 10.31.3.107 icmp_seq=1 Destination Host Unreachable
From 10.31.3.107 icmp_seq=2 Destination Host Unreachable
From 10.31.3.107 icmp_seq=3 Destination Host Unreachable"""
# https://github.com/rapid7/insightconnect-plugins/pull/94 (iputils, as a Go logger mangled it)
IPUTILS_LOSS = """PING 8.8.8.8 (8.8.8.8) 56(84) bytes of data.

--- 8.8.8.8 ping statistics ---
4 packets transmitted, 0 received, 100%!p(MISSING)acket loss, time 3107ms"""
# https://github.com/flannel-io/flannel/issues/1387 (busybox in a pod: the node answers, the pod does not)
BUSYBOX_OK = """PING 10.33.188.142 (10.33.188.142): 56 data bytes
64 bytes from 10.33.188.142: seq=0 ttl=63 time=0.500 ms
64 bytes from 10.33.188.142: seq=1 ttl=63 time=0.481 ms
64 bytes from 10.33.188.142: seq=2 ttl=63 time=0.401 ms
64 bytes from 10.33.188.142: seq=3 ttl=63 time=0.433 ms
64 bytes from 10.33.188.142: seq=4 ttl=63 time=1.336 ms
64 bytes from 10.33.188.142: seq=5 ttl=63 time=0.752 ms

--- 10.33.188.142 ping statistics ---
6 packets transmitted, 6 packets received, 0% packet loss
round-trip min/avg/max = 0.401/0.650/1.336 ms"""
BUSYBOX_LOSS = """PING 10.244.1.5 (10.244.1.5): 56 data bytes

--- 10.244.1.5 ping statistics ---
49 packets transmitted, 0 packets received, 100% pa"""
# https://github.com/kubernetes/kubernetes/issues/7996 (BSD-style ping in a pod: counts from icmp_seq=0)
BSD_LOSS = """PING 172.16.37.7 (172.16.37.7): 56 data bytes
^C--- 172.16.37.7 ping statistics ---
12 packets transmitted, 0 packets received, 100% packet loss"""
BSD_OK = """PING 172.16.81.4 (172.16.81.4): 56 data bytes
64 bytes from 172.16.81.4: icmp_seq=0 ttl=64 time=0.111 ms
^C--- 172.16.81.4 ping statistics ---
1 packets transmitted, 1 packets received, 0% packet loss"""
# https://github.com/coreos/docs/issues/802 (BSD-style, with stddev)
BSD_STDDEV = """PING yahoo.com (98.138.253.109): 56 data bytes
64 bytes from 98.138.253.109: icmp_seq=0 ttl=127 time=50.670 ms
64 bytes from 98.138.253.109: icmp_seq=1 ttl=127 time=43.191 ms
^C--- yahoo.com ping statistics ---
2 packets transmitted, 2 packets received, 0% packet loss
round-trip min/avg/max/stddev = 43.191/46.931/50.670/3.740 ms"""


@pytest.mark.parametrize(("text", "variant", "sent", "received", "rtt", "error"), [
    (IPUTILS_OK, "iputils", 3, 3, None, ""),
    (IPUTILS_UNREACHABLE, "iputils", None, None, None, "Destination Host Unreachable"),
    (IPUTILS_LOSS, "iputils", 4, 0, None, "100% packet loss"),
    (BUSYBOX_OK, "busybox", 6, 6, 0.650, ""),
    (BUSYBOX_LOSS, "busybox/bsd", 49, 0, None, "100% packet loss"),
    (BSD_LOSS, "busybox/bsd", 12, 0, None, "100% packet loss"),
    (BSD_OK, "bsd", 1, 1, None, ""),
    (BSD_STDDEV, "bsd", 2, 2, 46.931, ""),
], ids=["iputils-ok", "iputils-unreachable", "iputils-loss", "busybox-ok", "busybox-loss", "bsd-loss", "bsd-ok",
        "bsd-stddev"])
def test_ping_variants(text: str, variant: str, sent: int | None, received: int | None, rtt: float | None,
                       error: str) -> None:
    ping = parse_ping(text)
    assert (ping.variant, ping.sent, ping.received, ping.rtt_ms, ping.error) == (variant, sent, received, rtt, error)
    assert ping.ok == bool(received) and ping.size == 56


def test_ping_names_the_path_mtu() -> None:
    # iputils 20221126 (Debian 12), `ping -c 1 -M do -s 1472` over a 1450-byte link: stdout, then stderr
    local = parse_ping("PING 10.99.0.2 (10.99.0.2) 1472(1500) bytes of data.\n\n--- 10.99.0.2 ping statistics ---\n"
                       "1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms\n\n"
                       "ping: local error: message too long, mtu=1450\n")
    assert (local.size, local.mtu, local.error, local.ok) == (1472, 1450, "local error: message too long, mtu=1450",
                                                              False)
    # a router's answer, as iputils prints it: https://github.com/iputils/iputils/blob/master/ping/ping.c
    router = parse_ping("PING 10.244.2.5 (10.244.2.5) 1472(1500) bytes of data.\n"
                        "From 10.244.1.0 icmp_seq=1 Frag needed and DF set (mtu = 1450)\n")
    assert (router.mtu, router.error) == (1450, "Frag needed and DF set (mtu = 1450)")


def test_ping_of_nothing_recognisable() -> None:
    ping = parse_ping("sh: ping: not found\n")
    assert (ping.variant, ping.sent, ping.ok, ping.error) == ("", None, False, "")
    assert parse_ping("ping: bad address 'web.shop'\n").error == "bad address 'web.shop'"


# https://github.com/hetznercloud/hcloud-cloud-controller-manager/issues/716 (busybox traceroute in a pod)
TRACE_BUSYBOX = """traceroute to 10.2.44.2 (10.2.44.2), 30 hops max, 46 byte packets
 1  static.179.167.109.65.clients.your-server.de (65.109.167.179)  0.028 ms  0.012 ms  0.010 ms
 2  10.2.44.0 (10.2.44.0)  0.586 ms  0.824 ms  0.770 ms
 3  10.2.44.2 (10.2.44.2)  0.025 ms  0.491 ms  0.467 ms"""
# https://github.com/projectcalico/calico/issues/1934 (Linux traceroute from a node to a Service IP)
TRACE_LINUX = """traceroute to 10.254.52.61 (10.254.52.61), 30 hops max, 60 byte packets
 1  192.168.75.1 (192.168.75.1)  0.526 ms  0.493 ms  0.486 ms
 2  169.254.93.9 (169.254.93.9)  0.464 ms  0.459 ms  0.452 ms
 3  10.171.41.252 (10.171.41.252)  1.443 ms  1.510 ms  1.530 ms
 4  10.170.221.252 (10.170.221.252)  2.171 ms  2.163 ms  2.157 ms
 5  10.170.223.252 (10.170.223.252)  0.518 ms  0.513 ms  0.507 ms
 6  10.4.9.85 (10.4.9.85)  0.750 ms  0.519 ms  0.505 ms
 7  10.4.48.41 (10.4.48.41)  6.853 ms 10.4.182.5 (10.4.182.5)  6.858 ms 10.4.107.53 (10.4.107.53)  1.302 ms
 8  * * *
 9  * * *
10  * * *
11  * * *"""
# https://github.com/lance0/ttl/issues/12 (macOS traceroute -nI)
TRACE_BSD = """traceroute to 172.28.137.109 (172.28.137.109), 64 hops max, 48 byte packets
 1  10.81.100.2  9.587 ms  3.046 ms  3.567 ms
 2  10.96.1.79  5.495 ms  3.590 ms  3.943 ms
 3  10.96.1.23  78.124 ms  80.506 ms  78.634 ms
 4  10.96.1.22  74.673 ms  73.388 ms  74.789 ms
 5  10.90.1.205  75.950 ms  76.684 ms  77.790 ms
 6  172.22.199.45  78.557 ms  79.437 ms  78.199 ms
 7  172.22.26.19  76.473 ms  73.653 ms  75.018 ms"""
# https://github.com/stefansundin/traceroute-mapper/issues/1 (macOS: more responders of a hop on own lines)
TRACE_BSD_MANY = """ 9  0.ae4.pr0.dfw10.tbone.rr.com (66.109.9.105)  74.019 ms
    0.ae1.pr0.dfw10.tbone.rr.com (66.109.6.179)  59.598 ms  51.696 ms
10  24.27.236.27 (24.27.236.27)  55.293 ms  146.672 ms  169.692 ms
11  * * *
12  * * *
13  * 54.240.229.20 (54.240.229.20)  92.032 ms
    54.240.229.0 (54.240.229.0)  84.410 ms
14  * 54.240.229.172 (54.240.229.172)  207.366 ms"""


def test_traceroute_busybox_reaches_its_target() -> None:
    trace = parse_traceroute(TRACE_BUSYBOX)
    assert (trace.ip, trace.max_hops, len(trace.hops), trace.reached) == ("10.2.44.2", 30, 3, True)
    assert trace.hops[0].addresses == ("65.109.167.179",)


def test_traceroute_linux_stops_where_the_answers_stop() -> None:
    trace = parse_traceroute(TRACE_LINUX)
    assert not trace.reached and trace.last_answer == "10.4.107.53"
    assert trace.hops[6].addresses == ("10.4.48.41", "10.4.182.5", "10.4.107.53")
    assert [h.addresses for h in trace.hops[7:]] == [()] * 4


def test_traceroute_bsd() -> None:
    trace = parse_traceroute(TRACE_BSD)
    assert (trace.max_hops, len(trace.hops), trace.last_answer, trace.reached) == (64, 7, "172.22.26.19", False)
    many = parse_traceroute(TRACE_BSD_MANY)
    assert [h.ttl for h in many.hops] == [9, 10, 11, 12, 13, 14]
    assert many.hops[0].addresses == ("66.109.9.105", "66.109.6.179")
    assert many.hops[4].addresses == ("54.240.229.20", "54.240.229.0")


def test_traceroute_flags() -> None:
    trace = parse_traceroute("traceroute to 10.244.2.5 (10.244.2.5), 30 hops max, 60 byte packets\n"
                             " 1  10.244.1.1  0.050 ms !H  0.010 ms !H  0.009 ms !H\n")
    assert trace.hops[0].flags == ("!H", "!H", "!H")


# https://github.com/docker-library/busybox/issues/75 (busybox 1.28 and 1.31 nslookup in pods)
NS_BUSYBOX_OLD = """Server:    10.96.0.10
Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local

Name:      kubernetes.default
Address 1: 10.96.0.1 kubernetes.default.svc.cluster.local"""
NS_BUSYBOX_NXDOMAIN = """Server:         10.96.0.10
Address:        10.96.0.10:53

** server can't find kubernetes.default: NXDOMAIN

*** Can't find kubernetes.default: No answer
"""
# https://github.com/kelseyhightower/kubernetes-the-hard-way/issues/383
NS_TIMEOUT = ";; connection timed out; no servers could be reached\n"
# https://github.com/kubernetes/kubernetes/issues/18934 (old busybox)
NS_CANT_RESOLVE = """Server:    11.1.2.10
Address 1: 11.1.2.10

nslookup: can't resolve 'kubernetes'"""
# https://github.com/kubernetes/kubernetes/issues/42645 (busybox; two answers)
NS_TWO = """Server:    10.18.0.23
Address 1: 10.18.0.23 camonet.ca

Name:      google.com
Address 1: 2404:6800:4007:802::200e maa03s23-in-x0e.1e100.net
Address 2: 172.217.26.206 maa03s23-in-f206.1e100.net"""


@pytest.mark.parametrize(("text", "server", "addresses", "error"), [
    (NS_BUSYBOX_OLD, "10.96.0.10", ("10.96.0.1",), ""),
    (NS_BUSYBOX_NXDOMAIN, "10.96.0.10", (), "server can't find kubernetes.default: NXDOMAIN"),
    (NS_TIMEOUT, "", (), "connection timed out; no servers could be reached"),
    (NS_CANT_RESOLVE, "11.1.2.10", (), "can't resolve 'kubernetes'"),
    (NS_TWO, "10.18.0.23", ("2404:6800:4007:802::200e", "172.217.26.206"), ""),
], ids=["busybox-old", "busybox-nxdomain", "timeout", "cant-resolve", "two-answers"])
def test_nslookup(text: str, server: str, addresses: tuple[str, ...], error: str) -> None:
    lookup = parse_nslookup(text)
    assert (lookup.server, lookup.addresses, lookup.error) == (server, addresses, error)


def test_a_good_answer_beside_busybox_no_aaaa_answer_is_good() -> None:
    lookup = parse_nslookup("Server:\t\t10.43.0.10\nAddress:\t10.43.0.10:53\n\n"
                            "Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.43.0.1\n\n"
                            "*** Can't find kubernetes.default.svc.cluster.local: No answer\n")
    assert (lookup.addresses, lookup.error) == (("10.43.0.1",), "")


def test_mtu_from_ip_link() -> None:
    # https://github.com/hetznercloud/hcloud-cloud-controller-manager/issues/716 (busybox ip a in a pod)
    assert parse_mtu("2: eth0@if31: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1400 qdisc noqueue qlen 1000\n"
                     "    link/ether 1e:26:bb:80:c7:c9 brd ff:ff:ff:ff:ff:ff\n") == 1400
    assert parse_mtu("ip: can't find device 'eth0'\n") == 0


def test_output_is_bounded() -> None:
    flood = "From 10.0.0.1 icmp_seq=1 " + "x" * 100_000 + "\n" + "64 bytes from x: seq=1\n" * 100_000
    ping = parse_ping(flood)
    assert len(ping.error) < 400 and ping.sent is None
