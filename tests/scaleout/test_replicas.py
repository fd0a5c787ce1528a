"""Three real server processes on one PostgreSQL database: the guarantees hold across replicas.

Each test runs against three clusters of three replicas:
* `database`: no Redis; every shared counter lives in PostgreSQL;
* `redis`: rate-limit buckets in Redis (127.0.0.1:6379, a key prefix per run, removed after);
* `redis-unreachable`: Redis configured but down; the database path must keep every guarantee.

Requests are spread round-robin over the replicas and released together behind a barrier.
Each test talks from its own loopback source addresses (127.x.y.z), so per-IP buckets of
different tests never meet. Rate-limit periods are an hour, so real time refills nothing
during a test.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tessera.auth.policy import TokenPolicy
from tessera.auth.token_uses import FLUSH_INTERVAL_S
from tessera.auth.universal.models import IdentityUAClientSecret
from tessera.clock import utcnow
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.ratelimit.models import RateLimitBucket
from tessera.store import migrate
from tessera.store.engine import make_engine, make_session_factory
from tests.conftest import BOOTSTRAP_BODY, TEST_AUTH_SECRET
from tests.databases import scratch_postgres
from tests.factories import make_identity, mint_token
from tests.fakes.entra import FakeEntra, token_claims
from tests.processes import START_SECONDS, Server, Zygote, server_env, zygote
from tests.redis_helpers import RedisNamespace, redis_namespace

# One group, so that `--dist loadgroup` keeps the module (and its server processes) on one worker.
pytestmark = [pytest.mark.xdist_group("scaleout"), pytest.mark.slow, pytest.mark.timeout(120)]

T = TypeVar("T")
# Three replicas per cluster; two for the cluster whose Redis is down (it re-proves only the
# database path, and every process costs start-up time).
REPLICAS = {"database": 3, "redis": 3, "redis-unreachable": 2}
LOGIN_PER_IP = 8
LOGIN_PER_IDENTITY = 20
SECRETS_PER_IDENTITY = 12
UA = "/api/v1/auth/universal-auth"


@dataclass
class Cluster:
    mode: str
    servers: list[Server]
    engine: Engine
    admin_headers: dict[str, str]
    org_id: str
    redis: RedisNamespace | None
    extra_env: dict[str, str]  # for a replica started during a test

    @property
    def replicas(self) -> int:
        return len(self.servers)

    @property
    def bases(self) -> list[str]:
        return [server.base for server in self.servers]

    def client(self, index: int, source_ip: str = "127.0.0.1") -> httpx.Client:
        """A client of replica `index % replicas`, connecting from `source_ip`."""
        transport = httpx.HTTPTransport(local_address=source_ip)
        return httpx.Client(base_url=self.bases[index % self.replicas], transport=transport, timeout=60)


@pytest.fixture(scope="module")
def forker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    with zygote(tmp_path_factory.mktemp("scaleout-logs")) as forked:
        yield forked


@pytest.fixture(scope="module")
def entra() -> Iterator[FakeEntra]:
    fake = FakeEntra().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module", params=["database", "redis", "redis-unreachable"])
def cluster(request: pytest.FixtureRequest, forker: Zygote, entra: FakeEntra) -> Iterator[Cluster]:
    mode: str = request.param
    with ExitStack() as stack:
        url = stack.enter_context(scratch_postgres("tessera_scaleout"))
        namespace = stack.enter_context(redis_namespace("scaleout")) if mode == "redis" else None
        engine = make_engine(url)
        stack.callback(engine.dispose)
        migrate.upgrade(engine)
        settings = {
            "rate_limit_login_per_ip": f"{LOGIN_PER_IP}/3600",
            "rate_limit_login_per_identity": f"{LOGIN_PER_IDENTITY}/3600",
            "rate_limit_secrets_per_identity": f"{SECRETS_PER_IDENTITY}/3600",
            "rate_limit_secrets_per_ip": "off",
            "azure_authority_host": entra.authority,
        }
        if namespace is not None:
            settings |= {"redis_url": namespace.url, "redis_key_prefix": namespace.prefix}
        elif mode == "redis-unreachable":
            settings |= {"redis_url": "redis://127.0.0.1:1/0"}
        root = forker.log_dir / mode
        started = [
            forker.spawn(server_env(url, root / f"data{i}", **settings)) for i in range(REPLICAS[mode])
        ]
        extra_env = server_env(url, root / "data-extra", **settings)
        for server in started:
            stack.callback(server.stop)
        deadline = time.monotonic() + START_SECONDS
        for server in started:
            server.wait_ready(deadline)
        boot = httpx.post(f"{started[0].base}/api/v1/admin/bootstrap", json=BOOTSTRAP_BODY, timeout=60)
        assert boot.status_code == 200, boot.text
        body = boot.json()
        yield Cluster(
            mode=mode,
            servers=started,
            engine=engine,
            admin_headers={"Authorization": f"Bearer {body['identity']['credentials']['token']}"},
            org_id=body["organization"]["id"],
            redis=namespace,
            extra_env=extra_env,
        )


def together(count: int, call: Callable[[int], T]) -> list[T]:
    """`call(i)` in `count` threads released at once; results in order."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=60)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def new_identity(cluster: Cluster) -> str:
    factory = make_session_factory(cluster.engine)
    with factory.begin() as session:
        return str(make_identity(session, org_id=cluster.org_id, now=utcnow()).id)


