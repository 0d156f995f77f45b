"""A node's own view of its network (``probes/nodes/<node>/``) -> one ``node_network`` fact.

``ip -j -d link`` names the tunnel devices (vxlan, geneve, ipip, wireguard) with their MTU and
the device they ride on; ``ip -j route`` says which other nodes' pod ranges (their podCIDR in the
API) the node has a route for; ``iptables -S``, already cut to the rules naming an overlay
transport, shows a DROP or REJECT of it. Files are untrusted: a malformed one is a located
coverage error and the node's other files are still read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from kubetriage.bundle import CollectionError
from kubetriage.catalog import CATALOG
from kubetriage.normalize.common import clip
from kubetriage.normalize.scope import Scope

#: Bytes a tunnel adds to each packet (IPv4 underlay): VXLAN 50, Geneve 50 (without options),
#: IP-in-IP 20, WireGuard 60 — https://docs.tigera.io/calico/latest/networking/configuring/mtu
#: and https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md (VXLAN).
OVERHEAD = {"vxlan": 50, "geneve": 50, "ipip": 20, "wireguard": 60}
#: CNIs that give every node a route per other node's pod range (so a missing one is a fault).
ROUTED = frozenset({"flannel", "canal", "calico", "kube-router"})
_BLOCK = re.compile(r"-j (?:DROP|REJECT)\b")


def node_network_facts(nodes: Mapping[str, Mapping[str, str]], scope: Scope,
                       errors: list[CollectionError]) -> Iterator[dict[str, Any]]:
    for node, files in sorted(nodes.items()):
        links = _json(node, files, "link.json", errors)
        routes = _json(node, files, "route.json", errors)
        tunnels = [link for link in links if _kind(link) in OVERHEAD]
        by_name = {str(link.get("ifname")): link for link in links}
        default_dev = next((str(r.get("dev")) for r in routes if r.get("dst") == "default"), "")
        missing = _missing_routes(node, routes, scope) if "route.json" in files else []
        drops = [clip(line, 200) for line in files.get("iptables.txt", "").splitlines() if _BLOCK.search(line)]
        yield CATALOG["node_network"].make(
            node=node, tunnels=[f"{t.get('ifname')} ({_kind(t)}, mtu {_mtu(t)})" for t in tunnels],
            **_tightest(tunnels, by_name, default_dev),
            missing_routes=[f"{cidr} ({peer})" for peer, cidr in missing],
            missing_route_nodes=[peer for peer, _ in missing], missing_route_count=len(missing),
            overlay_drops=drops[:20], drops_overlay=bool(drops),
            routes_read="route.json" in files, firewall_read="iptables.txt" in files)


def _tightest(tunnels: list[dict[str, Any]], by_name: dict[str, dict[str, Any]], default_dev: str) -> dict[str, Any]:
    """The tunnel whose full-size packets come closest to (or over) its underlay's MTU."""
    if not tunnels:
        return {"tunnel": "", "tunnel_kind": "", "tunnel_mtu": 0, "underlay": default_dev, "underlay_mtu": 0,
                "overhead": 0, "tunnel_mtu_too_large": False}

    def excess(tunnel: dict[str, Any]) -> int:
        return _mtu(tunnel) + OVERHEAD[_kind(tunnel)] - _underlay_mtu(tunnel, by_name, default_dev)

    worst = max(tunnels, key=excess)
    under = _underlay_mtu(worst, by_name, default_dev)
    return {"tunnel": str(worst.get("ifname")), "tunnel_kind": _kind(worst), "tunnel_mtu": _mtu(worst),
            "underlay": _underlay(worst, by_name, default_dev), "underlay_mtu": under,
            "overhead": OVERHEAD[_kind(worst)], "tunnel_mtu_too_large": under > 0 and excess(worst) > 0}


def _json(node: str, files: Mapping[str, str], name: str, errors: list[CollectionError]) -> list[dict[str, Any]]:
    if name not in files:
        return []
    try:
        doc = json.loads(files[name])
    except ValueError as exc:
        errors.append(CollectionError("probes", f"probes/nodes/{node}/{name}", f"not JSON: {clip(str(exc), 120)}"))
        return []
    if not isinstance(doc, list):
        errors.append(CollectionError("probes", f"probes/nodes/{node}/{name}", "expected a JSON array (ip -j)"))
        return []
    return [item for item in doc if isinstance(item, dict)]


def _kind(link: dict[str, Any] | None) -> str:
    info = (link or {}).get("linkinfo")
    return str(info.get("info_kind") or "") if isinstance(info, dict) else ""


def _mtu(link: dict[str, Any] | None) -> int:
    value = (link or {}).get("mtu")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _underlay(tunnel: dict[str, Any], by_name: dict[str, dict[str, Any]], default_dev: str) -> str:
    """The device a tunnel rides on: the one it names (vxlan ``dev``), else the default route's."""
    info = (tunnel.get("linkinfo") or {}).get("info_data")
    named = str(info.get("link") or "") if isinstance(info, dict) else ""
    return named if named in by_name else default_dev


def _underlay_mtu(tunnel: dict[str, Any], by_name: dict[str, dict[str, Any]], default_dev: str) -> int:
    return _mtu(by_name.get(_underlay(tunnel, by_name, default_dev)))


def _missing_routes(node: str, routes: list[dict[str, Any]], scope: Scope) -> list[tuple[str, str]]:
    """Other nodes' podCIDRs no specific route covers (the default route does not count)."""
    nets = []
    for route in routes:
        try:
            nets.append(ipaddress.ip_network(str(route.get("dst")), strict=False))
        except ValueError:
            continue  # "default", multicast and other words
    others = [(n.name, n.network) for n in scope.nodes.values() if n.name != node and n.network is not None]
    missing = [(name, str(cidr)) for name, cidr in others
               if cidr is not None and not any(cidr.version == net.version and cidr.subnet_of(net)  # type: ignore[arg-type]
                                               for net in nets)]
    routed = len(missing) < len(others) or scope.cni in ROUTED
    return sorted(missing) if routed else []
