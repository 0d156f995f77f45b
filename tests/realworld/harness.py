"""The real-world corpus: text from public threads, wrapped into realistic snapshots and triaged.

A case (``cases/<class>/<slug>.yaml``) is a line, event message or log excerpt copied verbatim
from a public issue thread or Q&A, with where it appeared, the diagnosis the thread established
and the rule IDs expected from it (``[]`` for a near-miss: a line that looks alike but means
something else). The harness places the text into a healthy base cluster (one of the scenario
builder's profiles, with the case's CNI agent) exactly where a collector would have found it,
sets ``collected_at`` just after the text's newest timestamp so the text counts as current,
runs the real triage and compares rule IDs. ``python -m tests.realworld.harness`` prints the
per-class table for the README.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.knowledge import Knowledge
from kubetriage.normalize.common import line_time, parse_time, rfc3339
from kubetriage.roles import POD_CIDR_IPAM
from kubetriage.triage import resolve_now, triage
from tests.scenarios.build_scenarios import COLLECTED_AT, PROFILE, Cluster, _conflist
from tests.support import synth

CASES = Path(__file__).parent / "cases"
NODE = "worker-1"  # where the evidence appeared
DISTROS = {"kubeadm", "rke2", "k3s", "eks", "gke", "aks", "kind", "minikube", "microk8s", "openshift", "unknown"}
WHERE = {"kubelet-log", "node-journal", "containerd-log", "kernel-log", "pod-log", "pod-previous-log", "node-condition",
         "pod-event", "node-event", "service-event", "ingress-event"}
_KEYS = {"source", "distro", "cni", "where", "component", "setting", "diagnosis", "expected", "text"}
_OPTIONAL = {"setting"}
_DEFAULT_TARGET = {"Service": ("shop", "web"), "Ingress": ("shop", "storefront")}
#: A pasted line that already carries a journal prefix (short-iso, or the default short format).
_PREFIXED = re.compile(r"^(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d|\S+ +\d{1,2} \d\d:\d\d:\d\d \S+ \S+: )")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

#: CNI agent per CNI: (namespace, DaemonSet, container, image, plugin type in the conflist).
AGENTS: dict[str, tuple[str, str, str, str, str]] = {
    "calico": ("kube-system", "calico-node", "calico-node", "docker.io/calico/node:v3.28.1", "calico"),
    "canal": ("kube-system", "canal", "calico-node", "docker.io/calico/node:v3.28.1", "calico"),
    "flannel": ("kube-flannel", "kube-flannel-ds", "kube-flannel", "docker.io/flannel/flannel:v0.25.7", "flannel"),
    "cilium": ("kube-system", "cilium", "cilium-agent", "quay.io/cilium/cilium:v1.16.3", "cilium-cni"),
    "weave": ("kube-system", "weave-net", "weave", "docker.io/weaveworks/weave-kube:2.8.1", "weave-net"),
    "antrea": ("kube-system", "antrea-agent", "antrea-agent", "antrea/antrea-agent-ubuntu:v2.1.0", "antrea"),
    "aws-vpc-cni": ("kube-system", "aws-node", "aws-node",
                    "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.18.5", "aws-cni"),
    "kube-router": ("kube-system", "kube-router", "kube-router", "docker.io/cloudnativelabs/kube-router:v2.2.1",
                    "bridge"),
}
#: Components that run one pod per node (a missing one is added as a DaemonSet, others as a Deployment).
_PER_NODE = re.compile(r"calico-node|canal|flannel|cilium$|weave-net|antrea-agent|aws-node|kube-router|kube-proxy"
                       r"|speaker|svclb")


class CaseError(ValueError):
    """A case file that does not follow the format; the message names the file and key."""


@dataclass(frozen=True)
class Case:
    """One real-world case."""

    path: Path
    klass: str
    source: str
    distro: str
    cni: str
    where: str
    component: str
    setting: tuple[str, ...]
    diagnosis: str
    expected: frozenset[str]
    text: str

    @property
    def name(self) -> str:
        return f"{self.klass}/{self.path.stem}"

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]


def load_case(path: Path, rule_ids: Iterable[str]) -> Case:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise CaseError(f"{path}: expected a mapping")
    for key in sorted(set(doc) - _KEYS):
        raise CaseError(f"{path}: unknown key {key!r}")
    for key in sorted(_KEYS - _OPTIONAL - set(doc)):
        raise CaseError(f"{path}: missing key {key!r}")
    for key in sorted(_KEYS - {"expected", "setting"}):
        if not isinstance(doc[key], str) or not doc[key].strip():
            raise CaseError(f"{path}: {key!r} must be a non-empty string")
    setting = doc.get("setting") or []
    setting = [setting] if isinstance(setting, str) else setting
    expected = doc["expected"]
    if not isinstance(expected, list) or not all(isinstance(r, str) for r in expected):
        raise CaseError(f"{path}: 'expected' must be a list of rule IDs")
    checks = (("source", doc["source"].startswith("https://"), "an https URL"),
              ("distro", doc["distro"] in DISTROS, f"one of {sorted(DISTROS)}"),
              ("where", doc["where"] in WHERE, f"one of {sorted(WHERE)}"),
              ("setting", set(setting) <= set(SETTINGS), f"a list of {sorted(SETTINGS)}"),
              ("expected", set(expected) <= set(rule_ids), "known rule IDs"))
    for key, ok, what in checks:
        if not ok:
            raise CaseError(f"{path}: {key!r} must be {what}")
    if doc["where"] == "node-condition" and not re.fullmatch(r"(?:Ready|NetworkUnavailable) \w+", doc["component"]):
        raise CaseError(f"{path}: 'component' of a node condition must be 'Ready|NetworkUnavailable <reason>'")
    if doc["where"] in ("pod-log", "pod-previous-log") and doc["component"].count("/") != 2:
        raise CaseError(f"{path}: 'component' of a pod log must be namespace/pod-name-prefix/container")
    if doc["where"].endswith("-event") and ([*doc["component"].split(), "", ""])[1].lower() != \
            doc["where"].removesuffix("-event"):
        raise CaseError(f"{path}: 'component' of an event must be 'Reason Kind [namespace/name-prefix]'")
    return Case(path=path, klass=path.parent.name, source=doc["source"], distro=doc["distro"], cni=doc["cni"],
                where=doc["where"], component=doc["component"], setting=tuple(setting),
                diagnosis=doc["diagnosis"], expected=frozenset(expected), text=doc["text"])


def load_cases(rule_ids: Iterable[str], root: Path = CASES) -> list[Case]:
    ids = set(rule_ids)
    return [load_case(p, ids) for p in sorted(root.glob("*/*.yaml"))]


# -- the snapshot -----------------------------------------------------------------------------------
def collected_at(case: Case) -> datetime:
    """Just after the newest timestamp in the text (the normalizer's own reading), else the base's."""
    base = parse_time(COLLECTED_AT)
    assert base is not None
    stamps = [parse_time(line_time(line, base)) for line in case.lines]
    newest = max((s for s in stamps if s), default=None)
    return newest + timedelta(minutes=1) if newest else base


@dataclass
class Snapshot:
    """A base cluster being fitted around one case."""

    case: Case
    now: datetime
    cluster: Cluster
    containerd: list[str] = field(default_factory=list)

    def at(self, minutes_before: float) -> str:
        return rfc3339(self.now - timedelta(minutes=minutes_before))

    def later(self, text: str) -> str:
        """A timestamp of the base cluster moved so that the base's collected_at becomes ``now``."""
        moment = parse_time(text) if _RFC3339.match(text) else None
        base = parse_time(COLLECTED_AT)
        return rfc3339(moment + (self.now - base)) if moment and base else text

    def agent(self) -> dict[str, Any] | None:
        """The CNI agent pod on the evidence node."""
        return next((p for p in self.cluster.pods if p["spec"].get("nodeName") == NODE
                     and _is_agent(p)), None)

    def find_pod(self, namespace: str, prefix: str) -> dict[str, Any] | None:
        pods = [p for p in self.cluster.pods if p["metadata"]["namespace"] == namespace
                and p["metadata"]["name"].startswith(prefix)]
        return next((p for p in pods if p["spec"].get("nodeName") == NODE), pods[0] if pods else None)

    def workload_pod(self, namespace: str, prefix: str, container: str = "") -> dict[str, Any]:
        """The pod of ``namespace/prefix`` on the evidence node, added (healthy) when the base has none."""
        pod = self.find_pod(namespace, prefix)
        if pod is None:
            image = next((a[3] for a in AGENTS.values() if a[1] == prefix), f"registry.example.com/{prefix}:1.0")
            if _PER_NODE.search(prefix):
                self.cluster.daemonsets.append(synth.daemonset(namespace, prefix, image, desired=3, ready=3))
                for i, node in enumerate(self.cluster.names):
                    self.cluster.pods.append(synth.pod(namespace, f"{prefix}-{_suffix(prefix, i)}", node,
                                                       owner=("DaemonSet", prefix), image=image,
                                                       container_name=container or prefix, ip=f"10.0.0.{10 + i}",
                                                       host_network=True, labels={"k8s-app": prefix}))
            else:
                rs = f"{prefix}-{_suffix(prefix, 9)}"
                self.cluster.deployments.append(synth.deployment(namespace, prefix, image, replicas=1, ready=1))
                self.cluster.pods.append(synth.pod(namespace, f"{rs}-{_suffix(prefix, 1)}", NODE, image=image,
                                                   owner=("ReplicaSet", rs), container_name=container or prefix,
                                                   ip=self.cluster.ip(NODE), labels={"app": prefix}))
            pod = self.find_pod(namespace, prefix)
            assert pod is not None
        containers = pod["spec"]["containers"]
        if container and container not in {c["name"] for c in containers}:  # canal: kube-flannel, calico-node
            containers.append({**containers[0], "name": container})
            pod["status"]["containerStatuses"].append({**pod["status"]["containerStatuses"][0], "name": container})
        return pod

    def standalone_pod(self) -> dict[str, Any]:
        """A pod of its own on the evidence node (no Service depends on it), for pod events."""
        name = f"app-{_suffix(self.case.path.stem, 3)}"
        pod = self.find_pod("default", name)
        if pod is None:
            pod = synth.pod("default", f"{name}-{_suffix(name, 4)}", NODE, image="docker.io/library/nginx:1.27",
                            owner=("ReplicaSet", name), ip=self.cluster.ip(NODE))
            self.cluster.pods.append(pod)
        return pod


def _is_agent(pod: dict[str, Any]) -> bool:
    owner = (pod["metadata"].get("ownerReferences") or [{}])[0].get("name", "")
    return any(owner == a[1] for a in AGENTS.values()) or owner == "rke2-canal"


def _suffix(seed: str, n: int) -> str:
    return "".join("bcdfghjklmnpqrstvwxz2456789"[(ord(c) * 31 + n * 7 + i) % 27] for i, c in enumerate(seed * 2))[:5]


class _Base(Cluster):
    """The scenario cluster without its boot journal: the harness writes its own journal on the case's clock."""

    def _boot(self, node: str) -> list[str]:
        return []


def _base(case: Case, now: datetime) -> Snapshot:
    """A healthy cluster of the case's distribution and CNI, its clock moved to ``now``."""
    profile = case.distro if case.distro in PROFILE else "kubeadm"
    cluster = _Base(profile, noise=0)
    snap = Snapshot(case, now, cluster)
    agent = _agent(case, profile)
    if agent and not any(d["metadata"]["namespace"] == agent[0] and d["metadata"]["name"] == agent[1]
                         for d in cluster.daemonsets):
        cluster.daemonsets = [d for d in cluster.daemonsets if not _owned_by_agent(d["metadata"]["name"])]
        cluster.pods = [p for p in cluster.pods if not _is_agent(p)]
        namespace, ds, container, _, plugin = agent
        snap.workload_pod(namespace, ds, container)
        for node in cluster.names:
            cluster.cni_files[node] = {f"10-{case.cni}.conflist": _conflist(plugin)}
    _rewrite(_api_objects(cluster), snap.later)
    cert, _ = synth.certificate("shop.example.com", ["shop.example.com", "www.shop.example.com"],
                                snap.at(60 * 24 * 55), rfc3339(now + timedelta(days=37)), issuer="R11")
    cluster.secrets[0]["data"]["tls.crt"] = base64.b64encode(cert).decode()
    unit = "k3s" if profile == "k3s" else "kubelet"
    for node in cluster.names:
        cluster.kubelet[node] = [
            f'{snap.at(m).replace("Z", "+0000")} {node} {unit}[912]: I{(now - timedelta(minutes=m)):%m%d %H:%M:%S}'
            f'.{m:06d}     912 kubelet.go:2474] "SyncLoop (PLEG): event for pod" pod="shop/web" '
            f'event={{"Type":"ContainerStarted"}}' for m in (50, 35, 20)]
    return snap


def _agent(case: Case, profile: str) -> tuple[str, str, str, str, str] | None:
    """The CNI agent DaemonSet the case's cluster runs (k3s embeds flannel: none), in the namespace
    the case names for it (e.g. calico-system for operator installs)."""
    if case.cni not in AGENTS or (profile == "k3s" and case.cni == "flannel"):
        return None
    namespace, ds, container, image, plugin = AGENTS[case.cni]
    if profile == "rke2" and case.cni == "canal":
        ds = "rke2-canal"
    named = re.search(rf"(\S+)/{re.escape(ds)}\b", case.component)
    return (named.group(1) if named else namespace), ds, container, image, plugin


def _owned_by_agent(name: str) -> bool:
    return any(name == a[1] for a in AGENTS.values()) or name == "rke2-canal"


def _api_objects(cluster: Cluster) -> list[list[dict[str, Any]]]:
    return [cluster.nodes, cluster.pods, cluster.services, cluster.slices, cluster.daemonsets, cluster.deployments,
            cluster.ingresses, cluster.classes, cluster.events, cluster.policies]


def _rewrite(value: Any, fit: Callable[[str], str]) -> Any:
    """Apply ``fit`` to every string of API objects (in place)."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _rewrite(item, fit)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _rewrite(item, fit)
    elif isinstance(value, str):
        return fit(value)
    return value


def _journal(snap: Snapshot, unit: str, lines: list[str]) -> list[str]:
    """Journal lines as ``journalctl -o short-iso`` prints them; a pasted prefix is kept as it is."""
    out = []
    for line in lines:
        if _PREFIXED.match(line):
            out.append(line)
            continue
        stamp = line_time(line, snap.now) or snap.at(2)
        out.append(f"{stamp.replace('Z', '+0000')} {NODE} {unit}: {line}")
    return out


def _place_event(snap: Snapshot) -> None:
    """An Event naming an object of the base: ``component`` is ``Reason Kind [namespace/name-prefix]``."""
    case, c = snap.case, snap.cluster
    reason, kind, target = ([*case.component.split(), "", ""])[:3]
    namespace, name = "", NODE
    if kind == "Pod":
        pod = snap.workload_pod(*target.split("/", 1)) if "/" in target else snap.standalone_pod()
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    elif kind != "Node":
        namespace, name = target.split("/", 1) if "/" in target else _DEFAULT_TARGET[kind]
    event = synth.event(namespace, kind, name, reason, case.text.strip(), count=7, last=snap.at(1),
                        host=NODE if kind in ("Pod", "Node") else "")
    event["firstTimestamp"] = snap.at(25)
    if kind == "Node":
        event["involvedObject"].pop("namespace")
    c.events.append(event)


def _place(snap: Snapshot) -> None:
    case, c = snap.case, snap.cluster
    if case.where == "kubelet-log":
        c.kubelet[NODE] += _journal(snap, "k3s[912]" if case.distro == "k3s" else "kubelet[912]", case.lines)
    elif case.where == "node-journal":  # another unit's journal (kube-proxy, flanneld as services): one file
        c.kubelet[NODE] += case.lines
    elif case.where == "containerd-log":
        snap.containerd += _journal(snap, "containerd[688]", case.lines)
    elif case.where == "kernel-log":
        c.kernel[NODE] += _journal(snap, "kernel", case.lines)
    elif case.where in ("pod-log", "pod-previous-log"):
        namespace, prefix, container = case.component.split("/")
        pod = snap.workload_pod(namespace, prefix, container)
        suffix = ".previous.log" if case.where == "pod-previous-log" else ".log"
        c.logs[f"{namespace}/{pod['metadata']['name']}/{container}{suffix}"] = case.lines
    elif case.where == "node-condition":  # component: "<condition type> <reason>", the text is its message
        kind, reason = case.component.split()[:2]
        node = c.named(c.nodes, NODE)
        cond = next(x for x in node["status"]["conditions"] if x["type"] == kind)
        cond.update(status="False" if kind == "Ready" else "True", reason=reason, message=case.text.strip(),
                    lastTransitionTime=snap.at(10))
    else:
        _place_event(snap)


# -- settings: what else the thread establishes about the cluster ------------------------------------
def _pod_stuck_creating(snap: Snapshot) -> None:
    snap.cluster.break_pod(snap.standalone_pod())


def _cni_agent(snap: Snapshot, reason: str) -> None:
    agent = snap.agent()
    if agent is None:
        raise CaseError(f"{snap.case.path}: setting needs a CNI agent pod, but CNI {snap.case.cni!r} on "
                        f"{snap.case.distro} runs none")
    snap.cluster.break_pod(agent, reason, "Running")
    status = agent["status"]["containerStatuses"][0]
    status["restartCount"] = 14 if reason else 0
    if not reason:
        status["state"] = {"running": {"startedAt": snap.at(90)}}


def _kube_proxy_not_ready(snap: Snapshot) -> None:
    snap.cluster.break_pod(snap.workload_pod("kube-system", "kube-proxy", "kube-proxy"))


def _cni_config_missing(snap: Snapshot) -> None:
    snap.cluster.cni_files[NODE] = {}


def _no_podcidr(snap: Snapshot) -> None:
    node = snap.cluster.named(snap.cluster.nodes, NODE)
    node["spec"].pop("podCIDR", None)
    node["spec"].pop("podCIDRs", None)


def _lb_service_pending(snap: Snapshot) -> None:
    """A LoadBalancer Service in front of the web pods that got no external address."""
    c = snap.cluster
    c.services.append(synth.service("shop", "gateway", {"app": "web"}, type_="LoadBalancer",
                                    ports=[{"name": "https", "port": 443, "targetPort": "http"}]))
    c.slices.append(synth.endpointslice("shop", "gateway", [(p["metadata"]["name"], p["status"]["podIP"], True)
                                                             for p in c.pods_of("shop", "web")], 8080))


SETTINGS: dict[str, Callable[[Snapshot], None]] = {
    "pod-stuck-creating": _pod_stuck_creating,  # a pod on the node waits in ContainerCreating
    "cni-agent-crashloop": lambda snap: _cni_agent(snap, "CrashLoopBackOff"),  # the node's CNI agent crashes
    "cni-agent-not-ready": lambda snap: _cni_agent(snap, ""),  # the node's CNI agent runs but is not ready
    "kube-proxy-not-ready": _kube_proxy_not_ready,  # kube-proxy on the node is not running
    "cni-config-missing": _cni_config_missing,  # /etc/cni/net.d on the node is empty
    "no-podcidr": _no_podcidr,  # the node has no spec.podCIDR
    "lb-service-pending": _lb_service_pending,  # a LoadBalancer Service waits for an address
}


def build_snapshot(case: Case, root: Path) -> Path:
    """Write the case's snapshot under ``root``; returns its directory."""
    now = collected_at(case)
    snap = _base(case, now)
    _place(snap)
    for name in case.setting:
        SETTINGS[name](snap)
    pool, cidr = (str(PROFILE[snap.cluster.distro][k]).split(".", 2)[:2] for k in ("pool", "cidr"))
    if case.cni in POD_CIDR_IPAM and pool != cidr:  # host-local IPAM: pod IPs come from the node's podCIDR
        old, new = ".".join(pool) + ".", ".".join(cidr) + "."
        _rewrite(_api_objects(snap.cluster), lambda text: new + text[len(old):] if text.startswith(old) else text)
    snap.cluster.write(root, {"description": case.diagnosis, "findings": sorted(case.expected)})
    (root / "expected.yaml").unlink()
    namespaces = root / "api" / "namespaces.json"  # written by the builder, on the base's clock
    synth.write_list(namespaces, _rewrite(json.loads(namespaces.read_text())["items"], snap.later))
    if snap.containerd:
        (root / "nodes" / NODE / "containerd.log").write_text("\n".join(snap.containerd) + "\n")
    (root / "snapshot.yaml").write_text(yaml.safe_dump(
        {"format": "kubetriage/v1", "cluster": f"realworld-{case.path.stem}", "collected_at": rfc3339(now)}))
    return root


# -- running and scoring --------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    case: Case
    found: frozenset[str]

    @property
    def missing(self) -> frozenset[str]:
        return self.case.expected - self.found

    @property
    def extra(self) -> frozenset[str]:
        return self.found - self.case.expected

    @property
    def recognised(self) -> bool:
        """Every expected rule fired; a near-miss (nothing expected) is recognised when nothing fired."""
        return not self.missing and (bool(self.case.expected) or not self.found)


def run_case(case: Case, knowledge: Knowledge, workdir: Path) -> Result:
    bundle = SnapshotBundle(build_snapshot(case, workdir / case.klass / case.path.stem))
    report = triage(bundle, knowledge, resolve_now(bundle, None))
    return Result(case, frozenset(f.rule_id for f in report.findings))


@dataclass(frozen=True)
class Row:
    klass: str
    cases: int
    recognised: int
    false_positives: int
    near_misses: int

    @property
    def rate(self) -> float:
        return self.recognised / self.cases if self.cases else 1.0


def table(results: list[Result]) -> list[Row]:
    """One row per class, then the total."""
    rows = []
    for klass in [*sorted({r.case.klass for r in results}), "all"]:
        mine = [r for r in results if klass in ("all", r.case.klass)]
        rows.append(Row(klass, len(mine), sum(r.recognised for r in mine), sum(bool(r.extra) for r in mine),
                        sum(not r.case.expected for r in mine)))
    return rows


def render(rows: list[Row]) -> str:
    """The table as Markdown (README "Real-world accuracy")."""
    out = ["| class | cases | of which near-misses | recognised | false positives |",
           "|---|---:|---:|---:|---:|"]
    for row in rows:
        label = f"**{row.klass}**" if row.klass == "all" else row.klass
        out.append(f"| {label} | {row.cases} | {row.near_misses} | {row.recognised} ({row.rate:.0%}) "
                   f"| {row.false_positives} |")
    return "\n".join(out)


def run_all(knowledge: Knowledge, workdir: Path) -> list[Result]:
    return [run_case(case, knowledge, workdir) for case in load_cases(r.id for r in knowledge.rules)]


def readme_with_table(readme: str, table_md: str) -> str:
    """``readme`` with the table between its realworld markers replaced."""
    start, end = "<!-- realworld:start -->\n", "\n<!-- realworld:end -->"
    head, found, rest = readme.partition(start)
    if not found or end not in rest:
        raise ValueError("README has no realworld markers")
    return head + start + table_md + end + rest.split(end, 1)[1]


def main(argv: list[str]) -> None:
    """Print the table; ``--readme FILE`` also writes it into FILE between the realworld markers."""
    knowledge = Knowledge.load()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(knowledge, Path(tmp))
    for r in results:
        if not r.recognised or r.extra:
            print(f"{r.case.name}: missing {sorted(r.missing)} extra {sorted(r.extra)}", file=sys.stderr)
    table_md = render(table(results))
    print(table_md)
    if argv[:1] == ["--readme"] and len(argv) == 2:
        readme = Path(argv[1])
        readme.write_text(readme_with_table(readme.read_text(encoding="utf-8"), table_md), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
