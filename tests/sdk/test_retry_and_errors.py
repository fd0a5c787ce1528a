"""Retry policy (idempotent methods only, backoff with jitter, Retry-After) and the error tree."""

from __future__ import annotations

import email.utils
import random

import httpx
import pytest

from tessera_sdk import (
    AuthenticationError,
    Client,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TesseraError,
    TokenAuth,
    ValidationError,
)
from tessera_sdk.errors import error_from_response, parse_retry_after
from tessera_sdk.retry import Retrier
from tests.sdk.fakes import Call, FrozenClock, Reply, Router, SleepRecorder

SITE = "https://tessera.test"


def flaky(statuses: list[int], final: Reply | None = None, headers: dict[str, str] | None = None) -> Router:
    """Answers each status in turn (with `headers`), then `final` for every later call."""
    router = Router()
    queue = list(statuses)

    def answer(call: Call) -> Reply:
        if queue:
            return Reply(queue.pop(0), {"message": "try later", "reqId": "req-x"}, dict(headers or {}))
        return final or Reply(200, {"secrets": [], "secret": _secret(), "key": _key()})

    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        router.add(method, r"/api/.*", answer)
    return router


def _secret() -> dict[str, object]:
    return {"id": "1", "secretKey": "K", "secretValue": "v"}


def _key() -> dict[str, object]:
    return {"id": "k", "name": "key"}


def client_for(
    router: Router, sleep: SleepRecorder, clock: FrozenClock | None = None, **policy: object
) -> Client:
    return Client(
        SITE,
        auth=TokenAuth("tok"),
        transport=router.transport(),
        sleep=sleep,
        clock=clock or FrozenClock(),
        rng=random.Random(7),
        retry=RetryPolicy(**policy),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_get_is_retried_then_succeeds(status: int) -> None:
    router, sleep = flaky([status, status]), SleepRecorder()
    with client_for(router, sleep) as client:
        client.secrets.list("p", "dev")
    assert len(router.calls) == 3
    assert len(sleep.delays) == 2


def test_backoff_grows_exponentially_with_jitter() -> None:
    router, sleep = flaky([503] * 5), SleepRecorder()
    with client_for(router, sleep, attempts=6, base_delay=1.0, max_delay=6.0) as client:
        client.secrets.list("p", "dev")
    ceilings = [1.0, 2.0, 4.0, 6.0, 6.0]
    assert len(sleep.delays) == 5
    for delay, ceiling in zip(sleep.delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(sleep.delays)) == 5  # jittered, not a fixed schedule


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("POST", lambda c: c.secrets.create("K", "v", "p", "dev")),
        ("PATCH", lambda c: c.secrets.update("K", "p", "dev", value="v")),
        ("POST", lambda c: c.kms.encrypt("key", b"x")),
    ],
    ids=["create-post", "update-patch", "kms-post"],
)
def test_non_idempotent_requests_are_not_retried(method: str, call: object) -> None:
    router, sleep = flaky([503]), SleepRecorder()
    with client_for(router, sleep) as client, pytest.raises(ServerError) as info:
        call(client)  # type: ignore[operator]
    assert [c.method for c in router.calls] == [method]
    assert sleep.delays == []
    assert info.value.status == 503
    assert info.value.request_id == "req-x"


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("GET", lambda c: c.secrets.get("K", "p", "dev")),
        ("DELETE", lambda c: c.secrets.delete("K", "p", "dev")),
    ],
    ids=["get", "delete"],
)
def test_idempotent_requests_are_retried(name: str, call: object) -> None:
    router, sleep = flaky([500]), SleepRecorder()
    with client_for(router, sleep) as client:
        call(client)  # type: ignore[operator]
    assert [c.method for c in router.calls] == [name, name]


def test_retry_after_seconds_is_honoured() -> None:
    router, sleep = flaky([429], headers={"Retry-After": "7"}), SleepRecorder()
    with client_for(router, sleep) as client:
        client.secrets.list("p", "dev")
    assert sleep.delays == [7.0]


