"""Real OpenSSH sshd instances on 127.0.0.1 for tests, each serving a fake node in a chroot.

A node root holds bash and busybox (so the collector's commands really run), a
``journalctl`` that prints recorded journal lines, and the distribution's files
(``/etc/cni/net.d``, ``/var/lib/rancher/...``, ``/var/lib/cni/networks``). sshd
insists that every component of a chroot path is root-owned and not writable by
others, so roots live under /run rather than /tmp.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
APPLETS = ("sh", "find", "tar", "xargs", "tail", "cat", "ls", "test", "[", "printf", "head", "sleep", "echo")

JOURNALCTL = """#!/bin/sh
# Test stand-in: prints the recorded journal of each -u UNIT (or -k: the kernel).
for arg in "$@"; do
  case "$prev" in -u) [ -f "/fixture/journal/$arg.log" ] && cat "/fixture/journal/$arg.log";; esac
  case "$arg" in -k) [ -f /fixture/journal/kernel.log ] && cat /fixture/journal/kernel.log;; esac
  prev="$arg"
done
exit 0
"""
HANGING_JOURNALCTL = "#!/bin/sh\nsleep 3600\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> str:
    """An ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class NodeRoot:
    """A chroot that looks enough like a node for the collector's fixed commands."""

    path: Path
    files: dict[str, str] = field(default_factory=dict)
    journal: dict[str, str] = field(default_factory=dict)
    hang: bool = False

    def build(self) -> Path:
        root = self.path
        (root / "bin").mkdir(parents=True)
        shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        shutil.copy("/bin/bash", root / "bin" / "bash")
        libs = subprocess.run(["ldd", "/bin/bash"], capture_output=True, text=True, check=True).stdout
        for lib in {w for w in libs.split() if w.startswith("/")}:
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib, target)
        journalctl = root / "usr" / "bin" / "journalctl"
        journalctl.parent.mkdir(parents=True)
        journalctl.write_text(HANGING_JOURNALCTL if self.hang else JOURNALCTL)
        journalctl.chmod(0o755)
        for unit, text in self.journal.items():
            self._write(f"/fixture/journal/{unit}.log", text)
        for name, text in self.files.items():
            self._write(name, text)
        return root

    def _write(self, name: str, text: str) -> None:
        path = self.path / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@dataclass
class Sshd:
    """One sshd process; ``chroot`` None means a plain host (a jump host)."""

    workdir: Path
    authorized_key: str
    chroot: Path | None = None
    port: int = 0
    host_key: str = ""

    def start(self) -> Sshd:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host_key = keygen(self.workdir / "host_key")
        (self.workdir / "authorized_keys").write_text(self.authorized_key + "\n")
        config = [
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.workdir / 'host_key'}",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}", f"PidFile {self.workdir / 'sshd.pid'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no", "MaxStartups 200", "MaxSessions 200", "LogLevel ERROR",
            f"AllowTcpForwarding {'no' if self.chroot else 'yes'}",
        ]
        if self.chroot:
            config.append(f"ChrootDirectory {self.chroot}")
        (self.workdir / "sshd_config").write_text("\n".join(config) + "\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.workdir / "sshd_config")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"sshd exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def known_hosts_line(self) -> str:
        kind, key = self.host_key.split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def chroot_base() -> Path:
    """A root-owned, not world-writable directory for chroots (sshd checks every component)."""
    base = Path(tempfile.mkdtemp(prefix="kubetriage-sshd-", dir="/run"))
    base.chmod(0o755)
    return base
