"""Auth strategies, renewal and re-login with a frozen clock, and one shared login under concurrency."""

from __future__ import annotations

import threading

import pytest

from tessera_sdk import (
    AuthenticationError,
    AzureAuth,
    Client,
    RefreshTokenAuth,
    TokenAuth,
    TokenState,
    UniversalAuth,
)
from tessera_sdk.azure_sources import AzureToken
from tests.sdk.fakes import Call, FakeTessera, FrozenClock, Reply, SleepRecorder

SITE = "https://tessera.test"


def make_client(api: FakeTessera, auth: object, **kwargs: object) -> Client:
    return Client(
        SITE,
        auth=auth,  # type: ignore[arg-type]
        transport=api.transport(),
        clock=api.clock,
        sleep=SleepRecorder(),
        **kwargs,  # type: ignore[arg-type]
    )


def list_once(client: Client) -> None:
    client.secrets.list("p", "dev")


def bearer_of(call: Call) -> str:
    return call.headers.get("authorization", "")[len("Bearer ") :]


class TestUniversalAuth:
    def test_logs_in_once_and_sends_the_token(self) -> None:
        api = FakeTessera()
        client_id, secret = api.add_client()
        with make_client(api, UniversalAuth(client_id, secret)) as client:
            list_once(client)
            list_once(client)
        login = api.calls[0]
        assert login.path == "/api/v1/auth/universal-auth/login"
        assert login.json() == {"clientId": client_id, "clientSecret": secret}
        assert "authorization" not in login.headers
        assert api.logins == 1
        assert bearer_of(api.calls[1]) == bearer_of(api.calls[2]) != ""

    def test_bad_secret_is_an_authentication_error_with_request_id(self) -> None:
        api = FakeTessera()
        api.add_client("client-1", "right")
        with (
            make_client(api, UniversalAuth("client-1", "wrong")) as client,
            pytest.raises(AuthenticationError) as info,
        ):
            list_once(client)
        assert info.value.status == 401
        assert info.value.request_id == "req-login"
        assert "wrong" not in str(info.value)

    def test_secret_not_in_repr(self) -> None:
        assert "hunter2" not in repr(UniversalAuth("id", "hunter2"))


class TestTokenAuth:
    def test_no_login_request_and_token_used_as_is(self) -> None:
        api = FakeTessera()
        token = api.issue()
        with make_client(api, TokenAuth(token)) as client:
            list_once(client)
        assert api.paths() == ["GET /api/v4/secrets"]
        assert bearer_of(api.calls[0]) == token

    def test_rejected_token_is_not_retried(self) -> None:
        api = FakeTessera()
        with make_client(api, TokenAuth("tok-unknown")) as client, pytest.raises(AuthenticationError):
            list_once(client)
        assert len(api.calls) == 1

    def test_token_not_in_repr(self) -> None:
        assert "tok-abc" not in repr(TokenAuth("tok-abc"))
        assert "rt-abc" not in repr(RefreshTokenAuth("rt-abc"))


class TestRenewal:
    """TTL 100 s (renew margin 10 s), max TTL 250 s, on a frozen clock."""

    @pytest.fixture
    def api(self) -> FakeTessera:
        api = FakeTessera(FrozenClock(), ttl=100, max_ttl=250)
        api.add_client()
        return api

    def test_no_renewal_before_the_margin(self, api: FakeTessera) -> None:
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            api.clock.advance(89)
            list_once(client)
        assert api.renewals == 0
        assert api.logins == 1

    def test_renews_shortly_before_expiry(self, api: FakeTessera) -> None:
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            first = client.tokens.state
            api.clock.advance(91)
            list_once(client)
        assert api.renewals == 1
        assert api.logins == 1
        assert first is not None
        assert client.tokens.state is not None
        assert client.tokens.state.access_token != first.access_token
        renew = next(c for c in api.calls if c.path == "/api/v1/auth/token/renew")
        assert renew.json() == {"accessToken": first.access_token}
        assert "authorization" not in renew.headers

    def test_logs_in_again_when_renewal_would_pass_max_ttl(self, api: FakeTessera) -> None:
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            api.clock.advance(91)  # renew: 91 + 100 ≤ 250
            list_once(client)
            api.clock.advance(91)  # 182 + 100 > 250: a renewal would be refused and destroy the token
            list_once(client)
        assert api.renewals == 1
        assert api.logins == 2
        assert not any(c.path == "/api/v1/auth/token/renew" for c in api.calls[4:])

    def test_failed_renewal_falls_back_to_login(self, api: FakeTessera) -> None:
        api.add("POST", r"/api/v1/auth/token/renew", lambda call: Reply(500, {"message": "boom"}))
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            api.clock.advance(95)
            list_once(client)
        assert api.logins == 2

    def test_expired_token_is_not_sent(self, api: FakeTessera) -> None:
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            api.clock.advance(500)
            list_once(client)
        assert api.logins == 2
        assert api.renewals == 0

    def test_rejected_token_triggers_one_relogin(self, api: FakeTessera) -> None:
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
            for info in api.tokens.values():
                info.revoked = True
            list_once(client)
        assert api.logins == 2
        assert api.paths()[-3:] == [
            "GET /api/v4/secrets",
            "POST /api/v1/auth/universal-auth/login",
            "GET /api/v4/secrets",
        ]

    def test_token_error_403_also_triggers_relogin(self, api: FakeTessera) -> None:
        seen: list[str] = []

        def expired_once(call: Call) -> Reply:
            seen.append(bearer_of(call))
            if len(seen) == 1:
                return Reply(403, {"message": "Your token has expired.", "error": "TokenError"})
            return Reply(200, {"secrets": []})

        api.add("GET", r"/api/v4/secrets", expired_once)
        with make_client(api, UniversalAuth("client-1", "s3cret")) as client:
            list_once(client)
        assert api.logins == 2
        assert seen[0] != seen[1]

    def test_seeded_state_is_reused_and_changes_reported(self, api: FakeTessera) -> None:
        token = api.issue("client-1")
        seed = TokenState(
            access_token=token, obtained_at=api.clock(), expires_in=100, max_expires_at=api.clock() + 250
        )
        changes: list[TokenState] = []
        with make_client(
            api, UniversalAuth("client-1", "s3cret"), token_state=seed, on_token_change=changes.append
        ) as client:
            list_once(client)
            assert api.logins == 0
            assert changes == []
            api.clock.advance(95)
            list_once(client)
        assert api.renewals == 1
        assert len(changes) == 1
        assert changes[0].access_token != token
        assert changes[0].max_expires_at == seed.max_expires_at

    def test_state_round_trips(self) -> None:
        state = TokenState("t", 10.0, 20.0, 30.0)
        assert TokenState.from_dict(state.to_dict()) == state


