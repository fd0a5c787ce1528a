"""Where `tessera login` keeps credentials: the OS keyring when one is usable, else a 0600 file.

The file is `credentials.json` in `$TESSERA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/tessera`, else
`~/.config/tessera` (`%APPDATA%\\tessera` on Windows). The `keyring` package is optional: it is
used only when importable and backed by a real keyring (set TESSERA_NO_KEYRING=1 to skip it).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from tessera_agent.sinks import atomic_write

KEYRING_SERVICE = "tessera"
KEYRING_USER = "default"
FILE_NAME = "credentials.json"


class CredentialStoreError(Exception):
    pass


def config_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("TESSERA_CONFIG_DIR"):
        return Path(env["TESSERA_CONFIG_DIR"])
    if sys.platform == "win32" and env.get("APPDATA"):  # pragma: no cover - Windows
        return Path(env["APPDATA"]) / "tessera"
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tessera"


def _usable_keyring() -> Any:
    """The keyring module if it is installed and backed by something real, else None."""
    if os.environ.get("TESSERA_NO_KEYRING") == "1":
        return None
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
        import keyring.errors  # type: ignore[import-not-found, unused-ignore]
    except Exception:
        return None
    try:
        backend = keyring.get_keyring()
        priority = float(getattr(backend, "priority", 0))
    except Exception:
        return None
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if priority <= 0 or name.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return None
    return keyring


class CredentialStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / FILE_NAME
        self._keyring = _usable_keyring()

    @property
    def location(self) -> str:
        return "the OS keyring" if self._keyring is not None else str(self.path)

    def load(self) -> dict[str, Any] | None:
        if self._keyring is not None:
            try:
                raw = self._keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
            except Exception as exc:
                raise CredentialStoreError(f"cannot read the OS keyring ({type(exc).__name__})") from None
            return _parse(raw, "the OS keyring") if raw else None
        if not self.path.exists():
            return None
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if os.name == "posix" and mode & 0o077:
            raise CredentialStoreError(
                f"{self.path} is accessible to other users (mode {mode:04o}); run: chmod 600 {self.path}"
            )
        return _parse(self.path.read_text(), str(self.path))

    def save(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, sort_keys=True)
        if self._keyring is not None:
            try:
                self._keyring.set_password(KEYRING_SERVICE, KEYRING_USER, text)
            except Exception as exc:
                raise CredentialStoreError(f"cannot write to the OS keyring ({type(exc).__name__})") from None
            return
        atomic_write(self.path, text.encode(), 0o600)

    def delete(self) -> bool:
        removed = False
        if self._keyring is not None:
            try:
                self._keyring.delete_password(KEYRING_SERVICE, KEYRING_USER)
                removed = True
            except Exception:
                removed = False
        if self.path.exists():
            self.path.unlink()
            removed = True
        return removed


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise CredentialStoreError(
            f"the stored credentials in {where} are corrupt; run `tessera login` again"
        ) from None
    if not isinstance(data, dict):
        raise CredentialStoreError(
            f"the stored credentials in {where} are corrupt; run `tessera login` again"
        )
    return data
