"""Regenerate the accuracy scenarios: ``python -m tests.scenarios.build_scenarios`` (or ``make regen``).

Each scenario is a whole cluster (kubeadm+calico, RKE2+canal or k3s+flannel) with healthy
workloads, benign warnings and unrelated log noise around the injected faults, written as a
snapshot beside an ``expected.yaml`` that lists every finding it must produce (anything
else is a false positive) and which of them are root causes. Every cluster booted at 08:45,
two hours before collection: its kubelet journals start there, with the CNI errors of the
minutes before the CNI agent came up (one agent restarted during install) and their old events,
which must all be read as resolved earlier, never as a finding.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import synth

HERE = Path(__file__).parent
COLLECTED_AT = "2026-11-25T10:32:00Z"
BOOT = "2026-11-25T08:45:00Z"
AGENT_UP, NODE_READY = "2026-11-25T08:46:45Z", "2026-11-25T08:47:01Z"
Obj = dict[str, Any]

PROFILE: dict[str, dict[str, Any]] = {
    "kubeadm": {"cni": "calico", "cidr": "10.244.{i}.0/24", "pool": "192.168.{i}.{j}", "dns": ("coredns", "kube-dns"),
                "cni_ds": ("calico-node", "calico/node:v3.28.1", "calico-node"),
                "cni_file": ("10-calico.conflist", "calico"), "ipam": None,
                "net_up": ("CalicoIsUp", "Calico is running on this node")},
    "rke2": {"cni": "canal", "cidr": "10.42.{i}.0/24", "pool": "10.42.{i}.{j}",
             "dns": ("rke2-coredns-rke2-coredns", "rke2-coredns-rke2-coredns"),
             "cni_ds": ("rke2-canal", "rancher/hardened-calico:v3.28.1-build20240806", "calico-node"),
             "cni_file": ("10-canal.conflist", "calico"), "ipam": "k8s-pod-network",
             "net_up": ("CalicoIsUp", "Calico is running on this node")},
    "k3s": {"cni": "flannel", "cidr": "10.42.{i}.0/24", "pool": "10.42.{i}.{j}", "dns": ("coredns", "kube-dns"),
            "cni_ds": None, "cni_file": ("10-flannel.conflist", "flannel"), "ipam": "cbr0",
            "net_up": ("FlannelIsUp", "Flannel is running on this node")},
    "kind": {"cni": "cilium", "cidr": "10.244.{i}.0/24", "pool": "10.244.{i}.{j}", "dns": ("coredns", "kube-dns"),
             "cni_ds": ("cilium", "quay.io/cilium/cilium:v1.16.3", "cilium-agent"),
             "cni_file": ("05-cilium.conflist", "cilium-cni"), "ipam": None,
             "net_up": ("CiliumIsUp", "Cilium is running on this node")},
}


@dataclass
class Cluster:
    """A small, realistic cluster that fault functions mutate before it is written."""

    distro: str
    noise: int = 150
    nodes: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    slices: list[Obj] = field(default_factory=list)
    daemonsets: list[Obj] = field(default_factory=list)
    deployments: list[Obj] = field(default_factory=list)
    ingresses: list[Obj] = field(default_factory=list)
    classes: list[Obj] = field(default_factory=list)
    secrets: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    policies: list[Obj] = field(default_factory=list)
    kubelet: dict[str, list[str]] = field(default_factory=dict)
    kernel: dict[str, list[str]] = field(default_factory=dict)
    cni_files: dict[str, dict[str, str]] = field(default_factory=dict)
    ipam: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)
    mesh: list[Obj] = field(default_factory=list)  # probes/mesh.json entries; none: not probed
    served: dict[str, bytes] = field(default_factory=dict)  # probes/tls/<host>_<port>.pem
    node_net: dict[str, dict[str, str]] = field(default_factory=dict)  # probes/nodes/<node>/<file>
    names: list[str] = field(default_factory=lambda: ["cp-1", "worker-1", "worker-2"])

    def __post_init__(self) -> None:
        p = PROFILE[self.distro]
        self.rand = random.Random(f"{self.distro}")
        self.slot: dict[str, int] = {}
        for i, name in enumerate(self.names):
            self.nodes.append(synth.node(name, f"10.0.0.{10 + i}", p["cidr"].format(i=i), distro=self.distro,
                                         control_plane=name == "cp-1"))
            for cond in self.nodes[-1]["status"]["conditions"]:  # as the boot left them
                if cond["type"] == "NetworkUnavailable":
                    cond.update(reason=p["net_up"][0], message=p["net_up"][1], lastTransitionTime=AGENT_UP)
                elif cond["type"] == "Ready":
                    cond["lastTransitionTime"] = NODE_READY
            self.kubelet[name] = []
            self.kernel[name] = []
            self.cni_files[name] = {p["cni_file"][0]: _conflist(p["cni_file"][1])}
        if p["cni_ds"]:
            ds, image, container = p["cni_ds"]
            self.daemonsets.append(synth.daemonset("kube-system", ds, image, desired=3, ready=3))
            for i, name in enumerate(self.names):
                self.pods.append(synth.pod("kube-system", f"{ds}-{_suffix(ds, i)}", name, owner=("DaemonSet", ds),
                                           labels={"k8s-app": ds}, image=image, container_name=container,
                                           ip=f"10.0.0.{10 + i}", host_network=True))
        if self.distro == "kubeadm":
            self.daemonsets.append(synth.daemonset("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.30.6",
                                                   desired=3, ready=3))
            for i, name in enumerate(self.names):
                self.pods.append(synth.pod("kube-system", f"kube-proxy-{_suffix('kp', i)}", name,
                                           owner=("DaemonSet", "kube-proxy"), labels={"k8s-app": "kube-proxy"},
                                           image="registry.k8s.io/kube-proxy:v1.30.6", ip=f"10.0.0.{10 + i}",
                                           host_network=True))
        dns_deploy, dns_svc = p["dns"]
        self.deployment("kube-system", dns_deploy, "registry.k8s.io/coredns/coredns:v1.11.3", 2,
                        {"k8s-app": "kube-dns"}, service=dns_svc, port=53)
        if self.distro == "k3s":
            self.deployment("kube-system", "traefik", "rancher/mirrored-library-traefik:2.11.10", 1,
                            {"app.kubernetes.io/name": "traefik"}, service="traefik", port=80,
                            service_type="LoadBalancer", lb_ip="10.0.0.10")
            self.daemonsets.append(synth.daemonset("kube-system", "svclb-traefik", "rancher/klipper-lb:v0.4.9",
                                                   desired=3, ready=3))
            self.classes.append(synth.ingressclass("traefik", "traefik.io/ingress-controller", default=True))
            ingress_class = "traefik"
        else:
            self.deployment("ingress-nginx", "ingress-nginx-controller",
                            "registry.k8s.io/ingress-nginx/controller:v1.11.3", 2,
                            {"app.kubernetes.io/name": "ingress-nginx"}, service="ingress-nginx-controller",
                            port=80, service_type="NodePort")
            self.classes.append(synth.ingressclass("nginx", "k8s.io/ingress-nginx", default=True))
            ingress_class = "nginx"
        for app, replicas in (("web", 2), ("cart", 1), ("api", 2)):
            self.deployment("shop", app, f"registry.example.com/shop/{app}:2.4.1", replicas, {"app": app},
                            service=app, port=8080, port_name="http")
        cert, _ = synth.certificate("shop.example.com", ["shop.example.com", "www.shop.example.com"],
                                    "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z", issuer="R11")
        self.secrets.append(synth.tls_secret("shop", "shop-tls", cert))
        self.shop_cert = cert
        self.ingresses.append(synth.ingress("shop", "storefront", class_name=ingress_class,
                                            rules=[("shop.example.com", "/", "web", "http"),
                                                   ("shop.example.com", "/cart", "cart", "http"),
                                                   ("shop.example.com", "/api", "api", 80)],
                                            tls=[("shop-tls", ["shop.example.com", "www.shop.example.com"])]))
        self._install_restart(p)
        # benign warning: a readiness probe that flapped once on a pod that is ready now
        self.events.append(synth.event("shop", "Pod", self.pod("shop", "web")["metadata"]["name"], "Unhealthy",
                                       'Readiness probe failed: Get "http://10.42.1.21:8080/healthz": context '
                                       "deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                                       host="worker-1"))

    def _install_restart(self, p: dict[str, Any]) -> None:
        """The CNI agent on worker-1 crashed once during install and came up at AGENT_UP; a DNS pod's
        sandbox failed before that. Both left Warning events, two hours old by collection."""
        dns = self.pods_of("kube-system", "kube-dns")[0]
        self.events.append(synth.event("kube-system", "Pod", dns["metadata"]["name"], "FailedCreatePodSandBox",
                                       self._boot_sandbox_error(), count=3, last="2026-11-25T08:46:20Z",
                                       host=dns["spec"]["nodeName"]))
        if not p["cni_ds"]:
            return
        agents = [x for x in self.pods if x["metadata"]["name"].startswith(p["cni_ds"][0])]
        for pod in agents:
            for cond in pod["status"]["conditions"]:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond["lastTransitionTime"] = AGENT_UP
        agent = next(x for x in agents if x["spec"]["nodeName"] == "worker-1")
        status = agent["status"]["containerStatuses"][0]
        status.update(restartCount=1, state={"running": {"startedAt": "2026-11-25T08:46:25Z"}}, lastState={
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-11-25T08:45:40Z",
                           "finishedAt": "2026-11-25T08:46:10Z"}})
        name = agent["metadata"]["name"]
        self.events.append(synth.event("kube-system", "Pod", name, "BackOff",
                                       f"Back-off restarting failed container {status['name']} in pod "
                                       f"{name}_kube-system({agent['metadata']['uid']})",
                                       last="2026-11-25T08:46:12Z", host="worker-1"))

    def _boot_sandbox_error(self) -> str:
        """What a pod sandbox failed with before the CNI agent was up (the plugin's own wording)."""
        if PROFILE[self.distro]["cni_file"][1] == "flannel":
            return _sandbox("flannel", "failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: "
                                       "no such file or directory. Check the flannel pod log for this node.")
        if PROFILE[self.distro]["cni_file"][1] == "cilium-cni":  # github.com/cilium/cilium/issues/16038
            return _sandbox("cilium-cni", "unable to connect to Cilium agent: failed to create cilium agent client "
                                          'after 30.000000 seconds timeout: Get "http://localhost/v1/config": dial '
                                          "unix /var/run/cilium/cilium.sock: connect: no such file or directory Is "
                                          "the agent running?")
        return _sandbox("calico", "stat /var/lib/calico/nodename: no such file or directory: check that the "
                                  "calico/node container is running and has mounted /var/lib/calico/")

    # -- building blocks --------------------------------------------------------------------
    def ip(self, node: str) -> str:
        i = self.names.index(node)
        self.slot[node] = self.slot.get(node, 0) + 1
        j = self.slot[node] + 1
        return str(PROFILE[self.distro]["pool"]).format(i=i, j=j)

    def deployment(self, namespace: str, name: str, image: str, replicas: int, labels: dict[str, str],
                   service: str = "", port: int = 80, port_name: str = "", service_type: str = "ClusterIP",
                   lb_ip: str = "") -> None:
        self.deployments.append(synth.deployment(namespace, name, image, replicas=replicas, ready=replicas))
        rs = f"{name}-{_suffix(name, 0)[:10]}"
        members = []
        for r in range(replicas):
            node = self.names[1 + (r + len(self.pods)) % 2] if replicas > 1 or name != "coredns" else "cp-1"
            ip = self.ip(node)
            pod = synth.pod(namespace, f"{rs}-{_suffix(name, r + 1)}", node, owner=("ReplicaSet", rs),
                            labels=labels, image=image, ip=ip,
                            ports=[{"containerPort": port if port != 53 else 53, "name": port_name or "main",
                                    "protocol": "UDP" if port == 53 else "TCP"}])
            self.pods.append(pod)
            members.append((pod["metadata"]["name"], ip, True))
        if service:
            target: Any = port_name or port
            svc = synth.service(namespace, service, labels, type_=service_type, lb_ip=lb_ip,
                                cluster_ip=f"10.43.{len(self.services)}.10",
                                ports=[{"name": port_name or "main", "port": 80 if port != 53 else 53,
                                        "protocol": "UDP" if port == 53 else "TCP", "targetPort": target}])
            self.services.append(svc)
            self.slices.append(synth.endpointslice(namespace, service, members, port))

    def pod(self, namespace: str, app: str) -> Obj:
        return next(p for p in self.pods if p["metadata"]["namespace"] == namespace
                    and app in (p["metadata"].get("labels") or {}).values())

    def policy(self, name: str, spec: Obj, namespace: str = "shop") -> None:
        self.policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": name, "namespace": namespace}, "spec": spec})

    def pods_of(self, namespace: str, app: str) -> list[Obj]:
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace
                and app in (p["metadata"].get("labels") or {}).values()]

    def named(self, items: list[Obj], name: str) -> Obj:
        return next(o for o in items if o["metadata"]["name"] == name)

    def break_pod(self, pod: Obj, reason: str = "ContainerCreating", phase: str = "Pending") -> None:
        """Make a pod unhealthy, and its endpoints not ready."""
        status = pod["status"]
        status["phase"] = phase
        for cond in status["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond["status"] = "False"
        for cs in status["containerStatuses"]:
            cs.update(ready=False, started=False, state={"waiting": {"reason": reason}})
        if reason == "ContainerCreating":
            status.pop("podIP", None)
            status.pop("podIPs", None)
        for s in self.slices:
            for e in s["endpoints"]:
                if e["targetRef"]["name"] == pod["metadata"]["name"]:
                    e["conditions"].update(ready=False, serving=False)
        for w in self.deployments + self.daemonsets:
            owner = pod["metadata"]["ownerReferences"][0]["name"]
            if owner == w["metadata"]["name"] or owner.startswith(w["metadata"]["name"] + "-"):
                key = "numberReady" if w["kind"] == "DaemonSet" else "readyReplicas"
                w["status"][key] = max(w["status"][key] - 1, 0)
                w["status"]["numberAvailable" if w["kind"] == "DaemonSet" else "availableReplicas"] = w["status"][key]

    def sandbox_event(self, pod: Obj, message: str, reason: str = "FailedCreatePodSandBox", count: int = 25) -> None:
        self.events.append(synth.event(pod["metadata"]["namespace"], "Pod", pod["metadata"]["name"], reason,
                                       message, count=count, host=pod["spec"]["nodeName"]))

    def stick_app_on(self, node: str, message: str, app: str = "cart") -> Obj:
        """Move the app's pod to ``node`` and leave it stuck without a sandbox."""
        pod = self.pod("shop", app)
        pod["spec"]["nodeName"] = node
        self.break_pod(pod)
        self.sandbox_event(pod, message)
        return pod

    # -- writing -----------------------------------------------------------------------------
    def write(self, root: Path, expected: Obj) -> None:
        shutil.rmtree(root, ignore_errors=True)
        api = root / "api"
        for name, items in (("nodes", self.nodes), ("pods", self.pods), ("services", self.services),
                            ("endpointslices", self.slices), ("daemonsets", self.daemonsets),
                            ("deployments", self.deployments), ("ingresses", self.ingresses),
                            ("ingressclasses", self.classes), ("secrets", self.secrets), ("events", self.events),
                            ("networkpolicies", self.policies),
                            ("namespaces", synth.namespaces(self.pods, {"shop": {"team": "shop"}}))):
            synth.write_list(api / f"{name}.json", items)
        for i, node in enumerate(self.names):
            path = root / "nodes" / node
            path.mkdir(parents=True)
            log = "kubelet.log"
            (path / log).write_text("\n".join(self._boot(node) + self._noise(node, i) + self.kubelet[node]) + "\n")
            if self.kernel[node]:
                (path / "kernel.log").write_text("\n".join(self.kernel[node]) + "\n")
            (path / "cni").mkdir()
            for name, text in self.cni_files[node].items():
                (path / "cni" / name).write_text(text)
            network = PROFILE[self.distro]["ipam"]
            if network:
                (path / "ipam").mkdir()
                held = self.ipam.get(node) or {network: "\n".join(
                    p["status"]["podIP"] for p in self.pods if p["spec"].get("nodeName") == node
                    and p["status"].get("podIP") and not p["spec"].get("hostNetwork")) + "\n"}
                for net, listing in held.items():
                    (path / "ipam" / net).write_text(listing)
        for key, lines in self.logs.items():
            target = root / "logs" / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(lines) + "\n")
        if self.mesh:
            (root / "probes").mkdir()
            (root / "probes" / "mesh.json").write_text(json.dumps(
                {"started_at": "2026-11-25T10:31:00Z", "probes": self.mesh}, indent=1))
        for name, pem in self.served.items():
            (root / "probes" / "tls").mkdir(parents=True, exist_ok=True)
            (root / "probes" / "tls" / name).write_bytes(pem)
        for node, files in self.node_net.items():
            (root / "probes" / "nodes" / node).mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                (root / "probes" / "nodes" / node / name).write_text(text)
        (root / "snapshot.yaml").write_text(yaml.safe_dump(
            {"format": "kubetriage/v1", "cluster": f"{self.distro}-lab", "collected_at": COLLECTED_AT}))
        (root / "expected.yaml").write_text(yaml.safe_dump(expected, sort_keys=False, width=110))

    def journal(self, node: str, level: str, clock: str, text: str) -> str:
        """One kubelet log line at 2026-11-25 ``clock`` (HH:MM:SS.ffffff) in the distribution's format:
        RKE2's kubelet.log is plain klog, kubeadm and k3s log to the journal (short-iso)."""
        klog = f"{level}1125 {clock}    912 {text}"
        if self.distro == "rke2":
            return klog
        unit = "k3s" if self.distro == "k3s" else "kubelet"
        return f"2026-11-25T{clock[:8]}+0000 {node} {unit}[912]: {klog}"

    def _boot(self, node: str) -> list[str]:
        """The journal from boot: the runtime network is not ready until the CNI agent is up, a sandbox
        fails for want of it, then the node goes Ready."""
        not_ready = ('kubelet.go:2900] "Container runtime network not ready" networkReady="NetworkReady=false '
                     'reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"')
        sandbox = self._boot_sandbox_error().split("desc = ", 1)[1].replace('"', '\\"')
        lines = [("08:45:02.104211", "I", 'server.go:1256] "Started kubelet"'),
                 ("08:46:20.512007", "E", 'remote_runtime.go:193] "RunPodSandbox from runtime service failed" '
                                          f'err="rpc error: code = Unknown desc = {sandbox}"'),
                 ("08:47:01.052192", "I", 'kubelet_node_status.go:497] "Fast updating node status as it just '
                                          'became ready"')]
        lines += [(f"08:{45 + s // 60:02d}:{s % 60:02d}.118304", "E", not_ready) for s in range(7, 108, 5)]
        if self.distro == "k3s":  # flannel runs inside k3s: its lines are in the same journal
            lines.append(("08:46:44.315194", "I", "flannel.go:75] Wrote subnet file to /run/flannel/subnet.env"))
        return [self.journal(node, level, clock, text) for clock, level, text in sorted(lines)]

    def _noise(self, node: str, index: int) -> list[str]:
        """Unrelated kubelet chatter in the distribution's log format."""
        pods = [p["metadata"] for p in self.pods if p["spec"].get("nodeName") == node] or [{"namespace": "x",
                                                                                              "name": "x"}]
        templates = [
            'kubelet.go:2474] "SyncLoop (PLEG): event for pod" pod="{pod}" event={{"Type":"ContainerStarted"}}',
            'reconciler_common.go:245] "operationExecutor.VerifyControllerAttachedVolume started for volume" '
            'volume="kube-api-access-{n}" pod="{pod}"',
            'prober.go:107] "Probe failed" probeType="Readiness" pod="{pod}" output="HTTP probe failed with '
            'statuscode: 503"',
            'kubelet_node_status.go:76] "Attempting to register node" node="{node}"',
            'eviction_manager.go:369] "Eviction manager: attempting to reclaim" resourceName="ephemeral-storage"',
            'scope.go:117] "RemoveContainer" containerID="{n}{n}{n}"',
            'kuberuntime_manager.go:1028] "Message for Container of pod" containerName="app" '
            'containerStatusID={{"Type":"containerd","ID":"{n}"}} pod="{pod}"',
        ]
        out = []
        for k in range(self.noise):
            md = pods[k % len(pods)]
            text = templates[k % len(templates)].format(pod=f"{md['namespace']}/{md['name']}", node=node,
                                                        n=f"{(k * 7919 + index) % 99991:05x}")
            minute, second = divmod(k * 11 % 3600, 60)
            out.append(self.journal(node, "I", f"09:{minute % 60:02d}:{second:02d}.{k % 1000:06d}", text))
        return out


