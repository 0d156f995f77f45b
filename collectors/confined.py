"""Read a directory tree without ever leaving it: snapshots are untrusted input.

People send snapshots to each other, so a file in one may be a link to
``/etc/shadow``, a FIFO that blocks its reader, a device, or a 1 GB log. Every
path is resolved and must stay inside the root; only regular files are opened
(without blocking); reads are bounded: a log keeps its tail, a line its head,
and whatever was cut is reported.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from kubetriage.bundle import MAX_LINE

#: A log keeps at most its last MAX_LOG_BYTES; a line keeps its first MAX_LINE bytes.
MAX_LOG_BYTES = 64 * 1024 * 1024
#: A file read whole (CNI config, IPAM listing, snapshot.yaml) is at most this big.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Entries read from one directory.
MAX_ENTRIES = 10_000

#: What a file or directory name of a snapshot may be: a Kubernetes-style name, no
#: whitespace, control characters or leading dot (so no ``..`` and no hidden files).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")
_TYPES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class Refused(Exception):
    """A path that is present but must not be read; the message says why (never its content)."""


def shown(name: str) -> str:
    """A name as it may be printed: control and non-ASCII characters escaped (``\\x1b``)."""
    return ascii(name)[1:-1]


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


class Confined:
    """Paths below ``root``, checked before every use; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def rel(self, path: Path) -> str:
        """The path relative to the root, printable."""
        return shown(path.relative_to(self.root).as_posix())

    def kind(self, path: Path) -> str:
        """'file', 'dir' or '' (absent). Raises Refused for a link leading out of the root,
        a dangling or looping link, a device, FIFO or socket."""
        try:
            path.lstat()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise Refused(f"cannot read: {exc.strerror}") from None
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            raise Refused("a link to nothing") from None
        except (OSError, RuntimeError):
            raise Refused("a link that cannot be resolved (a loop?)") from None
        if not real.is_relative_to(self.root):
            raise Refused("a link that leads outside the snapshot: not followed") from None
        mode = real.stat().st_mode
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISDIR(mode):
            return "dir"
        raise Refused(_type_name(mode) + ": not read")

    def expect(self, path: Path, want: str) -> bool:
        """Whether ``path`` is present as ``want`` ('file' or 'dir'); Refused if it is something else."""
        found = self.kind(path)
        if found and found != want:
            raise Refused(f"a {'directory' if found == 'dir' else 'file'} where a "
                          f"{'directory' if want == 'dir' else 'file'} belongs: not read")
        return found == want

    def entries(self, directory: Path) -> list[Path]:
        """The entries of a directory, sorted, at most MAX_ENTRIES (Refused beyond)."""
        names = []
        with os.scandir(directory.resolve()) as scan:
            for entry in scan:
                names.append(entry.name)
                if len(names) > MAX_ENTRIES:
                    raise Refused(f"more than {MAX_ENTRIES} entries: not read")
        return [directory / name for name in sorted(names)]

    def open(self, path: Path) -> BinaryIO:
        """A regular file inside the root, opened without following a last-moment link or blocking."""
        self.expect(path, "file")
        try:
            fd = os.open(path.resolve(), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise Refused(f"cannot read: {exc.strerror}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise Refused(_type_name(mode) + ": not read")
        return os.fdopen(fd, "rb")

    def read(self, path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
        """A whole small file; Refused when it is larger than ``limit``."""
        with self.open(path) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise Refused(f"larger than {limit} bytes: not read")
        return data

    def lines(self, path: Path, note: Callable[[str], None]) -> Iterator[str]:
        """The lines of a log, lazily: its last MAX_LOG_BYTES, each line cut at MAX_LINE bytes.
        ``note`` receives what was cut (or why the file could not be read)."""
        try:
            f = self.open(path)
        except Refused as exc:
            note(str(exc))
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_LOG_BYTES:
                f.seek(size - MAX_LOG_BYTES)
                _rest_of_line(f)
                note(f"{size} bytes: only the last {MAX_LOG_BYTES} read")
            cut = 0
            while raw := f.readline(MAX_LINE + 1):
                if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                    cut += 1
                    _rest_of_line(f)
                    raw = raw[:MAX_LINE]
                yield raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if cut:
                note(f"{cut} line(s) longer than {MAX_LINE} bytes: cut to their first {MAX_LINE} bytes")


def _rest_of_line(f: BinaryIO) -> None:
    while (chunk := f.readline(1 << 20)) and not chunk.endswith(b"\n"):
        pass


def _type_name(mode: int) -> str:
    return next((name for test, name in _TYPES if test(mode)), "not a regular file")
