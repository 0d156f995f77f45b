"""The fact catalog: every kind of fact rules can match, declared once.

Rules are validated against this catalog (unknown kinds and fields are load
errors), the normalizers build facts through it, and ``kubetriage facts``
documents it. ``sources`` names the bundle sources a kind is derived from: when
none of them was collected, rules that need the kind are reported as not
evaluated instead of silently passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: durable_rules stores at most ~250 properties per fact; stay far below.
MAX_FIELDS_PER_FACT = 64


@dataclass(frozen=True)
class Field:
    """A typed fact field. ``list`` fields are for templates only, never matched."""

    type: type
    description: str

    @property
    def matchable(self) -> bool:
        """Lists cannot be compared by the engine; they feed templates."""
        return self.type is not list


@dataclass(frozen=True)
class FactKind:
    """One kind of fact: its fields and the bundle sources it comes from."""

    name: str
    description: str
    sources: tuple[str, ...]  # all required; "a|b" means either
    fields: Mapping[str, Field]

    def filled(self, **values: Any) -> dict[str, Any]:
        """A fact from some fields; the others take their type's zero value (for tests and defaults)."""
        zero: dict[type, Any] = {str: "", int: 0, bool: False, list: []}
        unknown = set(values) - set(self.fields)
        if unknown:
            raise TypeError(f"{self.name} has no field(s) {sorted(unknown)}")
        return self.make(**{name: values.get(name, zero[spec.type]) for name, spec in self.fields.items()})

    def make(self, **values: Any) -> dict[str, Any]:
        """Build a fact, checking names and types so a normalizer bug fails loudly."""
        fact: dict[str, Any] = {"kind": self.name}
        for key, value in values.items():
            spec = self.fields.get(key)
            if spec is None:
                raise TypeError(f"fact kind {self.name!r} has no field {key!r}")
            if type(value) is not spec.type and not (spec.type is int and type(value) is float):
                raise TypeError(
                    f"{self.name}.{key} must be {spec.type.__name__}, got {type(value).__name__}"
                )
            fact[key] = value
        missing = self.fields.keys() - values.keys()
        if missing:
            raise TypeError(f"fact kind {self.name!r} is missing {sorted(missing)}")
        return fact


def _kind(kind: str, description: str, sources: tuple[str, ...], /, **fields: Field) -> FactKind:
    assert len(fields) <= MAX_FIELDS_PER_FACT, kind
    return FactKind(kind, description, sources, fields)


S, N, B, L = str, int, bool, list

#: The overlay the detected CNI tunnels pod traffic through, on probe facts (for runbooks).
OVERLAY_FIELDS = {
    "cni": Field(S, "The cluster's CNI, or ''."),
    "overlay": Field(S, "Its overlay transport and port, in words."),
    "overlay_iface": Field(S, "Tunnel device on each node (flannel.1, tunl0...), or ''."),
    "overlay_filter": Field(S, "tcpdump filter for the overlay traffic."),
    "overlay_ports": Field(L, "proto/port the nodes must accept from each other (udp/8472, 4 for IP-in-IP)."),
}