def _suffix(seed: str, n: int) -> str:
    return "".join("bcdfghjklmnpqrstvwxz2456789"[(ord(c) * 31 + n * 7 + i) % 27] for i, c in enumerate(seed * 2))[:5]


def _conflist(kind: str) -> str:
    plugins = [{"type": kind, "ipam": {"type": "host-local", "subnet": "usePodCidr"}} if kind != "flannel" else
               {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
               {"type": "portmap", "capabilities": {"portMappings": True}}]
    return json.dumps({"name": "k8s-pod-network", "cniVersion": "0.3.1", "plugins": plugins}, indent=2)


def _sandbox(cni: str, cause: str) -> str:
    return (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox '
            f'"7f3c9a": plugin type="{cni}" failed (add): {cause}')


# -- faults: each breaks one thing and returns the findings it must produce -----------------------
Fault = Callable[[Cluster], list[Obj]]


def cni_agent_down(c: Cluster) -> list[Obj]:
    ds, _, _ = PROFILE[c.distro]["cni_ds"]
    agent = next(p for p in c.pods if p["metadata"]["name"].startswith(ds) and p["spec"]["nodeName"] == "worker-2")
    c.break_pod(agent, "CrashLoopBackOff", "Running")
    agent["status"]["containerStatuses"][0]["restartCount"] = 17
    c.stick_app_on("worker-2", "network is not ready: container runtime network not ready: NetworkReady=false "
                               "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not "
                               "initialized", app="cart")
    c.events[-1]["reason"] = "NetworkNotReady"
    c.cni_files["worker-2"] = {}
    return [{"rule": "NET-CNI-001", "root_cause": True}, {"rule": "NET-CNI-002", "root_cause": False},
            {"rule": "NET-SVC-002", "root_cause": False}, {"rule": "NET-ING-003", "root_cause": False}]


def cni_config_missing(c: Cluster) -> list[Obj]:
    c.cni_files["worker-1"] = {}
    c.kubelet["worker-1"] += [
        f'2026-11-25T10:{m:02d}:02+0000 worker-1 kubelet[912]: E1125 10:{m:02d}:02.1 912 kubelet.go:2900] '
        '"Container runtime network not ready" networkReady="NetworkReady=false reason:NetworkPluginNotReady '
        'message:Network plugin returns error: cni plugin not initialized"' for m in range(0, 30, 3)]
    return [{"rule": "NET-CNI-002", "root_cause": True}]


def plugin_binary_missing(c: Cluster) -> list[Obj]:
    c.stick_app_on("worker-1", _sandbox("portmap", 'failed to find plugin "portmap" in path [/opt/cni/bin]'))
    return [{"rule": "NET-CNI-003", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False},
            {"rule": "NET-ING-003", "root_cause": False}]


def ip_exhaustion(c: Cluster) -> list[Obj]:
    c.stick_app_on("worker-1", _sandbox(PROFILE[c.distro]["cni_file"][1], "failed to allocate for range 0: no IP "
                                        "addresses available in range set: 10.42.1.1-10.42.1.254"))
    network = PROFILE[c.distro]["ipam"]
    if network:
        c.ipam["worker-1"] = {network: "\n".join(f"10.42.1.{i}" for i in range(2, 255)) + "\n"}
    return [{"rule": "NET-CNI-004", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False},
            {"rule": "NET-ING-003", "root_cause": False}]


def cni_config_invalid(c: Cluster) -> list[Obj]:
    c.cni_files["worker-1"] = {PROFILE[c.distro]["cni_file"][0]: '{"name": "k8s-pod-network", "plugins": [\n'}
    return [{"rule": "NET-CNI-005", "root_cause": True}]


def node_without_podcidr(c: Cluster) -> list[Obj]:
    node = c.named(c.nodes, "worker-2")
    node["spec"].pop("podCIDR")
    node["spec"].pop("podCIDRs")
    c.events.append(synth.event("", "Node", "worker-2", "CIDRNotAvailable", "Node worker-2 status is now: "
                                "CIDRNotAvailable", count=3, host="", component="cidrAllocator"))
    c.events[-1]["involvedObject"].pop("namespace")
    return [{"rule": "NET-CNI-006", "root_cause": True}]


def flannel_agent_not_running(c: Cluster) -> list[Obj]:
    c.stick_app_on("worker-2", _sandbox("flannel", "loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: "
                                                   "no such file or directory"))
    return [{"rule": "NET-CNI-007", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False},
            {"rule": "NET-ING-003", "root_cause": False}]


def calico_unauthorized(c: Cluster) -> list[Obj]:
    c.stick_app_on("worker-1", _sandbox("calico", "error getting ClusterInformation: connection is "
                                                  "unauthorized: Unauthorized"))
    return [{"rule": "NET-CNI-008", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False},
            {"rule": "NET-ING-003", "root_cause": False}]


def cni_api_unreachable(c: Cluster) -> list[Obj]:
    ds, _, _ = PROFILE[c.distro]["cni_ds"]
    agent = next(p for p in c.pods if p["metadata"]["name"].startswith(ds) and p["spec"]["nodeName"] == "worker-2")
    c.break_pod(agent, "CrashLoopBackOff", "Running")
    agent["status"]["containerStatuses"][0]["restartCount"] = 9
    c.logs[f"kube-system/{agent['metadata']['name']}/kube-flannel.previous.log"] = [
        "I1125 10:24:01.2 1 main.go:488] Using interface with name eth0 and address 10.0.0.12",
        f"E1125 10:24:31.2 1 main.go:232] Failed to create SubnetManager: error retrieving pod spec for "
        f"'kube-system/{agent['metadata']['name']}': Get \"https://10.43.0.1:443/api/v1/namespaces/kube-system/pods/"
        f"{agent['metadata']['name']}\": dial tcp 10.43.0.1:443: i/o timeout"]
    return [{"rule": "NET-CNI-013", "root_cause": True}, {"rule": "NET-CNI-001", "root_cause": False}]


def calico_bgp_down(c: Cluster) -> list[Obj]:
    agent = next(p for p in c.pods if p["metadata"]["name"].startswith("calico-node")
                 and p["spec"]["nodeName"] == "worker-2")
    c.break_pod(agent, "", "Running")
    agent["status"]["containerStatuses"][0]["state"] = {"running": {"startedAt": "2026-11-25T09:00:00Z"}}
    c.events.append(synth.event("kube-system", "Pod", agent["metadata"]["name"], "Unhealthy",
                                "Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not "
                                "established with 172.17.0.1", count=240, host="worker-2"))
    return [{"rule": "NET-CNI-001", "root_cause": True}, {"rule": "NET-CNI-009", "root_cause": True}]


def unclassified_sandbox(c: Cluster) -> list[Obj]:
    c.stick_app_on("worker-1", _sandbox(PROFILE[c.distro]["cni_file"][1], "netlink: operation not supported"))
    return [{"rule": "NET-CNI-010", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False},
            {"rule": "NET-ING-003", "root_cause": False}]


def duplicate_pod_ip(c: Cluster) -> list[Obj]:
    web = c.pods_of("shop", "web")
    api = c.pod("shop", "api")
    api["status"]["podIP"] = web[0]["status"]["podIP"]
    api["status"]["podIPs"] = [{"ip": web[0]["status"]["podIP"]}]
    return [{"rule": "NET-CNI-011", "root_cause": True}]


def ip_outside_podcidr(c: Cluster) -> list[Obj]:
    pod = c.pod("shop", "api")
    pod["status"]["podIP"] = "10.42.77.9"
    pod["status"]["podIPs"] = [{"ip": "10.42.77.9"}]
    return [{"rule": "NET-CNI-012", "root_cause": True}]


def network_unavailable(c: Cluster) -> list[Obj]:
    node = c.named(c.nodes, "worker-1")
    cond = next(x for x in node["status"]["conditions"] if x["type"] == "NetworkUnavailable")
    cond.update(status="True", reason="NoRouteCreated", message="RouteController failed to create a route")
    return [{"rule": "NET-NODE-001", "root_cause": True}]


def kube_proxy_iptables(c: Cluster) -> list[Obj]:
    proxy = next(p for p in c.pods if p["metadata"]["name"].startswith("kube-proxy")
                 and p["spec"]["nodeName"] == "worker-1")
    c.break_pod(proxy, "CrashLoopBackOff", "Running")
    proxy["status"]["containerStatuses"][0]["restartCount"] = 8
    name = proxy["metadata"]["name"]
    c.logs[f"kube-system/{name}/kube-proxy.previous.log"] = [
        "I1125 10:20:01.1 1 server.go:632] \"Version info\" version=\"v1.30.6\"",
        "E1125 10:20:02.1 1 proxier.go:1549] \"Failed to execute iptables-restore\" err=< exit status 2: "
        "iptables-restore v1.8.4 (legacy): Couldn't load target `KUBE-MARK-DROP':No such file or directory"]
    return [{"rule": "NET-NODE-002", "root_cause": True}]


def conntrack_full(c: Cluster) -> list[Obj]:
    c.kernel["worker-2"] = [f"2026-11-25T10:{m:02d}:00+0000 worker-2 kernel: nf_conntrack: nf_conntrack: table "
                            "full, dropping packet" for m in range(10, 30)]
    return [{"rule": "NET-NODE-003", "root_cause": True}]


def selector_typo(c: Cluster) -> list[Obj]:
    c.named(c.services, "cart")["spec"]["selector"] = {"app": "crat"}
    c.named(c.slices, c.slices[[s["metadata"]["labels"]["kubernetes.io/service-name"] for s in c.slices]
                                .index("cart")]["metadata"]["name"])["endpoints"] = []
    return [{"rule": "NET-SVC-001", "root_cause": True}, {"rule": "NET-ING-003", "root_cause": False}]


def pods_not_ready(c: Cluster) -> list[Obj]:
    for pod in c.pods_of("shop", "api"):
        c.break_pod(pod, "", "Running")
        pod["status"]["containerStatuses"][0]["state"] = {"running": {"startedAt": "2026-11-25T09:00:00Z"}}
    return [{"rule": "NET-SVC-002", "root_cause": True}, {"rule": "NET-ING-003", "root_cause": False}]


def named_port_missing(c: Cluster) -> list[Obj]:
    c.named(c.services, "web")["spec"]["ports"][0]["targetPort"] = "http-web"
    return [{"rule": "NET-SVC-003", "root_cause": True}]


def backend_missing(c: Cluster) -> list[Obj]:
    c.ingresses[0]["spec"]["rules"][0]["http"]["paths"][2]["backend"]["service"]["name"] = "api-svc"
    return [{"rule": "NET-ING-001", "root_cause": True}]


def backend_port_undefined(c: Cluster) -> list[Obj]:
    c.ingresses[0]["spec"]["rules"][0]["http"]["paths"][2]["backend"]["service"]["port"] = {"number": 9090}
    return [{"rule": "NET-ING-002", "root_cause": True}]


def backend_without_endpoints(c: Cluster) -> list[Obj]:
    c.services.append(synth.service("shop", "legacy", None, ports=[{"name": "http", "port": 80, "targetPort": 80}]))
    c.ingresses[0]["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/legacy", "pathType": "Prefix", "backend": {"service": {"name": "legacy", "port": {"number": 80}}}})
    return [{"rule": "NET-ING-003", "root_cause": True}]


