"""Node evidence over SSH against real OpenSSH sshd processes on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetriage.bundle import NodeFiles
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.collectors.ssh import SshNodeBundle, SshSettings, SshTarget, load_inventory, parse_duration
from kubetriage.errors import KubetriageError, ValidationError

from .apiserver import FakeApiServer
from .conftest import HEALTHY, Run
from .sshd import NodeRoot, Sshd, chroot_base, free_port, keygen

NOT_READY = ('E1125 10:{m:02d}:02.118304    1187 kubelet.go:2900] "Container runtime network not ready" '
             'networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns '
             'error: cni plugin not initialized"')
NO_IPS = ('2026-11-25T10:{m:02d}:07+0000 worker-1 kubelet[912]: E1125 10:{m:02d}:07.5 912 '
          'log.go:32] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = '
          'failed to setup network for sandbox \\"9a\\": plugin type=\\"calico\\" failed (add): failed to '
          'allocate for range 0: no IP addresses available in range set: 10.42.1.1-10.42.1.254"')
NOISE = '2026-11-25T10:00:{s:02d}+0000 {node} kubelet[912]: I1125 10:00:{s:02d}.1 912 kubelet.go:2474] "SyncLoop"'
#: Explicit, generous timeouts for CLI runs (API request, SSH connect, SSH command).
TIMEOUTS = ("--request-timeout", "30", "--ssh-timeout", "30", "--ssh-command-timeout", "60")
CONFLIST = '{"name": "k8s-pod-network", "cniVersion": "0.3.1", "plugins": [{"type": "calico"}]}'


def _ipam(count: int) -> dict[str, str]:
    files = {f"/var/lib/cni/networks/k8s-pod-network/10.42.1.{i}": "c1d2\neth0\n" for i in range(2, 2 + count)}
    files["/var/lib/cni/networks/k8s-pod-network/last_reserved_ip.0"] = "10.42.1.254"
    return files


NODES: dict[str, NodeRoot] = {
    # worker-2: RKE2, canal down: the kubelet log file says the CNI is not initialized, no CNI config.
    "worker-2": NodeRoot(Path(), files={
        "/var/lib/rancher/rke2/agent/logs/kubelet.log": "\n".join(NOT_READY.format(m=m) for m in range(5)) + "\n",
        "/var/lib/rancher/rke2/agent/containerd/containerd.log": "time=x level=info msg=started\n"}),
    # worker-1: kubeadm, every IP of 10.42.1.0/24 reserved, mostly leaked; a credential file beside the config.
    "worker-1": NodeRoot(Path(), files={
        "/etc/cni/net.d/10-calico.conflist": CONFLIST,
        "/etc/cni/net.d/calico-kubeconfig": "users: [{user: {token: must-never-be-copied}}]\n", **_ipam(253)},
        journal={"kubelet": "\n".join([NOISE.format(s=s, node="worker-1") for s in range(40)]
                                      + [NO_IPS.format(m=m) for m in range(3)]) + "\n"}),
    # cp-1: k3s, healthy.
    "cp-1": NodeRoot(Path(), files={"/var/lib/rancher/k3s/agent/etc/cni/net.d/10-flannel.conflist":
                                    '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}]}',
                                    "/var/lib/rancher/k3s/agent/.keep": ""},
                     journal={"k3s": NOISE.format(s=1, node="cp-1") + "\n"}),
}


@dataclass
class Lab:
    """sshd per fake node, a jump host, a user key and the matching known_hosts and ssh config."""

    base: Path
    key: Path
    sshd: dict[str, Sshd]
    known_hosts: Path
    ssh_config: Path

    def settings(self, **overrides: Any) -> SshSettings:
        # Generous, explicit timeouts: these tests run on loaded machines.
        values: dict[str, Any] = {"user": "root", "key_file": str(self.key), "known_hosts": self.known_hosts,
                                  "ssh_config": self.ssh_config, "connect_timeout": 30.0,
                                  "command_timeout": 60.0}
        return SshSettings(**{**values, **overrides})

    def target(self, node: str, name: str | None = None) -> SshTarget:
        return SshTarget(name or node, "127.0.0.1", self.sshd[node].port)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    base = chroot_base()
    key = base / "user_key"
    public = keygen(key)
    roots = {**NODES, "hang": NodeRoot(Path(), files={"/etc/cni/net.d/x.conf": "{}"}, hang=("journalctl",)),
             "slow-dirs": NodeRoot(Path(), files={"/etc/cni/net.d/x.conf": "{}"}, hang=("find",),
                                   journal={"kubelet": NOISE.format(s=1, node="slow-dirs") + "\n"})}
    servers: dict[str, Sshd] = {}
    try:
        for name, root in roots.items():
            root.path = base / "roots" / name
            servers[name] = Sshd(base / "sshd" / name, public, chroot=root.build()).start()
        servers["jump"] = Sshd(base / "sshd" / "jump", public).start()
        known = base / "known_hosts"
        known.write_text("".join(s.known_hosts_line() + "\n" for s in servers.values()))
        config = base / "ssh_config"
        entries = [f"Host {n}\n  HostName 127.0.0.1\n  Port {s.port}\n" for n, s in servers.items()]
        # Anything else (e.g. a node's real InternalIP) goes to a closed local port, never off the machine.
        entries.append(f"Host *\n  HostName 127.0.0.1\n  Port {free_port()}\n")
        config.write_text("".join(entries))
        yield Lab(base, key, servers, known, config)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _read(lab: Lab, targets: list[SshTarget], **settings: Any) -> tuple[dict[str, NodeFiles], list[Any]]:
    bundle = SshNodeBundle(SnapshotBundle(HEALTHY), lab.settings(**settings), targets)
    files = {f.node: f for f in bundle.node_files()}
    return files, bundle.errors


def test_each_distribution_is_detected_and_read(lab: Lab) -> None:
    files, errors = _read(lab, [lab.target(n) for n in NODES])
    assert errors == []
    assert any("cni plugin not initialized" in line for line in files["worker-2"].logs["kubelet.log"])
    assert files["worker-2"].logs["containerd.log"] == ["time=x level=info msg=started"]
    assert files["worker-2"].dirs["cni"] == {}  # no config: evidence, not a gap
    assert files["worker-1"].dirs["cni"] == {"10-calico.conflist": CONFLIST}  # never the kubeconfig
    assert len(files["worker-1"].dirs["ipam"]["k8s-pod-network"].split()) == 254
    assert len(list(files["worker-1"].logs["kubelet.log"])) == 43
    assert "10-flannel.conflist" in files["cp-1"].dirs["cni"]
    assert next(iter(files["cp-1"].logs["kubelet.log"])).startswith("2026-11-25T10:00:01+0000 cp-1")


def test_collect_over_ssh_then_triage_quotes_the_node_logs(lab: Lab, cluster: FakeApiServer, tmp_path: Path,
                                                           kubetriage: Run) -> None:
    out = tmp_path / "snap"
    proc = kubetriage("collect", "-o", out, "--kubeconfig", cluster.kubeconfig(tmp_path / "kc"), "--ssh",
                      "--ssh-user", "root", "--ssh-key", lab.key, "--ssh-known-hosts", lab.known_hosts,
                      "--ssh-config", lab.ssh_config, *TIMEOUTS)
    assert yaml.safe_load((out / "snapshot.yaml").read_text())["errors"] == []
    assert proc.returncode == 0, proc.stderr
    assert (out / "nodes" / "worker-1" / "cni" / "10-calico.conflist").exists()
    assert "must-never-be-copied" not in "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    report = json.loads(kubetriage("triage", "--snapshot", out, "-o", "json", "--fail-on", "never",
                                   "--now", "2026-11-25T10:32:00Z").stdout)  # the day of the fixture's logs
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    assert "Node/worker-2" in by_rule["NET-CNI-002"]["subjects"]
    assert any(e.startswith("kubelet-log on worker-2: 5×") and "cni plugin not initialized" in e
               for e in by_rule["NET-CNI-002"]["evidence"])
    ip = by_rule["NET-CNI-004"]
    assert ip["subjects"][0] == "Node/worker-1" and ip["root_cause"]
    assert any("no IP addresses available in range set" in e for e in ip["evidence"])
    assert any("253 of 253 IPs reserved, 251 held by no pod on the node (leaked)" in e for e in ip["evidence"])


def test_a_changed_host_key_is_refused_loudly(lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    other = keygen(tmp_path / "other").split()
    known.write_text(f"[127.0.0.1]:{lab.sshd['cp-1'].port} {other[0]} {other[1]}\n")
    files, errors = _read(lab, [lab.target("cp-1")], known_hosts=known, host_key_policy="accept-new")
    assert files == {}
    (error,) = errors
    assert error.target == "cp-1" and error.message.startswith("HOST KEY MISMATCH for node cp-1")
    assert "man-in-the-middle" in error.message


def test_unknown_host_key_needs_accept_new(lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    files, errors = _read(lab, [lab.target("cp-1")], known_hosts=known)
    assert files == {} and "unknown host key for 127.0.0.1" in errors[0].message
    assert "--ssh-host-key-policy accept-new" in errors[0].message
    files, errors = _read(lab, [lab.target("cp-1")], known_hosts=known, host_key_policy="accept-new")
    assert errors == [] and "cp-1" in files
    assert known.read_text().startswith(f"[127.0.0.1]:{lab.sshd['cp-1'].port} ssh-ed25519 ")


def test_authentication_failure(lab: Lab, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger")
    _, errors = _read(lab, [lab.target("cp-1")], key_file=str(tmp_path / "stranger"))
    assert errors[0].message.startswith("authentication failed for root@127.0.0.1:")


def test_closed_port_is_unreachable(lab: Lab) -> None:
    _, errors = _read(lab, [SshTarget("gone", "127.0.0.1", free_port())])
    assert errors[0].target == "gone" and errors[0].message.startswith("unreachable: 127.0.0.1:")


def test_a_hung_node_costs_only_its_timeout(lab: Lab) -> None:
    files, errors = _read(lab, [lab.target("hang"), lab.target("cp-1")], command_timeout=5.0)
    assert {"target": "hang/kubelet.log", "message": "kubelet.log: timed out after 5s"} in [
        {"target": e.target, "message": e.message} for e in errors]
    assert "cp-1" in files


def test_a_hung_directory_read_keeps_the_logs_already_read(lab: Lab) -> None:
    files, errors = _read(lab, [lab.target("slow-dirs")], command_timeout=5.0, distro="kubeadm")
    assert [(e.target, e.message) for e in errors] == [
        ("slow-dirs/cni", "cni config: timed out after 5s"), ("slow-dirs/ipam", "ipam state: timed out after 5s")]
    assert files["slow-dirs"].logs["kubelet.log"] == [NOISE.format(s=1, node="slow-dirs")]
    assert files["slow-dirs"].dirs == {}  # neither directory was read: not collected, not empty


def test_fifty_nodes_in_parallel(lab: Lab) -> None:
    targets = [lab.target("cp-1", name=f"node-{i:02d}") for i in range(50)]
    files, errors = _read(lab, targets, concurrency=16)
    assert errors == [] and sorted(files) == [t.node for t in targets]


def test_proxy_jump_through_a_second_sshd(lab: Lab) -> None:
    jump = f"root@127.0.0.1:{lab.sshd['jump'].port}"
    files, errors = _read(lab, [lab.target("cp-1")], jump=jump)
    assert errors == [] and "10-flannel.conflist" in files["cp-1"].dirs["cni"]


def test_sudo_missing_is_a_coverage_error(lab: Lab) -> None:
    _, errors = _read(lab, [lab.target("cp-1")], sudo=True, distro="k3s")
    assert any("command not found on the node" in e.message for e in errors)


def test_inventory_file(tmp_path: Path, lab: Lab) -> None:
    good = tmp_path / "nodes.yaml"
    good.write_text(yaml.safe_dump({"defaults": {"user": "root"}, "nodes": {
        "cp-1": {"host": "127.0.0.1", "port": lab.sshd["cp-1"].port, "distro": "k3s"}}}))
    (target,) = load_inventory(good)
    assert (target.node, target.port, target.user, target.distro) == ("cp-1", lab.sshd["cp-1"].port, "root", "k3s")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  cp-1:\n    host: 127.0.0.1\n    prot: 22\n")
    with pytest.raises(ValidationError) as raised:
        load_inventory(bad)
    assert str(raised.value).startswith(f"{bad}:4:5: E130 unknown key 'prot' (allowed: distro, host")


def test_durations_and_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [parse_duration(t) for t in ("30m", "2h", "1h30m", "90s", "45")] == [1800, 7200, 5400, 90, 45]
    with pytest.raises(KubetriageError, match="not a duration"):
        parse_duration("soon")
    monkeypatch.delenv("KT_TEST_PASSWORD", raising=False)
    with pytest.raises(KubetriageError, match="KT_TEST_PASSWORD, which is not set"):
        SshNodeBundle(SnapshotBundle(HEALTHY), SshSettings(password_env="KT_TEST_PASSWORD"), [])


def test_ssh_and_snapshot_do_not_mix(kubetriage: Run) -> None:
    proc = kubetriage("triage", "--snapshot", HEALTHY, "--ssh")
    assert proc.returncode == 2 and "cannot be combined with --snapshot" in proc.stderr


def test_ssh_defaults_come_from_the_config_file(lab: Lab, cluster: FakeApiServer, tmp_path: Path,
                                                kubetriage: Run) -> None:
    inventory = tmp_path / "nodes.yaml"
    inventory.write_text(yaml.safe_dump({"nodes": {
        name: {"host": "127.0.0.1", "port": lab.sshd[name].port} for name in NODES}}))
    config = tmp_path / "kubetriage.yaml"
    config.write_text(yaml.safe_dump({"ssh": {"user": "root", "key": str(lab.key), "known_hosts": str(lab.known_hosts),
                                              "inventory": "nodes.yaml", "distro": "auto"},
                                      "thresholds": {"log_window": "2h"}}))
    out = tmp_path / "snap"
    proc = kubetriage("collect", "-o", out, "--kubeconfig", cluster.kubeconfig(tmp_path / "kc"), "--config", config,
                      "--ssh-config", tmp_path / "none", *TIMEOUTS)
    assert yaml.safe_load((out / "snapshot.yaml").read_text())["errors"] == []
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "nodes").iterdir()) == sorted(NODES)
