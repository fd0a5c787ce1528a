"""Each Azure managed-identity token source against a stand-in endpoint on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera_sdk import AzureAuth, Client, NetworkError, TokenSourceError
from tessera_sdk.azure_sources import (
    ARC_MAX_KEY_BYTES,
    AppServiceSource,
    ArcSource,
    AzureSourceOptions,
    AzureToken,
    CachedTokenSource,
    ImdsSource,
    WorkloadIdentitySource,
    detect_source,
    make_token_source,
)
from tests.sdk.fakes import Call, FakeTessera, FrozenClock, Reply, Router, SleepRecorder, serve

RESOURCE = "https://management.azure.com/"


def token_reply(token: str = "mi-token", **extra: object) -> Reply:  # noqa: S107
    body: dict[str, object] = {"access_token": token, "token_type": "Bearer", "resource": RESOURCE}
    body.update(extra or {"expires_on": "1900003600", "expires_in": "3599"})
    return Reply(200, body)


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def url(router: Router) -> Iterator[str]:
    with serve(router) as base:
        yield base


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_900_000_000.0)


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


def options(clock: FrozenClock, sleep: SleepRecorder, **kwargs: object) -> AzureSourceOptions:
    return AzureSourceOptions(clock=clock, sleep=sleep, timeout=5, **kwargs)  # type: ignore[arg-type]


# --- IMDS ------------------------------------------------------------------------------------------


class TestImds:
    def test_request_shape(self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder) -> None:
        router.add("GET", "/metadata/identity/oauth2/token", lambda call: token_reply())
        source = ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/metadata/identity/oauth2/token"))
        token = source.get_token(RESOURCE)
        call = router.calls[0]
        assert call.headers["metadata"] == "true"
        assert call.query == {"api-version": "2018-02-01", "resource": RESOURCE}
        assert (token.token, token.expires_on, token.source) == ("mi-token", 1_900_003_600.0, "imds")
        assert "mi-token" not in repr(token)

    @pytest.mark.parametrize(
        ("selector", "value"),
        [("client_id", "c-1"), ("object_id", "o-1"), ("msi_res_id", "/subscriptions/s/rg/x")],
    )
    def test_user_assigned_selector(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, selector: str, value: str
    ) -> None:
        router.add("GET", "/token", lambda call: token_reply())
        ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/token", **{selector: value})).get_token(
            RESOURCE
        )
        assert router.calls[0].query[selector] == value

    @pytest.mark.parametrize("status", [404, 410, 429, 500, 503])
    def test_retries_per_microsoft_guidance(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, status: int
    ) -> None:
        answers = [Reply(status, {"error": "busy"}), Reply(status, {"error": "busy"}), token_reply()]
        router.add("GET", "/token", lambda call: answers.pop(0))
        token = ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/token")).get_token(RESOURCE)
        assert token.token == "mi-token"
        assert len(router.calls) == 3
        assert 1.0 <= sleep.delays[0] <= 2.0
        assert 2.0 <= sleep.delays[1] <= 4.0

    def test_gives_up_after_five_retries(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder
    ) -> None:
        router.add(
            "GET", "/token", lambda call: Reply(410, {"error": "gone", "error_description": "updating"})
        )
        with pytest.raises(TokenSourceError, match=r"HTTP 410: gone \(updating\)"):
            ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/token")).get_token(RESOURCE)
        assert len(router.calls) == 6
        assert len(sleep.delays) == 5

    def test_bad_request_is_not_retried(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder
    ) -> None:
        router.add("GET", "/token", lambda call: Reply(400, {"error": "invalid_resource"}))
        with pytest.raises(TokenSourceError, match="invalid_resource"):
            ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/token")).get_token(RESOURCE)
        assert len(router.calls) == 1

    def test_unreachable_endpoint(self, clock: FrozenClock, sleep: SleepRecorder) -> None:
        with serve(Router()) as gone:
            pass  # the server is closed again: nothing listens on this port any more
        with pytest.raises(NetworkError):
            ImdsSource(options(clock, sleep, imds_endpoint=f"{gone}/token")).get_token(RESOURCE)

    @pytest.mark.parametrize(
        ("body", "message"),
        [({"token_type": "Bearer"}, "without an access_token"), (b"not json", "JSON")],
        ids=["no-token", "not-json"],
    )
    def test_malformed_answers(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, body: object, message: str
    ) -> None:
        router.add("GET", "/token", lambda call: Reply(200, body))
        with pytest.raises(TokenSourceError, match=message):
            ImdsSource(options(clock, sleep, imds_endpoint=f"{url}/token")).get_token(RESOURCE)


# --- App Service / Functions -----------------------------------------------------------------------


class TestAppService:
    def test_request_shape(self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder) -> None:
        router.add("GET", "/msi/token", lambda call: token_reply(expires_on=1_900_000_500))
        source = AppServiceSource(options(clock, sleep, object_id="p-1"), f"{url}/msi/token", "header-secret")
        token = source.get_token(RESOURCE)
        call = router.calls[0]
        assert call.headers["x-identity-header"] == "header-secret"
        assert "metadata" not in call.headers
        assert call.query == {"api-version": "2019-08-01", "resource": RESOURCE, "principal_id": "p-1"}
        assert token.expires_on == 1_900_000_500

    def test_error_body_shape(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder
    ) -> None:
        router.add("GET", "/msi/token", lambda call: Reply(400, {"error": {"code": "UnsupportedApiVersion"}}))
        source = AppServiceSource(options(clock, sleep), f"{url}/msi/token", "h")
        with pytest.raises(TokenSourceError, match="UnsupportedApiVersion"):
            source.get_token(RESOURCE)


# --- AKS workload identity -------------------------------------------------------------------------


class TestWorkloadIdentity:
    def test_exchanges_the_projected_token(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, tmp_path: Path
    ) -> None:
        token_file = tmp_path / "azure-identity-token"
        token_file.write_text("projected-sa-token\n")
        router.add(
            "POST", "/tenant-1/oauth2/v2.0/token", lambda call: token_reply("entra-token", expires_in=3599)
        )
        source = WorkloadIdentitySource(
            options(clock, sleep),
            token_file=str(token_file),
            client_id="app-1",
            tenant_id="tenant-1",
            authority_host=url,
        )
        token = source.get_token(RESOURCE)
        assert router.calls[0].form() == {
            "grant_type": "client_credentials",
            "client_id": "app-1",
            "scope": "https://management.azure.com//.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "projected-sa-token",
        }
        assert (token.token, token.expires_on) == ("entra-token", clock() + 3599)
        # The kubelet rotates the file: the next fetch reads it again.
        token_file.write_text("rotated")
        source.get_token("api://tessera")
        assert router.calls[1].form()["client_assertion"] == "rotated"
        assert router.calls[1].form()["scope"] == "api://tessera/.default"

    def test_from_environment(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, tmp_path: Path
    ) -> None:
        token_file = tmp_path / "t"
        token_file.write_text("sa")
        router.add("POST", "/tid/oauth2/v2.0/token", lambda call: token_reply(expires_in=60))
        env = {
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
            "AZURE_CLIENT_ID": "cid",
            "AZURE_TENANT_ID": "tid",
            "AZURE_AUTHORITY_HOST": url + "/",
        }
        source = make_token_source("auto", options(clock, sleep), environ=env)
        assert isinstance(source, WorkloadIdentitySource)
        source.get_token(RESOURCE)
        assert router.calls[0].form()["client_id"] == "cid"

    def test_missing_file(self, clock: FrozenClock, sleep: SleepRecorder, tmp_path: Path) -> None:
        source = WorkloadIdentitySource(
            options(clock, sleep),
            token_file=str(tmp_path / "nope"),
            client_id="c",
            tenant_id="t",
            authority_host="http://127.0.0.1:9",
        )
        with pytest.raises(TokenSourceError, match="federated token file"):
            source.get_token(RESOURCE)

    @pytest.mark.parametrize("tenant", ["../evil", "a/b", "", "x?y=1"])
    def test_tenant_cannot_change_the_url(
        self, clock: FrozenClock, sleep: SleepRecorder, tenant: str
    ) -> None:
        with pytest.raises(ValueError, match="tenant"):
            WorkloadIdentitySource(
                options(clock, sleep),
                token_file="f",
                client_id="c",
                tenant_id=tenant,
                authority_host="https://x/",
            )


# --- Azure Arc -------------------------------------------------------------------------------------


class TestArc:
    @pytest.fixture
    def key_dir(self, tmp_path: Path) -> Path:
        directory = tmp_path / "tokens"
        directory.mkdir()
        return directory

    def challenge(self, router: Router, key_path: Path | str) -> None:
        def answer(call: Call) -> Reply:
            if call.headers.get("authorization") == "Basic arc-key-contents":
                return token_reply("arc-token")
            return Reply(401, {"error": "unauthorized"}, {"WWW-Authenticate": f"Basic realm={key_path}"})

        router.add("GET", "/metadata/identity/oauth2/token", answer)

    def source(self, url: str, clock: FrozenClock, sleep: SleepRecorder, key_dir: Path) -> ArcSource:
        return ArcSource(
            options(clock, sleep, arc_key_dir=str(key_dir)), f"{url}/metadata/identity/oauth2/token"
        )

    def test_challenge_then_token(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, key_dir: Path
    ) -> None:
        key = key_dir / "abc.key"
        key.write_text("arc-key-contents")
        self.challenge(router, key)
        token = self.source(url, clock, sleep, key_dir).get_token(RESOURCE)
        assert token.token == "arc-token"
        first, second = router.calls
        assert first.headers["metadata"] == "true"
        assert "authorization" not in first.headers
        assert second.headers["authorization"] == "Basic arc-key-contents"
        assert first.query == {"api-version": "2020-06-01", "resource": RESOURCE}

    @pytest.mark.parametrize(
        "case", ["outside-dir", "dotdot", "symlink-out", "wrong-suffix", "too-big", "missing", "directory"]
    )
    def test_refuses_unsafe_challenge_files(
        self,
        router: Router,
        url: str,
        clock: FrozenClock,
        sleep: SleepRecorder,
        key_dir: Path,
        tmp_path: Path,
        case: str,
    ) -> None:
        outside = tmp_path / "secret.key"
        outside.write_text("arc-key-contents")
        if case == "outside-dir":
            path: Path | str = outside
        elif case == "dotdot":
            path = f"{key_dir}/../secret.key"
        elif case == "symlink-out":
            path = key_dir / "link.key"
            os.symlink(outside, path)
        elif case == "wrong-suffix":
            path = key_dir / "abc.txt"
            path.write_text("arc-key-contents")
        elif case == "too-big":
            path = key_dir / "big.key"
            path.write_text("x" * (ARC_MAX_KEY_BYTES + 1))
        elif case == "missing":
            path = key_dir / "absent.key"
        else:
            path = key_dir / "dir.key"
            path.mkdir()
        self.challenge(router, path)
        with pytest.raises(TokenSourceError, match="arc"):
            self.source(url, clock, sleep, key_dir).get_token(RESOURCE)
        assert len(router.calls) == 1  # the key was never sent

    def test_missing_challenge_header(
        self, router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder, key_dir: Path
    ) -> None:
        router.add("GET", "/metadata/identity/oauth2/token", lambda call: Reply(401, {}))
        with pytest.raises(TokenSourceError, match="no Basic realm"):
            self.source(url, clock, sleep, key_dir).get_token(RESOURCE)

    def test_rejects_user_assigned_selector(self, clock: FrozenClock, sleep: SleepRecorder) -> None:
        with pytest.raises(ValueError, match="system-assigned"):
            ArcSource(options(clock, sleep, client_id="c"), "http://127.0.0.1:9/x")


# --- detection, overrides, caching -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "imds"),
        ({"IDENTITY_ENDPOINT": "http://x", "IDENTITY_HEADER": "h"}, "app_service"),
        ({"IDENTITY_ENDPOINT": "http://x", "IMDS_ENDPOINT": "http://y"}, "arc"),
        (
            {"AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"},
            "workload_identity",
        ),
        ({"AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_TENANT_ID": "t"}, "imds"),
        ({"IDENTITY_ENDPOINT": "http://x"}, "imds"),
        (
            {
                "IDENTITY_ENDPOINT": "http://x",
                "IDENTITY_HEADER": "h",
                "AZURE_FEDERATED_TOKEN_FILE": "/t",
                "AZURE_TENANT_ID": "t",
                "AZURE_CLIENT_ID": "c",
            },
            "app_service",
        ),
    ],
    ids=[
        "nothing-imds",
        "app-service",
        "arc",
        "workload-identity",
        "wi-incomplete",
        "endpoint-only",
        "order",
    ],
)
def test_detection(env: dict[str, str], expected: str) -> None:
    assert detect_source(AzureSourceOptions(), env) == expected


def test_detection_refuses_service_fabric() -> None:
    env = {"IDENTITY_ENDPOINT": "http://x", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "ab"}
    with pytest.raises(TokenSourceError, match="Service Fabric"):
        detect_source(AzureSourceOptions(), env)


def test_explicit_source_overrides_detection() -> None:
    env = {"IDENTITY_ENDPOINT": "http://x", "IDENTITY_HEADER": "h"}
    assert isinstance(make_token_source("imds", environ=env), ImdsSource)


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ("app_service", "IDENTITY_ENDPOINT"),
        ("arc", "IDENTITY_ENDPOINT"),
        ("workload_identity", "AZURE_FEDERATED_TOKEN_FILE"),
    ],
)
def test_explicit_source_names_what_is_missing(source: str, missing: str) -> None:
    with pytest.raises(TokenSourceError, match=missing):
        make_token_source(source, environ={})


def test_unknown_source_and_double_selector() -> None:
    with pytest.raises(ValueError, match="unknown Azure token source"):
        make_token_source("gcp", environ={})
    with pytest.raises(ValueError, match="one user-assigned identity selector"):
        AzureSourceOptions(client_id="a", object_id="b")


def test_app_service_endpoint_override_beats_environment(
    router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder
) -> None:
    router.add("GET", "/override", lambda call: token_reply())
    env = {"IDENTITY_ENDPOINT": "http://127.0.0.1:9/wrong", "IDENTITY_HEADER": "from-env"}
    source = make_token_source(
        "auto", options(clock, sleep, identity_endpoint=f"{url}/override"), environ=env
    )
    source.get_token(RESOURCE)
    assert router.calls[0].headers["x-identity-header"] == "from-env"


class CountingSource:
    name = "counting"

    def __init__(self, clock: FrozenClock, lifetime: float) -> None:
        self.clock, self.lifetime, self.fetches = clock, lifetime, 0

    def get_token(self, resource: str) -> AzureToken:
        self.fetches += 1
        return AzureToken(f"t{self.fetches}", self.clock() + self.lifetime, self.name)


def test_cache_until_shortly_before_expiry(clock: FrozenClock) -> None:
    inner = CountingSource(clock, lifetime=3600)
    cached = CachedTokenSource(inner, clock=clock, margin=300)
    assert cached.get_token(RESOURCE).token == "t1"
    clock.advance(3299)
    assert cached.get_token(RESOURCE).token == "t1"
    assert cached.get_token("other").token == "t2"  # cached per resource
    clock.advance(2)  # now inside the 300 s margin
    assert cached.get_token(RESOURCE).token == "t3"


def test_short_lived_tokens_are_not_cached(clock: FrozenClock) -> None:
    inner = CountingSource(clock, lifetime=60)
    cached = CachedTokenSource(inner, clock=clock, margin=300)
    cached.get_token(RESOURCE)
    cached.get_token(RESOURCE)
    assert inner.fetches == 2


def test_azure_auth_end_to_end_through_imds_stand_in(
    router: Router, url: str, clock: FrozenClock, sleep: SleepRecorder
) -> None:
    router.add("GET", "/imds", lambda call: token_reply("vm-token"))
    api = FakeTessera(clock)
    api.azure["identity-1"] = "vm-token"
    api.put("p", "prod", "/", "K", "v")
    auth = AzureAuth(
        "identity-1", source="imds", imds_endpoint=f"{url}/imds", clock=clock, sleep=sleep, environ={}
    )
    with Client("https://tessera.test", auth=auth, transport=api.transport(), clock=clock) as client:
        assert client.secrets.list("p", "prod").as_dict() == {"K": "v"}
    assert router.calls[0].query["resource"] == RESOURCE