def tls_secret_missing(c: Cluster) -> list[Obj]:
    c.secrets.clear()
    return [{"rule": "NET-ING-004", "root_cause": True}]


def _replace_cert(c: Cluster, sans: list[str], not_after: str) -> None:
    cert, _ = synth.certificate(sans[0], sans, "2026-08-01T00:00:00Z", not_after, issuer="R11")
    c.secrets[0]["data"]["tls.crt"] = base64.b64encode(cert).decode()


def cert_expired(c: Cluster) -> list[Obj]:
    _replace_cert(c, ["shop.example.com", "www.shop.example.com"], "2026-11-20T00:00:00Z")
    return [{"rule": "NET-ING-005", "root_cause": True}]


def cert_expiring(c: Cluster) -> list[Obj]:
    _replace_cert(c, ["shop.example.com", "www.shop.example.com"], "2026-12-01T00:00:00Z")
    return [{"rule": "NET-ING-006", "root_cause": True}]


def cert_san_mismatch(c: Cluster) -> list[Obj]:
    _replace_cert(c, ["*.example.com"], "2027-06-01T00:00:00Z")
    c.ingresses[0]["spec"]["tls"][0]["hosts"] = ["shop.example.com", "www.shop.example.com", "a.b.example.com"]
    return [{"rule": "NET-ING-007", "root_cause": True}]


