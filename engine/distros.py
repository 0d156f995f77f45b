"""Where each Kubernetes distribution keeps the node files kubetriage reads: one table, used by the
SSH collector (what it reads on a node) and by the runbooks (what they tell an SRE to type there),
so the two never disagree."""

from __future__ import annotations

from dataclasses import dataclass

#: Host-local IPAM reservations, one directory per network; the same on every distribution.
IPAM_DIR = "/var/lib/cni/networks"


@dataclass(frozen=True)
class Layout:
    """A distribution's node files. A log source is a file path or ``journal:unit[,unit]``."""

    kubelet: str
    containerd: str
    cni_dirs: tuple[str, ...]

    def commands(self) -> dict[str, str]:
        """The shell command that reads each of them on the node (runbooks' ``node_files``)."""
        return {"kubelet_log": _reader(self.kubelet), "cni_config": "ls -l " + " ".join(f"{d}/" for d in self.cni_dirs)}


LAYOUTS: dict[str, Layout] = {
    "kubeadm": Layout("journal:kubelet", "journal:containerd", ("/etc/cni/net.d",)),
    "rke2": Layout("/var/lib/rancher/rke2/agent/logs/kubelet.log",
                   "/var/lib/rancher/rke2/agent/containerd/containerd.log",
                   ("/etc/cni/net.d", "/var/lib/rancher/rke2/agent/etc/cni/net.d")),
    "k3s": Layout("journal:k3s,k3s-agent", "/var/lib/rancher/k3s/agent/containerd/containerd.log",
                  ("/var/lib/rancher/k3s/agent/etc/cni/net.d", "/etc/cni/net.d")),
}


def layout(distro: str) -> Layout:
    """The layout of ``distro``; kubeadm's (the upstream default) for one not known."""
    return LAYOUTS.get(distro, LAYOUTS["kubeadm"])


def _reader(source: str) -> str:
    if source.startswith("journal:"):
        units = " ".join(f"-u {unit}" for unit in source.removeprefix("journal:").split(","))
        return f"journalctl {units} --since -30min --no-pager"
    return f"tail -n 300 {source}"
