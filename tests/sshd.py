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
import threading
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
HANGING = "#!/bin/sh\nsleep 3600\n"


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
    hang: tuple[str, ...] = ()  # commands that never return ("journalctl", or an applet such as "find")
    scripts: dict[str, str] = field(default_factory=dict)  # executables, e.g. /usr/sbin/ip replaying output

    def build(self) -> Path:
        root = self.path
        (root / "bin").mkdir(parents=True)
        shutil.copy("/usr/bin/busybox", root / "bin" / "busybox")
        for applet in APPLETS:
            if applet in self.hang:
                self._write(f"/bin/{applet}", HANGING)
                (root / "bin" / applet).chmod(0o755)
            else:
                (root / "bin" / applet).symlink_to("busybox")
        shutil.copy("/bin/bash", root / "bin" / "bash")
        libs = subprocess.run(["ldd", "/bin/bash"], capture_output=True, text=True, check=True).stdout
        for lib in {w for w in libs.split() if w.startswith("/")}:
            target = root / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib, target)
        journalctl = root / "usr" / "bin" / "journalctl"
        journalctl.parent.mkdir(parents=True)
        journalctl.write_text(HANGING if "journalctl" in self.hang else JOURNALCTL)
        journalctl.chmod(0o755)
        for unit, text in self.journal.items():
            self._write(f"/fixture/journal/{unit}.log", text)
        for name, text in self.files.items():
            self._write(name, text)
        for name, text in self.scripts.items():
            self._write(name, text)
            (root / name.lstrip("/")).chmod(0o755)
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
        """Listen on a port this process owns (no free-port race), and hand each connection
        to ``sshd -i`` as inetd and systemd socket activation do."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(self.workdir / "host_key")
        (self.workdir / "authorized_keys").write_text(self.authorized_key + "\n")
        config = [
            f"HostKey {self.workdir / 'host_key'}", f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "PidFile none", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "LogLevel ERROR",
            f"AllowTcpForwarding {'no' if self.chroot else 'yes'}",
        ]
        if self.chroot:
            config.append(f"ChrootDirectory {self.chroot}")
        self.config = self.workdir / "sshd_config"
        self.config.write_text("\n".join(config) + "\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        checked = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"sshd rejects its config: {checked.stderr}")
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = int(self.listener.getsockname()[1])
        self.sessions: list[subprocess.Popen[bytes]] = []
        threading.Thread(target=self._serve, daemon=True, name=f"sshd-{self.port}").start()
        return self

    def _serve(self) -> None:
        log = (self.workdir / "sshd.log").open("ab")
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # stop() closed the listener
                log.close()
                return
            with connection:
                self.sessions.append(subprocess.Popen([SSHD, "-i", "-e", "-f", str(self.config)],
                                                      stdin=connection.fileno(), stdout=connection.fileno(),
                                                      stderr=log))

    def known_hosts_line(self) -> str:
        kind, key = self.host_key.split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}"

    def stop(self) -> None:
        self.listener.close()
        for session in self.sessions:
            session.terminate()
            session.wait(timeout=10)


def chroot_base() -> Path:
    """A root-owned, not world-writable directory for chroots (sshd checks every component)."""
    base = Path(tempfile.mkdtemp(prefix="kubetriage-sshd-", dir="/run"))
    base.chmod(0o755)
    return base