def ingress_class_missing(c: Cluster) -> list[Obj]:
    c.ingresses.append(synth.ingress("shop", "legacy", class_name="ngnix", rules=[("old.example.com", "/", "web",
                                                                                  "http")]))
    return [{"rule": "NET-ING-008", "root_cause": True}]


def ingress_controller_down(c: Cluster) -> list[Obj]:
    for pod in c.pods_of("ingress-nginx", "ingress-nginx"):
        c.break_pod(pod, "CrashLoopBackOff", "Running")
    return [{"rule": "NET-ING-009", "root_cause": True}, {"rule": "NET-LB-004", "root_cause": False},
            {"rule": "NET-SVC-002", "root_cause": False}]


def duplicate_host_path(c: Cluster) -> list[Obj]:
    c.ingresses.append(synth.ingress("shop", "storefront-v2", class_name=c.ingresses[0]["spec"]["ingressClassName"],
                                     rules=[("shop.example.com", "/", "web", "http")]))
    return [{"rule": "NET-ING-010", "root_cause": True}]


def lb_no_implementation(c: Cluster) -> list[Obj]:
    c.services.append(synth.service("shop", "gateway", {"app": "web"}, type_="LoadBalancer",
                                    ports=[{"name": "https", "port": 443, "targetPort": "http"}]))
    c.slices.append(synth.endpointslice("shop", "gateway", [(p["metadata"]["name"], p["status"]["podIP"], True)
                                                             for p in c.pods_of("shop", "web")], 8080))
    return [{"rule": "NET-LB-001", "root_cause": True}]


