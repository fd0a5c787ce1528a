"""Writing files so that no reader ever sees a partial one, and the token sink built on that."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` in one step.

    The bytes go to a temporary file in the same directory (a rename is only atomic within one
    file system), get the final permissions *before* the rename (so the file is never briefly
    more open than asked), are fsynced, and then renamed over the target; the directory is
    fsynced too so the rename survives a crash. Readers see the old file or the new one.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp_name, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSink:
    """Keeps the current access token in a file (mode 0600 by default), rewritten when it changes."""

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self.mode = mode
        self._written: str | None = None

    def write(self, token: str) -> bool:
        """True when the file was (re)written."""
        if token == self._written and self.path.exists():
            return False
        atomic_write(self.path, token.encode(), self.mode)
        self._written = token
        return True
