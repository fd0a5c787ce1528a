"""A server process killed with SIGKILL mid-flight, on SQLite and on PostgreSQL.

RL-3: in the middle of writes, several times. After each restart: every acknowledged write is
there, every unacknowledged batch is all there or not at all, no secret has a half-written
version, everything decrypts, and the SQLite file passes its integrity check.

RL-4: during 50 concurrent logins with a client secret limited to 5 uses. After the restart the
secret has at most 5 uses, no token exists without a counted use, every token a client received
works, and the remaining uses are exactly what the limit left.

A response is sent only after its transaction committed, so "acknowledged" means "committed".
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tessera.auth.universal.models import IdentityUAClientSecret
from tessera.backups.snapshot import integrity_problems
from tessera.identities.models import IdentityAccessToken
from tessera.store import migrate
from tessera.store.engine import make_engine
from tests.conftest import BOOTSTRAP_BODY
from tests.databases import scratch_postgres
from tests.factories_auth import UA
from tests.faults.support import Tenant, set_up_tenant, stored_values, verify_everything
from tests.processes import START_SECONDS, Server, Zygote, server_env, zygote

# One group, so that `--dist loadgroup` keeps the module (and its server processes) on one worker.
pytestmark = [pytest.mark.xdist_group("faults-sigkill"), pytest.mark.slow, pytest.mark.timeout(150)]

KILLS = 3
WRITERS = 3
BATCH = 6
LOGINS = 50
SECRET_USES = 5


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    with zygote(tmp_path_factory.mktemp("sigkill-logs")) as forked:
        yield forked


@dataclass
class Attempt:
    kind: str  # batch | update
    writer: int
    values: dict[str, str]
    acknowledged: bool = False


@dataclass
class Writes:
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> int:
        with self.lock:
            return sum(a.acknowledged for a in self.attempts)

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)


def _writer(
    base: str, tenant: Tenant, number: int, round_: int, writes: Writes, stop: threading.Event
) -> None:
    """Alternate a batch create and an update, until the server dies under it."""
    with httpx.Client(base_url=base, timeout=30) as http:
        index = 0
        while not stop.is_set():
            names = {
                f"B{round_}_{number}_{index}_{j}": f"v{round_}-{number}-{index}-{j}" for j in range(BATCH)
            }
            batch = Attempt("batch", number, names)
            writes.add(batch)
            body = {
                "workspaceId": tenant.project_id,
                "environment": "dev",
                "secretPath": "/",
                "secrets": [{"secretKey": k, "secretValue": v} for k, v in names.items()],
            }
            update = Attempt("update", number, {f"U{number}": f"u{round_}-{number}-{index}"})
            try:
                batch.acknowledged = (
                    http.post("/api/v3/secrets/batch/raw", json=body, headers=tenant.headers).status_code
                    == 200
                )
                writes.add(update)
                patch = tenant.secret_body(update.values[f"U{number}"])
                response = http.patch(f"/api/v3/secrets/raw/U{number}", json=patch, headers=tenant.headers)
                update.acknowledged = response.status_code == 200
            except httpx.TransportError:
                return  # the server is gone
            index += 1


def _database(stack: ExitStack, kind: str, tmp_path: Path, sqlite_template: Path, pg_name: str) -> str:
    """A migrated database of `kind`: a copy of the SQLite template, or a scratch PostgreSQL one."""
    if kind == "sqlite":
        path = tmp_path / "tessera.db"  # the tests check this file's integrity after each kill
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = stack.enter_context(scratch_postgres(pg_name))
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def _start(forker: Zygote, env: dict[str, str], name: str) -> Server:
    server = forker.spawn(env, name=name)
    server.wait_ready(time.monotonic() + START_SECONDS)
    return server


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_rl3_sigkill_during_writes_loses_nothing_committed(
    kind: str, forker: Zygote, tmp_path: Path, sqlite_template: Path
) -> None:
    with ExitStack() as stack:
        url = _database(stack, kind, tmp_path, sqlite_template, "tessera_sigkill")
        env = server_env(url, tmp_path / "data")
        server = _start(forker, env, f"{kind}-0")

        def stop_current() -> None:
            server.stop()  # whichever server is running by then

        stack.callback(stop_current)
        tenant = set_up_tenant(server.base)
        with httpx.Client(base_url=server.base, timeout=30) as http:
            for number in range(WRITERS):
                body = tenant.secret_body("initial")
                response = http.post(f"/api/v3/secrets/raw/U{number}", json=body, headers=tenant.headers)
                assert response.status_code == 200
        writes = Writes()
        rng = random.Random(1234)
        for round_ in range(KILLS):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_writer, args=(server.base, tenant, n, round_, writes, stop))
                for n in range(WRITERS)
            ]
            for thread in threads:
                thread.start()
            target = writes.acknowledged() + rng.randint(2, 8)
            deadline = time.monotonic() + 30
            while writes.acknowledged() < target and time.monotonic() < deadline:  # bounded wait for progress
                time.sleep(0.01)
            server.kill()  # mid-write: the writers keep requests in flight all the time
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if kind == "sqlite":
                # Checked before any server opens the file again (opening would replay the WAL).
                assert integrity_problems(tmp_path / "tessera.db") == []
            server = _start(forker, env, f"{kind}-{round_ + 1}")

        _assert_outcomes(writes, stored_values(server.base, tenant))
        report = verify_everything(url)
        assert report.ok, report.failures + report.inconsistencies
        assert sum(a.acknowledged for a in writes.attempts) >= KILLS * 2


def _assert_outcomes(writes: Writes, stored: dict[str, str]) -> None:
    # Every kill cut off at least one writer's request: the all-or-nothing branch was exercised.
    assert sum(not a.acknowledged for a in writes.attempts) >= KILLS
    for attempt in (a for a in writes.attempts if a.kind == "batch"):
        present = {k for k, v in attempt.values.items() if stored.get(k) == v}
        if attempt.acknowledged:
            assert present == set(attempt.values), "an acknowledged batch lost secrets"
        else:
            assert present in (set(), set(attempt.values)), "a batch was half-written"
        assert not {k for k in attempt.values if k in stored and stored[k] != attempt.values[k]}
    for number in range(WRITERS):
        updates = [a for a in writes.attempts if a.kind == "update" and a.writer == number]
        done = [i for i, a in enumerate(updates) if a.acknowledged]
        last = done[-1] if done else -1
        possible = {updates[last].values[f"U{number}"]} if last >= 0 else {"initial"}
        possible |= {a.values[f"U{number}"] for a in updates[last + 1 :]}
        assert stored[f"U{number}"] in possible, "an acknowledged update was lost"


# --- RL-4: a crash during logins --------------------------------------------------------------------


@dataclass
class LimitedSecret:
    identity_id: str
    client_id: str
    client_secret: str
    client_secret_id: str


def _limited_secret(base: str) -> LimitedSecret:
    """Bootstrap, then an identity with Universal Auth and one client secret of SECRET_USES uses."""
    with httpx.Client(base_url=base, timeout=60) as http:
        boot = http.post("/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY).json()
        admin = {"Authorization": f"Bearer {boot['identity']['credentials']['token']}"}
        body = {"name": "rl4", "organizationId": boot["organization"]["id"], "role": "admin"}
        identity = http.post("/api/v1/identities", json=body, headers=admin)
        assert identity.status_code == 200, identity.text
        identity_id = identity.json()["identity"]["id"]
        config = http.post(f"{UA}/identities/{identity_id}", json={}, headers=admin)
        assert config.status_code == 200, config.text
        secret = http.post(
            f"{UA}/identities/{identity_id}/client-secrets", json={"numUsesLimit": SECRET_USES}, headers=admin
        )
        assert secret.status_code == 200, secret.text
    return LimitedSecret(
        identity_id,
        config.json()["identityUniversalAuth"]["clientId"],
        secret.json()["clientSecret"],
        secret.json()["clientSecretData"]["id"],
    )


def _login(base: str, secret: LimitedSecret) -> httpx.Response:
    body = {"clientId": secret.client_id, "clientSecret": secret.client_secret}
    return httpx.post(f"{base}{UA}/login", json=body, timeout=30)


def _logins_until_killed(server: Server, secret: LimitedSecret) -> list[str]:
    """LOGINS logins released together; the server is killed as soon as the first one is answered.

    Returns the access tokens the clients received before the kill.
    """
    barrier = threading.Barrier(LOGINS + 1)
    answered = threading.Event()
    tokens: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            response = _login(server.base, secret)
        except httpx.TransportError:
            return  # cut off by the kill
        answered.set()
        if response.status_code == 200:
            tokens.append(response.json()["accessToken"])

    threads = [threading.Thread(target=one) for _ in range(LOGINS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    answered.wait(timeout=30)
    server.kill()  # the other logins are in flight: queued, mid-transaction or being answered
    for thread in threads:
        thread.join(timeout=60)
    return tokens


def _uses_and_tokens(url: str, secret: LimitedSecret) -> tuple[int, int]:
    """(uses counted on the client secret, access tokens minted with it), read from the database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            uses = connection.scalar(
                select(IdentityUAClientSecret.num_uses).where(
                    IdentityUAClientSecret.id == secret.client_secret_id
                )
            )
            minted = connection.scalar(
                select(func.count())
                .select_from(IdentityAccessToken)
                .where(IdentityAccessToken.client_secret_id == secret.client_secret_id)
            )
    finally:
        engine.dispose()
    return int(uses or 0), int(minted or 0)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_rl4_sigkill_during_logins_mints_no_token_without_a_counted_use(
    kind: str, forker: Zygote, tmp_path: Path, sqlite_template: Path
) -> None:
    with ExitStack() as stack:
        url = _database(stack, kind, tmp_path, sqlite_template, "tessera_sigkill_login")
        # No rate limits: the test is about the use counter, not the limiter.
        env = server_env(
            url, tmp_path / "data", rate_limit_login_per_ip="off", rate_limit_login_per_identity="off"
        )
        server = _start(forker, env, f"rl4-{kind}-0")

        def stop_current() -> None:
            server.stop()  # whichever server is running by then

        stack.callback(stop_current)
        secret = _limited_secret(server.base)

        received = _logins_until_killed(server, secret)
        if kind == "sqlite":
            # Checked before a server opens (and recovers) the file.
            assert integrity_problems(tmp_path / "tessera.db") == []
        server = _start(forker, env, f"rl4-{kind}-1")

        uses, minted = _uses_and_tokens(url, secret)
        assert uses <= SECRET_USES
        assert minted == uses, "a token without a counted use, or a use without its token"
        assert len(received) <= uses
        with httpx.Client(base_url=server.base, timeout=30) as http:
            for token in received:  # every answered login was committed before it was answered
                probe = http.get(
                    f"/api/v1/identities/{secret.identity_id}/tokens",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert probe.status_code == 200, probe.text
        # What the crash left of the limit is still exact: the remaining uses, then no more.
        statuses = [_login(server.base, secret).status_code for _ in range(SECRET_USES - uses + 1)]
        assert statuses == [200] * (SECRET_USES - uses) + [401]
        assert _uses_and_tokens(url, secret) == (SECRET_USES, SECRET_USES)