def lb_sync_failed(c: Cluster) -> list[Obj]:
    lb_no_implementation(c)
    c.events.append(synth.event("shop", "Service", "gateway", "SyncLoadBalancerFailed",
                                "Error syncing load balancer: failed to ensure load balancer: googleapi: Error 403: "
                                "QUOTA_EXCEEDED - Quota 'STATIC_ADDRESSES' exceeded.", count=14,
                                component="service-controller"))
    return [{"rule": "NET-LB-002", "root_cause": True}, {"rule": "NET-LB-001", "root_cause": False}]


def lb_pool_exhausted(c: Cluster) -> list[Obj]:
    lb_no_implementation(c)
    c.deployments.append(synth.deployment("metallb-system", "metallb-controller", "quay.io/metallb/controller:v0.14.8",
                                          replicas=1, ready=1))
    c.events.append(synth.event("shop", "Service", "gateway", "AllocationFailed", 'Failed to allocate IP for '
                                '"shop/gateway": no available IPs', count=6, component="metallb-controller"))
    return [{"rule": "NET-LB-003", "root_cause": True}, {"rule": "NET-LB-001", "root_cause": False}]


def ingress_service_no_endpoints(c: Cluster) -> list[Obj]:
    svc = c.named(c.services, "ingress-nginx-controller")
    svc["spec"]["selector"] = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "ctrl"}
    next(s for s in c.slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == "ingress-nginx-controller"
         )["endpoints"] = []
    return [{"rule": "NET-SVC-001", "root_cause": True}, {"rule": "NET-LB-004", "root_cause": False}]