def ua_setup(
    cluster: Cluster, *, secret: dict[str, Any] | None = None, **config: Any
) -> tuple[str, str, str]:
    """A new identity with Universal Auth and a client secret: (identity id, client id, secret)."""
    identity_id = new_identity(cluster)
    with cluster.client(0) as http:
        attached = http.post(f"{UA}/identities/{identity_id}", json=config, headers=cluster.admin_headers)
        assert attached.status_code == 200, attached.text
        created = http.post(
            f"{UA}/identities/{identity_id}/client-secrets", json=secret or {}, headers=cluster.admin_headers
        )
        assert created.status_code == 200, created.text
    return identity_id, attached.json()["identityUniversalAuth"]["clientId"], created.json()["clientSecret"]


def login(cluster: Cluster, index: int, source_ip: str, client_id: str, secret: str) -> httpx.Response:
    with cluster.client(index, source_ip) as http:
        return http.post(f"{UA}/login", json={"clientId": client_id, "clientSecret": secret})


def probe(cluster: Cluster, index: int, token: str, identity_id: str) -> int:
    with cluster.client(index) as http:
        path = f"/api/v1/identities/{identity_id}/tokens"
        return http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def needs_redis_path(cluster: Cluster) -> None:
    """Tests of state that never touches Redis run once with it and once without, not three times."""
    if cluster.mode == "redis-unreachable":
        pytest.skip("no Redis path involved: covered by the database and redis clusters")