CATALOG: dict[str, FactKind] = {
    kind.name: kind
    for kind in (
        _kind(
            "cluster",
            "One summary fact per triage: what runs cluster-wide.",
            ("api/nodes", "api/daemonsets", "api/deployments"),
            name=Field(S, "Cluster name from snapshot.yaml, or '' when unknown."),
            nodes=Field(N, "Number of nodes."),
            distro=Field(S, "Kubernetes distribution: rke2, k3s, kubeadm or unknown."),
            cloud_provider=Field(S, "Provider from node spec.providerID (aws, gce...), or ''."),
            lb_controllers=Field(N, "Workloads that implement LoadBalancer Services."),
            cni=Field(S, "The CNI the cni-role DaemonSet runs (calico, canal, flannel, cilium...), or ''."),
            pod_cidr_ipam=Field(B, "The CNI hands out pod IPs from each node's podCIDR (host-local IPAM)."),
            nodes_with_pod_cidr=Field(N, "Nodes that have a spec.podCIDR."),
            ingress_controllers=Field(N, "Workloads with the ingress-controller role."),
        ),
        _kind(
            "node",
            "A node: readiness, network condition and pod-IP use of its podCIDR.",
            ("api/nodes", "api/pods"),
            name=Field(S, "Node name."),
            ready=Field(B, "Ready condition is True."),
            ready_reason=Field(S, "Reason of the Ready condition."),
            ready_message=Field(S, "Message of the Ready condition (truncated)."),
            network_unavailable=Field(B, "NetworkUnavailable condition is True."),
            network_reason=Field(S, "Reason of the NetworkUnavailable condition, or ''."),
            pod_cidr=Field(S, "spec.podCIDR, or '' when none is assigned."),
            pod_ip_capacity=Field(N, "Usable pod IPs in the podCIDR (0 when none)."),
            pods_with_ip=Field(N, "Non-hostNetwork pods on the node that hold an IP or wait for one."),
            ip_use_percent=Field(N, "pods_with_ip as a percentage of pod_ip_capacity."),
            internal_ip=Field(S, "InternalIP address."),
            unschedulable=Field(B, "spec.unschedulable (cordoned)."),
        ),
        _kind(
            "pod",
            "A pod that is not healthy (only those: healthy pods are counted, not listed).",
            ("api/pods",),
            namespace=Field(S, "Namespace."),
            name=Field(S, "Pod name."),
            node=Field(S, "spec.nodeName, or '' when unscheduled."),
            phase=Field(S, "status.phase."),
            ready=Field(B, "Ready condition is True."),
            waiting_reason=Field(S, "Reason of the first waiting container (e.g. ContainerCreating)."),
            waiting_message=Field(S, "Message of that waiting container, or ''."),
            owner_kind=Field(S, "Kind of the controlling owner (DaemonSet, ReplicaSet...), or ''."),
            owner_name=Field(S, "Name of the controlling owner, or ''."),
            role=Field(S, "Networking role: cni, dns, ingress-controller, kube-proxy, lb-controller or ''."),
            ip=Field(S, "status.podIP, or ''."),
            host_network=Field(B, "spec.hostNetwork."),
            restarts=Field(N, "Sum of container restart counts."),
        ),
        _kind(
            "workload",
            "A DaemonSet or Deployment that has a networking role or is not fully ready.",
            ("api/daemonsets", "api/deployments"),
            type=Field(S, "DaemonSet or Deployment."),
            namespace=Field(S, "Namespace."),
            name=Field(S, "Name."),
            role=Field(S, "Networking role (see pod.role), or ''."),
            desired=Field(N, "Desired pods (desiredNumberScheduled or spec.replicas)."),
            ready=Field(N, "Ready pods."),
            available=Field(N, "Available pods."),
            not_ready=Field(N, "desired - ready, never negative."),
            image=Field(S, "Image of the first container."),
        ),
        _kind(
            "service",
            "A Service with its selector matched against pods and its endpoints counted.",
            ("api/services", "api/pods", "api/endpointslices|api/endpoints"),
            namespace=Field(S, "Namespace."),
            name=Field(S, "Name."),
            type=Field(S, "ClusterIP, NodePort, LoadBalancer or ExternalName."),
            selector=Field(S, "Selector as k=v,k=v, or '' when the Service has none."),
            matching_pods=Field(N, "Pods the selector matches (-1 when pods were not collected)."),
            ready_endpoints=Field(N, "Ready endpoint addresses (-1 when endpoints were not collected)."),
            not_ready_endpoints=Field(N, "Endpoint addresses that are not ready."),
            lb_pending=Field(B, "type LoadBalancer and no ingress IP/hostname in status."),
            lb_address=Field(S, "First load-balancer IP or hostname, or ''."),
            lb_class=Field(S, "spec.loadBalancerClass, or ''."),
            ports=Field(S, "Ports as port/protocol->targetPort, comma separated."),
            role=Field(S, "Networking role from the Service name (dns, ingress-controller...), or ''."),
            pod_nodes=Field(L, "Nodes the matching pods run on."),
            missing_target_ports=Field(S, "Named targetPorts that no matching pod declares, comma separated."),
        ),
        _kind(
            "ingress",
            "An Ingress and how its class resolves.",
            ("api/ingresses", "api/ingressclasses"),
            namespace=Field(S, "Namespace."),
            name=Field(S, "Name."),
            class_name=Field(S, "spec.ingressClassName (or the legacy annotation), or ''."),
            class_exists=Field(B, "The named IngressClass exists, or a default class applies."),
            hosts=Field(L, "Hosts of all rules."),
        ),
        _kind(
            "ingress_backend",
            "One backend of an Ingress (one per rule path, plus the default backend).",
            ("api/ingresses", "api/services", "api/endpointslices|api/endpoints"),
            namespace=Field(S, "Namespace of the Ingress (and of the Service)."),
            ingress=Field(S, "Ingress name."),
            host=Field(S, "Rule host, or '*'."),
            path=Field(S, "Path, or '/' for the default backend."),
            service=Field(S, "Backend Service name."),
            port=Field(S, "Backend port number or name."),
            service_exists=Field(B, "The Service exists in the Ingress namespace."),
            port_defined=Field(B, "The Service defines the port."),
            ready_endpoints=Field(N, "Ready endpoints of the Service (-1 when unknown)."),
        ),
        _kind(
            "ingress_tls",
            "One spec.tls entry of an Ingress.",
            ("api/ingresses", "api/secrets"),
            namespace=Field(S, "Namespace."),
            ingress=Field(S, "Ingress name."),
            secret_name=Field(S, "secretName, or ''."),
            hosts=Field(L, "Hosts of the TLS entry."),
            secret_found=Field(B, "The Secret was collected and holds a parsable tls.crt."),
        ),
        _kind(
            "tls_certificate",
            "The leaf certificate of a TLS Secret referenced by an Ingress (tls.crt only).",
            ("api/ingresses", "api/secrets"),
            namespace=Field(S, "Secret namespace."),
            secret_name=Field(S, "Secret name."),
            subject=Field(S, "Subject, RFC 4514."),
            issuer=Field(S, "Issuer, RFC 4514."),
            not_before=Field(S, "notBefore, RFC 3339."),
            not_after=Field(S, "notAfter, RFC 3339."),
            days_left=Field(N, "Days from now to notAfter, truncated toward 0 (negative once expired)."),
            expired=Field(B, "notAfter is before now."),
            self_signed=Field(B, "Issuer equals subject."),
            sans=Field(L, "DNS subject alternative names."),
        ),
        _kind(
            "pod_ip_anomaly",
            "A running pod whose IP another running pod also holds, or outside its node's podCIDR.",
            ("api/pods", "api/nodes", "api/daemonsets"),
            namespace=Field(S, "Namespace."),
            name=Field(S, "Pod name."),
            node=Field(S, "Node."),
            ip=Field(S, "The pod IP."),
            problem=Field(S, "duplicate or outside-pod-cidr."),
            other=Field(S, "For duplicate: the other pod holding the IP (namespace/name on node)."),
            pod_cidr=Field(S, "The node's podCIDR."),
        ),
        _kind(
            "ingress_tls_host",
            "One host of an Ingress TLS entry, checked against its certificate's SANs (RFC 6125).",
            ("api/ingresses", "api/secrets"),
            namespace=Field(S, "Namespace."),
            ingress=Field(S, "Ingress name."),
            secret_name=Field(S, "TLS Secret name."),
            host=Field(S, "The host."),
            covered=Field(B, "A DNS SAN matches the host (a wildcard covers exactly one leftmost label)."),
            sans=Field(L, "The certificate's DNS SANs."),
        ),
        _kind(
            "ingress_path_conflict",
            "The same host and path claimed by two Ingresses of the same class.",
            ("api/ingresses",),
            host=Field(S, "Host."),
            path=Field(S, "Path."),
            class_name=Field(S, "IngressClass name (or '')."),
            first=Field(S, "namespace/name of the first Ingress."),
            second=Field(S, "namespace/name of the other Ingress."),
        ),
        _kind(
            "policy_isolation",
            "An Ingress backend whose pods NetworkPolicies certainly isolate from every ingress controller pod"
            " of a namespace (ingress of the backend and egress of the controller, on the backend's port).",
            ("api/networkpolicies", "api/ingresses", "api/services", "api/pods"),
            namespace=Field(S, "Namespace of the backend."),
            service=Field(S, "Backend Service."),
            ingress=Field(S, "Ingress routing to it."),
            policies=Field(S, "Deciding policies (namespace/name), comma separated."),
            controller_namespace=Field(S, "Namespace of the ingress controller."),
        ),
        _kind(
            "dns_egress_block",
            "Pods whose egress NetworkPolicies certainly deny UDP 53 to every cluster DNS pod.",
            ("api/networkpolicies", "api/pods"),
            namespace=Field(S, "Namespace of the blocked pods."),
            policies=Field(S, "Egress policies selecting them (namespace/name), comma separated."),
            pods=Field(N, "Blocked pods."),
            example_pod=Field(S, "One blocked pod's name."),
            dns_service=Field(S, "The cluster DNS Service (namespace/name), or ''."),
            dns_namespace=Field(S, "Namespace of the DNS pods."),
        ),
        _kind(
            "event",
            "Warning events aggregated by reason and involved object.",
            ("api/events",),
            namespace=Field(S, "Namespace of the involved object, or ''."),
            object_kind=Field(S, "Kind of the involved object."),
            object_name=Field(S, "Name of the involved object."),
            reason=Field(S, "Event reason."),
            message=Field(S, "Most recent message (truncated)."),
            count=Field(N, "Occurrences, summed."),
            last_seen=Field(S, "Most recent timestamp, RFC 3339, or ''."),
        ),
        _kind(
            "signature_hit",
            "A known failure signature seen in a log, event or node condition, per node.",
            ("nodes/*/kubelet.log|nodes/*/containerd.log|nodes/*/kernel.log|api/events|api/nodes",),
            node=Field(S, "Node the line came from, or '' when unknown."),
            signature=Field(S, "Signature id from the signature catalog."),
            source=Field(S, "kubelet-log, containerd-log, kernel-log, pod-log, event or node-condition."),
            cni=Field(S, "CNI plugin named in the line (plugin type=...), or ''."),
            count=Field(N, "Matching lines or event occurrences."),
            first_seen=Field(S, "Timestamp of the first match, or ''."),
            last_seen=Field(S, "Timestamp of the last match, or ''."),
            sample=Field(S, "One matching line (truncated)."),
            role=Field(S, "Networking role of the pod whose log it is (dns, ingress-controller...), or ''."),
            object_kind=Field(S, "Kind of the API object the line names (Secret, Service, Ingress), or ''."),
            object_namespace=Field(S, "Namespace of that object, or ''."),
            object_name=Field(S, "Name of that object, or '' when the line names none."),
        ),
        _kind(
            "cni_config",
            "The CNI configuration directory of a node, as collected.",
            ("nodes/*/cni",),
            node=Field(S, "Node name."),
            files=Field(N, "Config files (.conf, .conflist, .json)."),
            valid=Field(B, "Every config file parses and names a plugin type."),
            plugin_types=Field(S, "Plugin types, comma separated."),
            error=Field(S, "First parse error, or ''."),
        ),
        _kind(
            "ipam_usage",
            "host-local IPAM reservations on a node (/var/lib/cni/networks/<network>).",
            ("nodes/*/ipam", "api/nodes"),
            node=Field(S, "Node name."),
            network=Field(S, "CNI network name."),
            reserved=Field(N, "Reserved IPs."),
            capacity=Field(N, "Usable IPs in the node podCIDR (0 when unknown)."),
            use_percent=Field(N, "reserved as a percentage of capacity (0 when unknown)."),
            leaked=Field(N, "Reserved IPs held by no pod on the node (-1 when pods are unknown)."),
        ),
        _kind(
            "probe_node",
            "Active probes (probes/mesh.json) summarised per node: pod traffic to and from its probe pod.",
            ("probes/mesh.json",),
            node=Field(S, "Node name."),
            pod_error=Field(S, "Why the node's probe pod never ran ('probe pod not running: ...'), or ''."),
            pod_ip=Field(S, "IP of the node's probe pod, or ''."),
            pod_mtu=Field(N, "MTU of the probe pod's interface (0 when not reported)."),
            peers=Field(N, "Other nodes whose pods it exchanged small packets with."),
            unreachable_peers=Field(N, "Of those, nodes where traffic failed in either direction."),
            unreachable=Field(L, "Names of those nodes."),
            isolated=Field(B, "Every pair with this node fails while some pair without it works."),
            sample=Field(S, "One failing probe (from -> to: error), or ''."),
            mtu_failed_peers=Field(N, "Peers where large don't-fragment packets fail while small ones pass."),
            mtu_isolated=Field(B, "Large packets fail on every pair with this node and pass on some pair without it."),
            mtu_size=Field(N, "Largest payload that failed (bytes, 0 when none)."),
            mtu_sample=Field(S, "One failing large-packet probe, or ''."),
            **OVERLAY_FIELDS,
        ),
        _kind(
            "probe_pair",
            "A node pair whose pod traffic fails that no single isolated node explains (a partition).",
            ("probes/mesh.json",),
            test=Field(S, "connectivity (small packets) or mtu (large don't-fragment packets, small ones pass)."),
            node_a=Field(S, "One node (alphabetically first)."),
            node_b=Field(S, "The other node."),
            a_to_b=Field(S, "ok, failed or not-probed."),
            b_to_a=Field(S, "ok, failed or not-probed."),
            size=Field(N, "Payload size of the failing probe (bytes)."),
            sample=Field(S, "One failing probe (from -> to: error)."),
            **OVERLAY_FIELDS,
        ),
        _kind(
            "probe_service",
            "A Service probed by ClusterIP from a node's probe pod that did not answer there.",
            ("probes/mesh.json",),
            node=Field(S, "Node the probe ran on."),
            namespace=Field(S, "Service namespace."),
            name=Field(S, "Service name."),
            ip=Field(S, "The ClusterIP probed."),
            port=Field(N, "Port probed."),
            error=Field(S, "What the probe saw."),
            endpoint=Field(S, "ip:port of an endpoint probed directly from the same pod, or ''."),
            endpoint_ok=Field(B, "That endpoint answered (the Service path, not the backend, fails)."),
            ok_from_nodes=Field(N, "Other nodes where the ClusterIP answered."),
        ),
        _kind(
            "probe_dns",
            "A name that failed to resolve through the cluster DNS Service from a node's probe pod.",
            ("probes/mesh.json",),
            node=Field(S, "Node the lookup ran on."),
            name=Field(S, "Name looked up."),
            server=Field(S, "DNS server asked."),
            error=Field(S, "What the lookup returned."),
            ok_from_nodes=Field(N, "Nodes where the same lookup worked."),
            failed_from_nodes=Field(N, "Nodes where it failed (this one included)."),
        ),
        _kind(
            "node_network",
            "A node's own view of its network over SSH (kubetriage --ssh --probe): tunnels, routes, firewall.",
            ("probes/nodes/*",),
            node=Field(S, "Node name."),
            tunnels=Field(L, "Tunnel devices as 'name (kind, mtu N)'."),
            tunnel=Field(S, "The tunnel whose packets come closest to (or over) its underlay's MTU, or ''."),
            tunnel_kind=Field(S, "vxlan, geneve, ipip or wireguard ('' without a tunnel)."),
            tunnel_mtu=Field(N, "That tunnel's MTU."),
            underlay=Field(S, "The device it rides on (the one it names, else the default route's)."),
            underlay_mtu=Field(N, "That device's MTU (0 when unknown)."),
            overhead=Field(N, "Bytes the tunnel adds to each packet."),
            tunnel_mtu_too_large=Field(B, "tunnel MTU + overhead > underlay MTU: full-size packets are dropped."),
            missing_routes=Field(L, "Other nodes' podCIDRs without a route here, as 'cidr (node)'."),
            missing_route_nodes=Field(L, "Those nodes."),
            missing_route_count=Field(N, "How many other nodes' podCIDRs have no route here."),
            overlay_drops=Field(L, "iptables rules that DROP or REJECT an overlay transport."),
            drops_overlay=Field(B, "Some iptables rule drops or rejects an overlay transport."),
            routes_read=Field(B, "The routing table was read."),
            firewall_read=Field(B, "The iptables rules were read."),
        ),
        _kind(
            "probe_endpoint",
            "An Ingress path or LoadBalancer address probed from where kubetriage ran that answered badly.",
            ("probes/mesh.json",),
            type=Field(S, "ingress-path or loadbalancer."),
            namespace=Field(S, "Namespace of the Ingress or Service."),
            name=Field(S, "Ingress or Service name ('' when no object claims it)."),
            host=Field(S, "Ingress host, or ''."),
            path=Field(S, "Ingress path, or ''."),
            address=Field(S, "ip:port probed."),
            status=Field(N, "HTTP status (0 when there was none)."),
            outcome=Field(S, "no-endpoints (503), no-rule (404), backend-unreachable (502/504) or no-answer."),
            error=Field(S, "Connection error, or ''."),
            service=Field(S, "Backend Service (namespace/name), or ''."),
            nodes=Field(L, "Nodes the backend pods run on."),
        ),
        _kind(
            "served_certificate",
            "The leaf certificate an endpoint served for an Ingress host (probes/tls/<host>_<port>.pem).",
            ("probes/tls",),
            host=Field(S, "Host asked for with SNI."),
            port=Field(N, "Port."),
            subject=Field(S, "Subject, RFC 4514."),
            issuer=Field(S, "Issuer, RFC 4514."),
            serial=Field(S, "Serial number, hex."),
            not_after=Field(S, "notAfter, RFC 3339."),
            expired=Field(B, "notAfter is before now."),
            covers_host=Field(B, "A DNS SAN matches the host."),
            fake_default=Field(B, "The ingress controller's built-in default certificate (no matching Secret loaded)."),
            namespace=Field(S, "Namespace of the Ingress whose TLS entry lists the host, or ''."),
            ingress=Field(S, "That Ingress, or ''."),
            secret_name=Field(S, "Its TLS Secret, or ''."),
            secret_found=Field(B, "The Secret's certificate was collected."),
            secret_serial=Field(S, "Serial of the Secret's leaf, hex, or ''."),
            matches_secret=Field(B, "The served leaf is the Secret's leaf (same DER)."),
        ),
    )
}