def dns_down(c: Cluster) -> list[Obj]:
    for pod in c.pods_of("kube-system", "kube-dns"):
        c.break_pod(pod, "CrashLoopBackOff", "Running")
    return [{"rule": "NET-DNS-001", "root_cause": True}, {"rule": "NET-SVC-002", "root_cause": False}]


def dns_loop(c: Cluster) -> list[Obj]:
    findings = dns_down(c)
    for pod in c.pods_of("kube-system", "kube-dns"):
        pod["status"]["containerStatuses"][0]["restartCount"] = 12
        name = pod["metadata"]["name"]
        c.logs[f"kube-system/{name}/coredns.previous.log"] = [
            "[INFO] plugin/reload: Running configuration SHA512 = 591cf328cccc",
            '[FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :53) detected for zone ".", see '
            'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."']
    findings[0]["root_cause"] = False
    return [{"rule": "NET-DNS-002", "root_cause": True}, *findings]


def dns_upstream(c: Cluster) -> list[Obj]:
    pod = c.pods_of("kube-system", "kube-dns")[0]
    pod["status"]["containerStatuses"][0]["restartCount"] = 1
    c.logs[f"kube-system/{pod['metadata']['name']}/coredns.log"] = [
        f"[ERROR] plugin/errors: 2 registry.example.com. A: read udp 10.42.0.5:{40000 + i}->10.0.0.2:53: i/o timeout"
        for i in range(20)]
    return [{"rule": "NET-DNS-003", "root_cause": True}]


def dns_apiserver_unreachable(c: Cluster) -> list[Obj]:
    findings = dns_down(c)
    for pod in c.pods_of("kube-system", "kube-dns"):
        c.logs[f"kube-system/{pod['metadata']['name']}/coredns.log"] = [
            f"E1125 10:{m:02d}:31.949036       1 reflector.go:126] pkg/mod/k8s.io/client-go@v11.0.0+incompatible/"
            f"tools/cache/reflector.go:94: Failed to list *v1.{kind}: Get https://10.43.0.1:443/api/v1/"
            f"{kind.lower()}s?limit=500&resourceVersion=0: dial tcp 10.43.0.1:443: i/o timeout"
            for m in range(20, 30) for kind in ("Service", "Namespace")]
    findings[0]["root_cause"] = False
    return [{"rule": "NET-DNS-004", "root_cause": True}, *findings]


def tls_secret_not_in_controller_store(c: Cluster) -> list[Obj]:
    """The API has the Secret; the controller cannot read it (its RBAC or watch namespace)."""
    for pod in c.pods_of("ingress-nginx", "ingress-nginx"):
        c.logs[f"ingress-nginx/{pod['metadata']['name']}/controller.log"] = [
            f'W1125 10:{m:02d}:04.503448       7 controller.go:1270] Error getting SSL certificate "shop/shop-tls": '
            "local SSL certificate shop/shop-tls was not found. Using default certificate" for m in range(10, 30)]
    return [{"rule": "NET-ING-004", "root_cause": True}]


def lb_pool_exhausted_log(c: Cluster) -> list[Obj]:
    """MetalLB's controller log says it, no event does (events expire after an hour)."""
    lb_no_implementation(c)
    c.deployments.append(synth.deployment("metallb-system", "controller", "quay.io/metallb/controller:v0.14.8",
                                          replicas=1, ready=1))
    c.logs["metallb-system/controller-5f98465b6b-9xk2p/controller.log"] = [
        f'{{"caller":"service.go:143","error":"no available IPs","level":"error","msg":"IP allocation failed",'
        f'"op":"allocateIPs","ts":"2026-11-25T10:{m:02d}:38Z"}}' for m in range(10, 30)]
    return [{"rule": "NET-LB-003", "root_cause": True}, {"rule": "NET-LB-001", "root_cause": False}]


def policy_blocks_ingress(c: Cluster) -> list[Obj]:
    c.policy("shop-default-deny", {"podSelector": {}, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    return [{"rule": "NET-POL-001", "root_cause": True}]


def policy_blocks_dns(c: Cluster) -> list[Obj]:
    """A default-deny egress that only allows traffic inside the namespace: no DNS."""
    c.policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"],
                                     "egress": [{"to": [{"podSelector": {}}]}]})
    return [{"rule": "NET-POL-002", "root_cause": True}]


def zero_trust_namespace(c: Cluster) -> None:
    """Healthy: default-deny both ways, with allows written in matchExpressions for the ingress
    controller, DNS (UDP and TCP 53) and traffic inside the namespace."""
    controller = "kube-system" if c.distro == "k3s" else "ingress-nginx"
    c.policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    c.policy("allow-ingress-controller", {
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "cart", "api"]}]},
        "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [controller]}]}}],
            "ports": [{"protocol": "TCP", "port": 8080}]}]})
    c.policy("allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]},
            "podSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]})
    c.policy("allow-same-namespace", {
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}]})
# -- active probes (probes/mesh.json): what traffic did --------------------------------------------
PROBE_AT = "2026-11-25T10:31:30Z"