def count_rows(cluster: Cluster, model: Any, *where: Any) -> int:
    with make_session_factory(cluster.engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- revocation -------------------------------------------------------------------------------------


def test_a_token_revoked_on_one_replica_is_dead_on_every_replica(cluster: Cluster) -> None:
    needs_redis_path(cluster)
    identity_id, client_id, secret = ua_setup(cluster)
    token = login(cluster, 0, "127.1.0.1", client_id, secret).json()["accessToken"]
    assert [probe(cluster, i, token, identity_id) for i in range(cluster.replicas)] == [
        200
    ] * cluster.replicas
    with cluster.client(2) as http:
        assert http.post("/api/v1/auth/token/revoke", json={"accessToken": token}).status_code == 200
    assert [probe(cluster, i, token, identity_id) for i in range(cluster.replicas)] == [
        401
    ] * cluster.replicas


def test_revoking_a_client_secret_on_one_replica_kills_its_tokens_everywhere(cluster: Cluster) -> None:
    needs_redis_path(cluster)
    identity_id, client_id, secret = ua_setup(cluster)
    tokens = [login(cluster, i, "127.1.1.1", client_id, secret).json()["accessToken"] for i in range(2)]
    with cluster.client(1) as http:
        listed = http.get(f"{UA}/identities/{identity_id}/client-secrets", headers=cluster.admin_headers)
        secret_id = listed.json()["clientSecretData"][0]["id"]
        revoke = f"{UA}/identities/{identity_id}/client-secrets/{secret_id}/revoke"
        assert http.post(revoke, headers=cluster.admin_headers).status_code == 200
    assert {probe(cluster, i, t, identity_id) for i in range(cluster.replicas) for t in tokens} == {401}
    assert login(cluster, 2, "127.1.1.2", client_id, secret).status_code == 401


# --- use limits -------------------------------------------------------------------------------------


def test_token_use_limit_is_exact_across_replicas(cluster: Cluster) -> None:
    needs_redis_path(cluster)
    identity_id = new_identity(cluster)
    with make_session_factory(cluster.engine).begin() as session:
        minted = mint_token(
            session,
            session.get_one(Identity, identity_id),
            now=utcnow(),
            secret=TEST_AUTH_SECRET.encode(),
            policy=TokenPolicy(ttl=3600, max_ttl=3600, num_uses_limit=7),
        )
    statuses = sorted(together(24, lambda i: probe(cluster, i, minted.access_token, identity_id)))
    assert statuses == [200] * 7 + [401] * 17
    uses = count_rows(
        cluster,
        IdentityAccessToken,
        IdentityAccessToken.identity_id == identity_id,
        IdentityAccessToken.num_uses == 7,
    )
    assert uses == 1


def test_client_secret_use_limit_is_exact_across_replicas(cluster: Cluster) -> None:
    needs_redis_path(cluster)
    identity_id, client_id, secret = ua_setup(cluster, secret={"numUsesLimit": 5})
    # From 18 addresses, so that per-IP login limits stay out of the way.
    responses = together(18, lambda i: login(cluster, i, f"127.2.0.{i + 1}", client_id, secret))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [401] * 13
    assert len({r.json()["accessToken"] for r in responses if r.status_code == 200}) == 5
    with make_session_factory(cluster.engine)() as session:
        stored = session.scalar(
            select(IdentityUAClientSecret.num_uses).where(IdentityUAClientSecret.secret_prefix == secret[:4])
        )
    assert stored == 5
    assert count_rows(cluster, IdentityAccessToken, IdentityAccessToken.identity_id == identity_id) == 5


# --- lockout ----------------------------------------------------------------------------------------


def test_lockout_counts_failures_from_every_replica(cluster: Cluster) -> None:
    _, client_id, secret = ua_setup(cluster, lockoutThreshold=3, lockoutDurationSeconds=300)
    wrong = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    failures = [login(cluster, i, f"127.3.0.{i + 1}", client_id, wrong).status_code for i in range(3)]
    assert failures == [401, 401, 401]
    # Locked everywhere: the correct secret is refused on every replica, from fresh addresses.
    locked = [
        login(cluster, i, f"127.3.1.{i + 1}", client_id, secret).status_code for i in range(cluster.replicas)
    ]
    assert locked == [401] * cluster.replicas


def test_concurrent_failures_on_all_replicas_lock_exactly_once(cluster: Cluster) -> None:
    _, client_id, secret = ua_setup(cluster, lockoutThreshold=5, lockoutDurationSeconds=300)
    wrong = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    together(12, lambda i: login(cluster, i, f"127.4.0.{i + 1}", client_id, wrong))
    assert login(cluster, 1, "127.4.1.1", client_id, secret).status_code == 401


# --- rate limits ------------------------------------------------------------------------------------


def test_login_rate_limit_per_ip_holds_across_replicas(cluster: Cluster) -> None:
    _, client_id, secret = ua_setup(cluster, lockoutEnabled=False)
    wrong = secret + "x"
    responses = together(12, lambda i: login(cluster, i, "127.5.0.1", client_id, wrong))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * LOGIN_PER_IP + [429] * (12 - LOGIN_PER_IP)
    refused = [r for r in responses if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) > 0 for r in refused)
    assert all(r.json()["error"] == "RateLimitExceeded" for r in refused)
    # The same client from another address is not affected.
    assert login(cluster, 0, "127.5.0.2", client_id, secret).status_code == 200


def test_login_rate_limit_per_identity_holds_across_replicas_and_addresses(cluster: Cluster) -> None:
    _, client_id, secret = ua_setup(cluster)
    count = LOGIN_PER_IDENTITY + 6
    responses = together(count, lambda i: login(cluster, i, f"127.6.0.{i + 1}", client_id, secret))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * LOGIN_PER_IDENTITY + [429] * 6


