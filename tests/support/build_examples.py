"""Regenerate the demo snapshots in examples/: ``python -m tests.support.build_examples``.

``rke2-outage``: an RKE2 cluster mid-incident. The canal agent on worker-2 is
crash-looping, so the kubelet there reports "cni plugin not initialized", shop
pods on worker-2 hang in ContainerCreating and the cart Service has no ready
endpoint; separately the storefront Ingress serves an expired certificate.
``healthy``: the same cluster after recovery; it must produce no finding.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.support import synth

HERE = Path(__file__).resolve().parents[2] / "examples"
COLLECTED_AT = "2026-11-25T10:32:00Z"
CANAL_IMAGE = "rancher/hardened-calico:v3.28.1-build20240806"
NOT_READY = ("Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
             "message:Network plugin returns error: cni plugin not initialized")
BACKOFF = "CrashLoopBackOff"
NODES = [("cp-1", "10.0.0.10", "10.42.0.0/24"), ("worker-1", "10.0.0.11", "10.42.1.0/24"),
         ("worker-2", "10.0.0.12", "10.42.2.0/24")]


def build(root: Path, broken: bool) -> None:
    shutil.rmtree(root, ignore_errors=True)
    api = root / "api"
    nodes = [synth.node(n, ip, cidr, control_plane=n == "cp-1") for n, ip, cidr in NODES]
    pods, slices = [], []
    for i, (n, _, cidr) in enumerate(NODES):
        base = cidr.rsplit(".", 1)[0]
        sick = broken and n == "worker-2"
        pods.append(synth.pod("kube-system", f"rke2-canal-{'x7k2p' if sick else f'h{i}q4z'}", n,
                              labels={"k8s-app": "canal"}, owner=("DaemonSet", "rke2-canal"),
                              image=CANAL_IMAGE, ip=f"10.0.0.1{i}", host_network=True,
                              container_name="calico-node",
                              ready=not sick, restarts=14 if sick else 0,
                              waiting=(BACKOFF, "back-off 5m0s restarting failed container=calico-node")
                              if sick else None))
        pods.append(synth.pod("kube-system", f"rke2-ingress-nginx-controller-{i}abcd", n,
                              labels={"app.kubernetes.io/name": "rke2-ingress-nginx"},
                              owner=("DaemonSet", "rke2-ingress-nginx-controller"),
                              image="rancher/nginx-ingress-controller:v1.10.5-hardened3",
                              ip=f"{base}.3"))
    coredns_rs = "rke2-coredns-rke2-coredns-5b9f7d7c6d"
    pods.append(synth.pod("kube-system", f"{coredns_rs}-lq2vw", "cp-1",
                          labels={"k8s-app": "kube-dns"}, owner=("ReplicaSet", coredns_rs),
                          image="rancher/hardened-coredns:v1.11.3-build20241018", ip="10.42.0.5"))
    web_ports = [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    stuck = ("ContainerCreating", "")
    shop = [
        ("web-7d9f8c6b5-abcde", "worker-1", {"app": "web"}, "10.42.1.21", True),
        ("web-7d9f8c6b5-k2x9m", "worker-2", {"app": "web"}, "10.42.2.14", True),
        ("cart-6c8d9f7b4-q8w2e", "worker-2", {"app": "cart"}, "10.42.2.15", True),
    ]
    for name, n, labels, ip, _ in shop:
        sick = broken and n == "worker-2"
        owner = ("ReplicaSet", name.rsplit("-", 1)[0])
        pods.append(synth.pod("shop", name, n, labels=labels, owner=owner,
                              image=f"registry.example.com/shop/{labels['app']}:2.4.1",
                              ip="" if sick else ip, phase="Pending" if sick else "Running",
                              ready=not sick, waiting=stuck if sick else None, ports=web_ports))
    for svc, app in (("web", "web"), ("cart", "cart")):
        members = [(name, ip, True) for name, n, labels, ip, _ in shop
                   if labels["app"] == app and not (broken and n == "worker-2")]
        slices.append(synth.endpointslice("shop", svc, members, 8080))
    slices.append(synth.endpointslice("kube-system", "rke2-coredns-rke2-coredns",
                                      [(f"{coredns_rs}-lq2vw", "10.42.0.5", True)], 53))
    services = [
        synth.service("shop", "web", {"app": "web"}, cluster_ip="10.43.12.7",
                      ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]),
        synth.service("shop", "cart", {"app": "cart"}, cluster_ip="10.43.12.9",
                      ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]),
        synth.service("kube-system", "rke2-coredns-rke2-coredns", {"k8s-app": "kube-dns"},
                      cluster_ip="10.43.0.10",
                      ports=[{"name": "udp-53", "port": 53, "protocol": "UDP", "targetPort": 53}]),
    ]
    canal_ready = 2 if broken else 3
    daemonsets = [synth.daemonset("kube-system", "rke2-canal", CANAL_IMAGE, desired=3, ready=canal_ready),
                  synth.daemonset("kube-system", "rke2-ingress-nginx-controller",
                                  "rancher/nginx-ingress-controller:v1.10.5-hardened3", desired=3, ready=3)]
    deployments = [synth.deployment("kube-system", "rke2-coredns-rke2-coredns",
                                    "rancher/hardened-coredns:v1.11.3-build20241018", replicas=1, ready=1),
                   synth.deployment("shop", "web", "registry.example.com/shop/web:2.4.1",
                                    replicas=2, ready=1 if broken else 2),
                   synth.deployment("shop", "cart", "registry.example.com/shop/cart:2.4.1",
                                    replicas=1, ready=0 if broken else 1)]
    not_after = "2026-11-22T08:00:00Z" if broken else "2027-02-20T08:00:00Z"
    cert, _key = synth.certificate("shop.example.com", ["shop.example.com", "www.shop.example.com"],
                                   "2026-08-24T08:00:00Z", not_after, issuer="R11")
    ingresses = [synth.ingress("shop", "storefront", class_name="nginx",
                               rules=[("shop.example.com", "/", "web", "http"),
                                      ("shop.example.com", "/cart", "cart", 80)],
                               tls=[("shop-tls", ["shop.example.com", "www.shop.example.com"])])]
    events = []
    if broken:
        for name in ("web-7d9f8c6b5-k2x9m", "cart-6c8d9f7b4-q8w2e"):
            events.append(synth.event("shop", "Pod", name, "NetworkNotReady",
                                      "network is not ready: container runtime network not ready: "
                                      "NetworkReady=false reason:NetworkPluginNotReady message:"
                                      "Network plugin returns error: cni plugin not initialized",
                                      count=118, host="worker-2"))
        events.append(synth.event("kube-system", "Pod", "rke2-canal-x7k2p", "BackOff",
                                  "Back-off restarting failed container calico-node in pod "
                                  "rke2-canal-x7k2p_kube-system(4b1e)", count=96, host="worker-2"))
    synth.write_list(api / "nodes.json", nodes)
    synth.write_list(api / "pods.json", pods)
    synth.write_list(api / "services.json", services)
    synth.write_list(api / "endpointslices.json", slices)
    synth.write_list(api / "daemonsets.json", daemonsets)
    synth.write_list(api / "deployments.json", deployments)
    synth.write_list(api / "ingresses.json", ingresses)
    synth.write_list(api / "ingressclasses.json",
                     [synth.ingressclass("nginx", "k8s.io/ingress-nginx", default=True)])
    synth.write_list(api / "secrets.json", [synth.tls_secret("shop", "shop-tls", cert)])
    synth.write_list(api / "events.json", events)
    synth.write_list(api / "networkpolicies.json", [])
    synth.write_list(api / "namespaces.json", synth.namespaces(pods))
    for n, _, _ in NODES:
        write_node_files(root / "nodes" / n, broken and n == "worker-2")
    (root / "snapshot.yaml").write_text(yaml.safe_dump(
        {"format": "kubetriage/v1", "cluster": "rke2-prod", "collected_at": COLLECTED_AT, "errors": []},
        sort_keys=False))


def write_node_files(path: Path, sick: bool) -> None:
    path.mkdir(parents=True)
    lines = [
        'I1125 09:58:01.004211    1187 server.go:484] "Kubelet version" kubeletVersion="v1.30.6+rke2r1"',
        'I1125 09:58:01.118907    1187 kubelet_node_status.go:76] "Attempting to register node"',
    ]
    if sick:
        for minute in range(2, 32, 5):
            lines.append(f'E1125 10:{minute:02d}:02.118304    1187 kubelet.go:2900] '
                         f'"Container runtime network not ready" networkReady="NetworkReady=false '
                         f'reason:NetworkPluginNotReady message:Network plugin returns error: '
                         f'cni plugin not initialized"')
            lines.append(f'E1125 10:{minute:02d}:04.551020    1187 pod_workers.go:1298] "Error syncing pod, '
                         f'skipping" err="network is not ready: container runtime network not ready: '
                         f'NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns '
                         f'error: cni plugin not initialized" pod="shop/web-7d9f8c6b5-k2x9m"')
    else:
        lines.append('I1125 10:05:12.300118    1187 kubelet.go:2474] "SyncLoop (PLEG): event for pod" '
                     'pod="shop/web-7d9f8c6b5-abcde" '
                     'event={"Type":"ContainerStarted"}')
    (path / "kubelet.log").write_text("\n".join(lines) + "\n")
    if not sick:
        cni = path / "cni"
        cni.mkdir()
        (cni / "10-canal.conflist").write_text(CANAL_CONFLIST)


CANAL_CONFLIST = """{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {"type": "calico", "log_level": "info", "datastore_type": "kubernetes",
     "nodename": "__KUBERNETES_NODE_NAME__", "mtu": 1450,
     "ipam": {"type": "host-local", "subnet": "usePodCidr"},
     "policy": {"type": "k8s"}, "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}},
    {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}},
    {"type": "bandwidth", "capabilities": {"bandwidth": true}}
  ]
}
"""

def build_all(out: Path = HERE) -> None:
    """Both example snapshots under ``out``; the same bytes each time (``make regen``)."""
    build(out / "rke2-outage", broken=True)
    build(out / "healthy", broken=False)


if __name__ == "__main__":
    build_all()