def probed(c: Cluster) -> list[Obj]:
    """A clean probe run: every node pair (small and large don't-fragment pings), the kubernetes
    Service by ClusterIP and by endpoint, DNS from every node, the Ingress TLS host."""
    pods = {n: {"node": n, "pod": f"kubetriage-probe/kubetriage-probe-{_suffix(n, 9)}", "ip": c.ip(n), "mtu": 1450}
            for n in c.names}
    dns = next(s for s in c.services if s["spec"]["ports"][0]["port"] == 53)["spec"]["clusterIP"]
    for src in c.names:
        for dst in c.names:
            if src != dst:
                for size in (56, 1422):
                    c.mesh.append({"kind": "pod-to-pod", "from": pods[src], "to": pods[dst], "protocol": "icmp",
                                   "size": size, "dont_fragment": size > 56, "sent": 3, "received": 3,
                                   "rtt_ms": 0.6, "error": None, "at": PROBE_AT})
        for ip, port, endpoint in (("10.43.0.1", 443, False), ("10.0.0.10", 6443, True)):
            c.mesh.append({"kind": "pod-to-service", "from": pods[src], "protocol": "tcp", "error": None,
                           "to": {"service": "default/kubernetes", "ip": ip, "port": port, "endpoint": endpoint},
                           "at": PROBE_AT})
        c.mesh.append({"kind": "pod-to-dns", "from": pods[src], "protocol": "dns", "error": None, "at": PROBE_AT,
                       "to": {"name": "kubernetes.default.svc.cluster.local", "server": dns}})
    c.served["shop.example.com_443.pem"] = c.shop_cert
    node_side(c)
    return []