def test_secret_rate_limit_per_identity_is_exact_and_refusals_use_nothing(cluster: Cluster) -> None:
    identity_id = new_identity(cluster)
    with make_session_factory(cluster.engine).begin() as session:
        minted = mint_token(
            session,
            session.get_one(Identity, identity_id),
            now=utcnow(),
            secret=TEST_AUTH_SECRET.encode(),
            policy=TokenPolicy(ttl=3600, max_ttl=3600),
        )
    headers = {"Authorization": f"Bearer {minted.access_token}"}
    with cluster.client(0) as http:
        created = http.post(
            "/api/v2/workspace", json={"projectName": "Limits"}, headers=cluster.admin_headers
        )
        assert created.status_code == 200, created.text
        project_id = created.json()["project"]["id"]

    def read(index: int) -> int:
        with cluster.client(index) as http:
            params = {"workspaceId": project_id, "environment": "dev", "secretPath": "/"}
            return http.get("/api/v3/secrets/raw", params=params, headers=headers).status_code

    statuses = together(SECRETS_PER_IDENTITY + 10, read)
    assert sorted(statuses) == [200] * SECRETS_PER_IDENTITY + [429] * 10

    # The token has no use limit: each replica writes its uses within a second (auth.token_uses).
    def uses() -> int:
        with make_session_factory(cluster.engine)() as session:
            found = session.scalar(
                select(IdentityAccessToken.num_uses).where(IdentityAccessToken.identity_id == identity_id)
            )
            return int(found or 0)

    deadline = time.monotonic() + 15
    while uses() < SECRETS_PER_IDENTITY and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2 * FLUSH_INTERVAL_S)  # a refused request's use, had it been counted, is written by now
    assert uses() == SECRETS_PER_IDENTITY


def test_buckets_live_where_the_mode_says(cluster: Cluster) -> None:
    """With Redis up the buckets are in Redis only; without it (or with it down), in PostgreSQL."""
    _, client_id, secret = ua_setup(cluster)
    assert login(cluster, 0, "127.7.0.1", client_id, secret).status_code == 200
    in_database = count_rows(cluster, RateLimitBucket)
    if cluster.redis is not None:
        assert in_database == 0
        prefix = f"{cluster.redis.prefix}rl:"
        assert any(key.decode().startswith(prefix) for key in cluster.redis.stored_keys())
    else:
        assert in_database > 0


def test_replicas_wrote_no_errors(cluster: Cluster) -> None:
    for server in cluster.servers:
        text = server.log_text()
        assert "Traceback" not in text, text[-4000:]
        assert server.alive


# --- Entra ID signing keys ----------------------------------------------------------------------------


def test_entra_keys_are_shared_and_carry_a_new_replica_through_an_outage(
    cluster: Cluster, entra: FakeEntra, forker: Zygote
) -> None:
    """With Redis, one fetch serves every replica, and a replica started while Entra is down can
    still verify tokens; without it each replica fetches its own and a new one answers 503."""
    tenant, oid = str(uuid.uuid4()), str(uuid.uuid4())
    key = entra.new_key()
    identity_id = new_identity(cluster)
    with cluster.client(0) as http:
        body = {"tenantId": tenant, "allowedServicePrincipalIds": oid}
        attached = http.post(
            f"/api/v1/auth/azure-auth/identities/{identity_id}", json=body, headers=cluster.admin_headers
        )
        assert attached.status_code == 200, attached.text
    token = key.sign(token_claims(tenant=tenant, oid=oid, now=utcnow()))

    def azure_login(server_base: str, source_ip: str) -> httpx.Response:
        transport = httpx.HTTPTransport(local_address=source_ip)
        with httpx.Client(base_url=server_base, transport=transport, timeout=60) as http:
            return http.post("/api/v1/auth/azure-auth/login", json={"identityId": identity_id, "jwt": token})

    statuses = [azure_login(base, f"127.8.0.{i + 1}").status_code for i, base in enumerate(cluster.bases)]
    assert statuses == [200] * cluster.replicas
    assert entra.key_fetches(tenant) == (1 if cluster.redis is not None else cluster.replicas)
    entra.outage()
    fresh = forker.spawn(cluster.extra_env)
    try:
        fresh.wait_ready(time.monotonic() + START_SECONDS)
        response = azure_login(fresh.base, "127.8.1.1")
        if cluster.redis is not None:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "ServiceUnavailable"
    finally:
        fresh.stop()
        entra.restore()