def test_retry_after_http_date_is_honoured() -> None:
    clock = FrozenClock(1_900_000_000.0)
    when = email.utils.formatdate(clock() + 12, usegmt=True)
    router, sleep = flaky([503], headers={"Retry-After": when}), SleepRecorder()
    with client_for(router, sleep, clock) as client:
        client.secrets.list("p", "dev")
    assert sleep.delays == [pytest.approx(12.0)]


def test_too_long_retry_after_is_not_waited_for() -> None:
    router, sleep = flaky([429], headers={"Retry-After": "3600"}), SleepRecorder()
    with client_for(router, sleep) as client, pytest.raises(RateLimitError) as info:
        client.secrets.list("p", "dev")
    assert sleep.delays == []
    assert info.value.retry_after == 3600.0


def test_gives_up_after_the_attempts() -> None:
    router, sleep = flaky([503] * 10), SleepRecorder()
    with client_for(router, sleep, attempts=3) as client, pytest.raises(ServerError):
        client.secrets.list("p", "dev")
    assert len(router.calls) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    router, sleep = flaky([status] * 3), SleepRecorder()
    with client_for(router, sleep) as client, pytest.raises(TesseraError):
        client.secrets.list("p", "dev")
    assert sleep.delays == []


def test_network_errors_retried_for_get_only() -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    sleep = SleepRecorder()
    client = Client(SITE, auth=TokenAuth("t"), transport=httpx.MockTransport(refuse), sleep=sleep)
    with client:
        with pytest.raises(NetworkError) as info:
            client.secrets.list("p", "dev")
        assert attempts == ["GET"] * 4
        assert info.value.status == 0
        attempts.clear()
        with pytest.raises(NetworkError):
            client.secrets.create("K", "v", "p", "dev")
        assert attempts == ["POST"]


def test_retrier_backoff_is_capped() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5)
    rng = random.Random(1)
    assert all(policy.backoff(n, rng) <= 5 for n in range(1, 30))
    assert Retrier().policy.methods == frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def _response(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (401, "UnauthorizedError", AuthenticationError),
        (403, "TokenError", AuthenticationError),
        (403, "PermissionDenied", PermissionDeniedError),
        (403, "ForbiddenError", PermissionDeniedError),
        (404, "NotFound", NotFoundError),
        (400, "BadRequest", ValidationError),
        (409, "Conflict", ValidationError),
        (422, "ValidationFailure", ValidationError),
        (429, "RateLimitExceeded", RateLimitError),
        (500, "InternalServerError", ServerError),
        (503, "ServiceUnavailable", ServerError),
        (418, "Teapot", TesseraError),
    ],
    ids=lambda value: str(getattr(value, "__name__", value)),
)
def test_error_mapping(status: int, error: str, expected: type[TesseraError]) -> None:
    exc = error_from_response(_response(status, {"reqId": "req-abc", "message": "nope", "error": error}))
    assert type(exc) is expected
    assert (exc.status, exc.message, exc.request_id, exc.error) == (status, "nope", "req-abc", error)
    assert "req-abc" in str(exc)


def test_validation_issue_list_becomes_readable() -> None:
    body = {
        "message": [{"path": ["secretName"], "message": "Required"}, {"message": "bad"}],
        "error": "ValidationFailure",
    }
    exc = error_from_response(_response(422, body, {"x-request-id": "req-hdr"}))
    assert exc.message == "secretName: Required; bad"
    assert exc.request_id == "req-hdr"


def test_non_json_error_body() -> None:
    exc = error_from_response(httpx.Response(502, content=b"<html>bad gateway</html>"))
    assert isinstance(exc, ServerError)
    assert exc.message == "Bad Gateway"


@pytest.mark.parametrize(
    ("value", "expected"), [("5", 5.0), ("0", 0.0), ("-1", None), ("soon", None), (None, None), ("", None)]
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_every_error_is_a_tessera_error() -> None:
    for cls in (
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ValidationError,
        RateLimitError,
        ServerError,
        NetworkError,
    ):
        assert issubclass(cls, TesseraError)