def node_side(c: Cluster, underlay_mtu: dict[str, int] | None = None, no_route: tuple[str, str] = ("", ""),
              dropped: str = "") -> None:
    """What `ip -j` and `iptables -S` print on flannel nodes (``--ssh --probe``), in the shape the
    netns data plane of tests/test_node_probe.py really prints; optionally broken: a lower
    underlay MTU on a node, ``no_route`` (node, other node) without its route, a node whose
    firewall drops VXLAN."""
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in c.nodes if n["spec"].get("podCIDR")}
    for node in c.names:
        links = [{"ifindex": 2, "ifname": "eth0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                  "mtu": (underlay_mtu or {}).get(node, 1500), "operstate": "UP", "link_type": "ether"},
                 {"ifindex": 3, "ifname": "flannel.1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
                  "mtu": 1450, "operstate": "UNKNOWN", "link_type": "ether",
                  "linkinfo": {"info_kind": "vxlan", "info_data": {"id": 1, "link": "eth0", "port": 8472}}}]
        routes = [{"dst": "default", "gateway": "10.0.0.1", "dev": "eth0"}] + [
            {"dst": cidr, "gateway": cidr.split("/")[0], "dev": "flannel.1", "flags": ["onlink"]}
            for other, cidr in cidrs.items() if other != node and (node, other) != no_route]
        rules = "-A INPUT -p udp -m udp --dport 8472 -j " + ("DROP" if node == dropped else "ACCEPT") + "\n"
        c.node_net[node] = {"link.json": json.dumps(links), "route.json": json.dumps(routes),
                            "addr.json": "[]", "iptables.txt": rules}


def node_route_missing(c: Cluster) -> list[Obj]:
    node_side(c, no_route=("worker-1", "worker-2"))
    return [{"rule": "NET-NODE-004", "root_cause": True}]


def node_tunnel_mtu(c: Cluster) -> list[Obj]:
    node_side(c, underlay_mtu={"worker-1": 1400})
    return [{"rule": "NET-NODE-005", "root_cause": True}]


def node_firewall_drops_overlay(c: Cluster) -> list[Obj]:
    """worker-2's firewall drops VXLAN: the node-side probe shows the rule, the mesh its effect."""
    probed(c)
    node_side(c, dropped="worker-2")
    _break_probes(c, "100% packet loss", lambda e: _crosses(e, "worker-2"))
    return [{"rule": "NET-NODE-006", "root_cause": True}, {"rule": "NET-PROBE-001", "root_cause": False}]


def _break_probes(c: Cluster, error: str, hit: Callable[[Obj], bool]) -> None:
    for entry in c.mesh:
        if hit(entry):
            entry.update(error=error, rtt_ms=None, **({"received": 0} if "sent" in entry else {}))


def _crosses(entry: Obj, node: str) -> bool:
    return entry["kind"] == "pod-to-pod" and node in (entry["from"]["node"], entry["to"]["node"])


def overlay_port_blocked(c: Cluster) -> list[Obj]:
    """worker-2 drops VXLAN (UDP 8472): its pods reach no other node, so the kubernetes Service,
    DNS (CoreDNS runs elsewhere) and the /cart path (its pod runs on worker-2) fail from there."""
    probed(c)
    _break_probes(c, "100% packet loss", lambda e: _crosses(e, "worker-2"))
    _break_probes(c, "dial tcp: i/o timeout", lambda e: e["from"]["node"] == "worker-2"
                  and e["kind"] in ("pod-to-service", "pod-to-dns"))
    c.pod("shop", "cart")["spec"]["nodeName"] = "worker-2"
    c.mesh.append({"kind": "ingress-path", "from": {"node": ""}, "protocol": "tcp", "status": 504, "error": None,
                   "to": {"host": "shop.example.com", "path": "/cart", "ip": "10.0.0.10", "port": 443},
                   "at": PROBE_AT})
    return [{"rule": "NET-PROBE-001", "root_cause": True}, {"rule": "NET-PROBE-004", "root_cause": False},
            {"rule": "NET-PROBE-005", "root_cause": False}, {"rule": "NET-PROBE-008", "root_cause": False}]


def overlay_partition(c: Cluster) -> list[Obj]:
    probed(c)
    _break_probes(c, "100% packet loss", lambda e: e["kind"] == "pod-to-pod"
                  and {e["from"]["node"], e["to"]["node"]} == {"cp-1", "worker-1"})
    return [{"rule": "NET-PROBE-002", "root_cause": True}]


def overlay_mtu(c: Cluster) -> list[Obj]:
    probed(c)
    _break_probes(c, "From 10.42.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)",
                  lambda e: _crosses(e, "worker-1") and e["size"] > 56)
    return [{"rule": "NET-PROBE-003", "root_cause": True}]


def service_vip_dead(c: Cluster) -> list[Obj]:
    probed(c)
    _break_probes(c, "dial tcp 10.43.0.1:443: i/o timeout", lambda e: e["from"]["node"] == "worker-1"
                  and e["kind"] == "pod-to-service" and not e["to"]["endpoint"])
    return [{"rule": "NET-PROBE-004", "root_cause": True}]


def dns_from_node(c: Cluster) -> list[Obj]:
    probed(c)
    _break_probes(c, "timed out waiting for a reply", lambda e: e["from"]["node"] == "worker-1"
                  and e["kind"] == "pod-to-dns")
    return [{"rule": "NET-PROBE-005", "root_cause": True}]


def probe_pod_not_started(c: Cluster) -> list[Obj]:
    """The CNI agent on worker-2 is down: the probe pod there never got a sandbox."""
    expected = cni_agent_down(c)
    probed(c)
    c.mesh = [e for e in c.mesh if not _crosses(e, "worker-2") and e["from"]["node"] != "worker-2"]
    c.mesh.append({"kind": "pod-to-pod", "from": {"node": "worker-2"}, "to": {"node": "worker-1"},
                   "error": "probe pod not running: ContainerCreating: failed to setup network for sandbox",
                   "at": PROBE_AT})
    return [*expected, {"rule": "NET-PROBE-006", "root_cause": False}]


def fake_certificate(c: Cluster) -> list[Obj]:
    probed(c)
    c.served["shop.example.com_443.pem"] = synth.certificate(
        "Kubernetes Ingress Controller Fake Certificate", ["ingress.local"], "2026-11-01T00:00:00Z",
        "2027-11-01T00:00:00Z")[0]
    return [{"rule": "NET-PROBE-007", "root_cause": True}]


def lb_unreachable(c: Cluster) -> list[Obj]:
    probed(c)
    c.mesh.append({"kind": "loadbalancer", "from": {"node": ""}, "protocol": "tcp", "at": PROBE_AT,
                   "error": "connect to 10.0.0.10:80: timed out",
                   "to": {"service": "kube-system/traefik", "ip": "10.0.0.10", "port": 80}})
    return [{"rule": "NET-PROBE-009", "root_cause": True}]


SINGLE: dict[str, tuple[str, Fault]] = {
    "cni-agent-down": ("rke2", cni_agent_down), "cni-config-missing": ("kubeadm", cni_config_missing),
    "cni-binary-missing": ("kubeadm", plugin_binary_missing), "ip-exhaustion": ("rke2", ip_exhaustion),
    "cni-config-invalid": ("k3s", cni_config_invalid), "node-without-podcidr": ("rke2", node_without_podcidr),
    "flannel-agent-down": ("k3s", flannel_agent_not_running), "calico-unauthorized": ("kubeadm", calico_unauthorized),
    "calico-bgp-down": ("kubeadm", calico_bgp_down), "cni-api-unreachable": ("rke2", cni_api_unreachable),
    "sandbox-unclassified": ("kubeadm", unclassified_sandbox),
    "duplicate-pod-ip": ("kubeadm", duplicate_pod_ip), "ip-outside-podcidr": ("rke2", ip_outside_podcidr),
    "network-unavailable": ("kubeadm", network_unavailable), "kube-proxy-iptables": ("kubeadm", kube_proxy_iptables),
    "conntrack-full": ("rke2", conntrack_full), "service-selector-typo": ("kubeadm", selector_typo),
    "service-pods-not-ready": ("k3s", pods_not_ready), "service-named-port": ("rke2", named_port_missing),
    "ingress-backend-missing": ("kubeadm", backend_missing), "ingress-port-undefined": ("k3s", backend_port_undefined),
    "ingress-no-endpoints": ("rke2", backend_without_endpoints), "tls-secret-missing": ("kubeadm", tls_secret_missing),
    "tls-expired": ("rke2", cert_expired), "tls-expiring": ("k3s", cert_expiring),
    "tls-san-mismatch": ("kubeadm", cert_san_mismatch), "ingress-class-missing": ("rke2", ingress_class_missing),
    "ingress-controller-down": ("kubeadm", ingress_controller_down),
    "ingress-duplicate-path": ("kubeadm", duplicate_host_path),
    "lb-no-implementation": ("kubeadm", lb_no_implementation),
    "lb-sync-failed": ("kubeadm", lb_sync_failed), "lb-pool-exhausted": ("kubeadm", lb_pool_exhausted),
    "ingress-service-no-endpoints": ("kubeadm", ingress_service_no_endpoints), "dns-down": ("kubeadm", dns_down),
    "dns-loop": ("rke2", dns_loop), "dns-loop-kubeadm": ("kubeadm", dns_loop), "dns-upstream": ("k3s", dns_upstream),
    "netpol-blocks-ingress": ("kubeadm", policy_blocks_ingress),
    "netpol-blocks-dns": ("rke2", policy_blocks_dns),
    "dns-apiserver-unreachable": ("rke2", dns_apiserver_unreachable),
    "tls-secret-not-in-controller-store": ("rke2", tls_secret_not_in_controller_store),
    "lb-pool-exhausted-log": ("kubeadm", lb_pool_exhausted_log),
    "probe-overlay-blocked": ("rke2", overlay_port_blocked), "probe-partition": ("kubeadm", overlay_partition),
    "probe-mtu": ("k3s", overlay_mtu), "probe-service-vip": ("kubeadm", service_vip_dead),
    "probe-dns-node": ("rke2", dns_from_node), "probe-fake-certificate": ("kubeadm", fake_certificate),
    "probe-lb-unreachable": ("k3s", lb_unreachable), "node-route-missing": ("k3s", node_route_missing),
    "node-tunnel-mtu": ("rke2", node_tunnel_mtu), "node-firewall-overlay": ("k3s", node_firewall_drops_overlay),
}
MULTI: dict[str, tuple[str, list[Fault]]] = {
    "multi-cni-and-tls": ("rke2", [cni_agent_down, cert_expired]),
    "multi-dns-and-netpol": ("kubeadm", [dns_down, policy_blocks_ingress]),
    "multi-ip-and-lb": ("rke2", [ip_exhaustion, lb_no_implementation]),
    "multi-proxy-and-conntrack": ("kubeadm", [kube_proxy_iptables, conntrack_full]),
    "multi-selector-and-san": ("kubeadm", [selector_typo, cert_san_mismatch]),
    "multi-class-and-duplicate": ("rke2", [ingress_class_missing, duplicate_host_path]),
    "multi-bgp-and-route": ("kubeadm", [calico_bgp_down, network_unavailable]),
    "multi-flannel-and-expiring": ("k3s", [flannel_agent_not_running, cert_expiring]),
    "multi-three-layers": ("kubeadm", [calico_unauthorized, backend_missing, dns_upstream]),
    "multi-lb-pool-and-named-port": ("kubeadm", [lb_pool_exhausted, named_port_missing]),
    "multi-cni-and-probe-pod": ("rke2", [probe_pod_not_started, named_port_missing]),
}


def build_all(out: Path = HERE) -> None:
    """Every scenario under ``out``; the same bytes each time (``make regen`` is idempotent)."""
    for old in out.iterdir():
        if old.is_dir() and (old / "expected.yaml").exists():
            shutil.rmtree(old)
    for distro in ("kubeadm", "rke2", "k3s"):
        healthy = Cluster(distro, noise=2000)
        zero_trust_namespace(healthy)
        healthy.write(out / f"healthy-{distro}", {
            "description": f"Healthy {distro} cluster ({PROFILE[distro]['cni']}), unrelated kubelet lines, "
                           "a default-deny namespace with explicit allows.",
            "findings": []})
    for name, (distro, fault) in SINGLE.items():
        cluster = Cluster(distro)
        cluster.write(out / name, {"description": (fault.__name__).replace("_", " "), "findings": fault(cluster)})
    for name, (distro, faults) in MULTI.items():
        cluster = Cluster(distro)
        expected: list[Obj] = []
        for fault in faults:
            expected += [e for e in fault(cluster) if e["rule"] not in {x["rule"] for x in expected}]
        cluster.write(out / name, {"description": " + ".join(f.__name__.replace("_", " ") for f in faults),
                                   "findings": expected})
    probed_cluster = Cluster("rke2", noise=2000)
    probed(probed_cluster)
    probed_cluster.write(out / "healthy-probed", {
        "description": "Healthy rke2 cluster (canal) with a clean active-probe run.", "findings": []})


if __name__ == "__main__":
    build_all()