class TestRefreshTokenAuth:
    def test_exchanges_the_refresh_token(self) -> None:
        api = FakeTessera(FrozenClock(), ttl=100, max_ttl=150)
        api.refresh_tokens["rt-1"] = "identity-1"
        with make_client(api, RefreshTokenAuth("rt-1")) as client:
            list_once(client)
            api.clock.advance(95)  # renewing would pass max TTL: exchange again
            list_once(client)
        exchanges = [c.json() for c in api.calls if c.path == "/api/v1/auth/refresh-token-auth/login"]
        assert exchanges == [{"refreshToken": "rt-1"}] * 2
        assert "authorization" not in api.calls[0].headers

    def test_rotation_adopts_and_reports_the_new_refresh_token(self) -> None:
        api = FakeTessera(FrozenClock(), ttl=100, max_ttl=150)
        api.rotate_refresh_tokens = True
        api.refresh_tokens["rt-1"] = "identity-1"
        rotated: list[str] = []
        auth = RefreshTokenAuth("rt-1", on_rotate=rotated.append)
        with make_client(api, auth) as client:
            list_once(client)
            api.clock.advance(140)
            list_once(client)
        exchanges = [
            c.json()["refreshToken"] for c in api.calls if c.path.endswith("/refresh-token-auth/login")
        ]
        assert exchanges == ["rt-1", rotated[0]]
        assert len(rotated) == 2
        assert auth.refresh_token == rotated[-1] in api.refresh_tokens

    def test_rejected_refresh_token_is_an_authentication_error(self) -> None:
        api = FakeTessera()
        with make_client(api, RefreshTokenAuth("rt-unknown")) as client, pytest.raises(AuthenticationError):
            list_once(client)


class FixedSource:
    name = "fixed"

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.fetches = 0

    def get_token(self, resource: str) -> AzureToken:
        self.fetches += 1
        return AzureToken(token=f"azure-jwt-for-{resource}", expires_on=self.clock() + 3600, source=self.name)


class TestAzureAuth:
    def test_exchanges_the_managed_identity_token(self) -> None:
        api = FakeTessera(FrozenClock(), ttl=100, max_ttl=150)
        source = FixedSource(api.clock)
        api.azure["identity-9"] = "azure-jwt-for-api://tessera"
        auth = AzureAuth("identity-9", resource="api://tessera", token_source=source, clock=api.clock)
        with make_client(api, auth) as client:
            list_once(client)
            api.clock.advance(140)  # past the max TTL: log in again, reusing the cached Azure token
            list_once(client)
        logins = [c for c in api.calls if c.path == "/api/v1/auth/azure-auth/login"]
        assert [c.json() for c in logins] == [
            {"identityId": "identity-9", "jwt": "azure-jwt-for-api://tessera"}
        ] * 2
        assert source.fetches == 1

    def test_unknown_override_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="not_an_option"):
            AzureAuth("identity-9", not_an_option="x")


def test_concurrent_callers_share_one_login() -> None:
    api = FakeTessera()
    api.add_client()
    # A stampede would bring all 12 logins in at once; a shared login brings one, which waits.
    api.hold_logins = (12, 0.5)
    start = threading.Barrier(12)
    errors: list[BaseException] = []
    with make_client(api, UniversalAuth("client-1", "s3cret")) as client:

        def worker() -> None:
            try:
                start.wait(10)
                list_once(client)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert errors == []
    assert api.logins == 1
    assert api.login_arrivals == 1
    tokens = {bearer_of(c) for c in api.calls if c.path == "/api/v4/secrets"}
    assert len(tokens) == 1


def test_concurrent_callers_without_lock_would_stampede() -> None:
    """Control for the test above: two clients (two managers) really do log in twice."""
    api = FakeTessera()
    api.add_client()
    with (
        make_client(api, UniversalAuth("client-1", "s3cret")) as one,
        make_client(api, UniversalAuth("client-1", "s3cret")) as two,
    ):
        list_once(one)
        list_once(two)
    assert api.logins == 2
