"""`tessera keys rotate`: re-seal every project's data key under the new root key.

Rotation without downtime:
1. start every server with TESSERA_ROOT_KEY=<new> and TESSERA_PREVIOUS_ROOT_KEYS=<old>
   (they open data keys sealed under either);
2. run `tessera keys rotate` with the same settings (secrets are not re-encrypted; each data key is
   re-sealed by a conditional update, in small committed batches, while servers keep serving);
3. drop the old key from TESSERA_PREVIOUS_ROOT_KEYS and restart at leisure.
"""

from __future__ import annotations

from tessera.clock import SystemClock
from tessera.crypto.keyring import Keyring
from tessera.secrets.datakeys import RotationReport, rotate_data_keys
from tessera.settings import Settings, SettingsError
from tessera.store.engine import make_engine, make_session_factory


def rotate(settings: Settings, *, batch_size: int = 200) -> RotationReport:
    """Raises SettingsError (no new root key given) or DecryptionFailed (an old key is missing)."""
    if settings.root_key is None:
        raise SettingsError(
            "set TESSERA_ROOT_KEY to the new root key and list the old one in TESSERA_PREVIOUS_ROOT_KEYS"
        )
    keyring = Keyring.from_settings(settings)
    engine = make_engine(
        settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    try:
        return rotate_data_keys(
            make_session_factory(engine), keyring, now=SystemClock().now(), batch_size=batch_size
        )
    finally:
        engine.dispose()
