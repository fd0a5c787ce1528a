"""The pure rate arithmetic: parsing the settings and the token-bucket decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tessera.ratelimit.rates import Rate, next_tat, parse_rate, retry_after_seconds, wait_ms
from tessera.ratelimit.rules import Group, classify, ip_subject, login_subject
from tessera.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/60", Rate(100, 60)),
        ("100/60s", Rate(100, 60)),
        (" 100 / 60 ", Rate(100, 60)),
        ("100/minute", Rate(100, 60)),
        ("100/minutes", Rate(100, 60)),
        ("5/hour", Rate(5, 3600)),
        ("5/2h", Rate(5, 7200)),
        ("1/day", Rate(1, 86400)),
        ("10/s", Rate(10, 1)),
        ("off", None),
        ("OFF", None),
        ("0", None),
        ("0/60", None),
        ("", None),
    ],
    ids=repr,
)
def test_parse_rate(text: str, expected: Rate | None) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text",
    ["100", "100/", "/60", "-1/60", "100/60ms", "100/fortnight", "1.5/60", "abc", "100/0", "100/99999999"],
)
def test_parse_rate_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|count"):
        parse_rate(text)


def test_settings_refuse_a_bad_rate_at_start_up() -> None:
    with pytest.raises(ValidationError, match="is not a rate"):
        Settings(rate_limit_login_per_ip="lots")


def test_defaults_limit_logins_and_leave_secret_routes_open() -> None:
    settings = Settings()
    assert parse_rate(settings.rate_limit_login_per_ip) == Rate(100, 60)
    assert parse_rate(settings.rate_limit_login_per_identity) == Rate(100, 60)
    assert parse_rate(settings.rate_limit_secrets_per_ip) is None
    assert parse_rate(settings.rate_limit_secrets_per_identity) is None


def test_a_full_bucket_admits_count_then_one_per_interval() -> None:
    rate = Rate(3, 60)  # one every 20 s
    tat: int | None = None
    now = 1_000_000
    admitted = 0
    for _ in range(5):
        if wait_ms(tat, now, rate) == 0:
            tat = next_tat(tat, now, rate)
            admitted += 1
    assert admitted == 3
    assert wait_ms(tat, now, rate) == 20_000
    assert wait_ms(tat, now + 20_000, rate) == 0


@given(
    count=st.integers(1, 50),
    period=st.integers(1, 600),
    gaps=st.lists(st.integers(0, 5_000), min_size=1, max_size=200),
)
def test_a_burst_of_count_then_one_per_interval_and_never_more(
    count: int, period: int, gaps: list[int]
) -> None:
    """Whatever the arrival pattern, between any two admitted requests at most `count` plus one per
    elapsed interval were admitted: the token-bucket bound (the bucket holds `count`)."""
    rate = Rate(count, period)
    tat: int | None = None
    now = 10**12
    admitted: list[int] = []
    for gap in gaps:
        now += gap
        if wait_ms(tat, now, rate) == 0:
            tat = next_tat(tat, now, rate)
            admitted.append(now)
    for first in range(len(admitted)):
        for last in range(first, len(admitted)):
            elapsed = admitted[last] - admitted[first]
            assert last - first + 1 <= count + elapsed // rate.interval_ms


def test_a_full_bucket_refused_keeps_refusing_until_one_interval_passes() -> None:
    rate = Rate(100, 60)  # 600 ms per request
    tat: int | None = None
    now = 0
    for _ in range(100):
        assert wait_ms(tat, now, rate) == 0
        tat = next_tat(tat, now, rate)
    assert wait_ms(tat, now, rate) == 600
    assert wait_ms(tat, now + 599, rate) == 1
    assert wait_ms(tat, now + 600, rate) == 0


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_seconds(ms) for ms in (1, 999, 1000, 1001, 12_000)] == [1, 1, 1, 2, 12]


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("POST", "/api/v1/auth/universal-auth/login", Group.login),
        ("POST", "/api/v1/auth/azure-auth/login", Group.login),
        ("POST", "/api/v1/auth/refresh-token-auth/login", Group.login),
        ("GET", "/api/v1/auth/universal-auth/login", None),
        ("POST", "/api/v1/auth/universal-auth/identities/x", None),
        ("GET", "/api/v3/secrets/raw", Group.secrets),
        ("POST", "/api/v3/secrets/raw/DB_PASSWORD", Group.secrets),
        ("PATCH", "/api/v4/secrets/batch", Group.secrets),
        ("GET", "/api/v1/secret/abc/secret-versions", Group.secrets),
        ("GET", "/api/v2/folders", Group.secrets),
        ("GET", "/api/v1/secret-imports", Group.secrets),
        ("POST", "/api/v1/kms/keys/k/encrypt", Group.secrets),
        ("GET", "/api/v3/secretsX", None),
        ("GET", "/api/status", None),
        ("GET", "/api/v1/identities", None),
    ],
    ids=str,
)
def test_classify(method: str, path: str, group: Group | None) -> None:
    assert classify(method, path) is group


@pytest.mark.parametrize(
    ("path", "body", "subject"),
    [
        ("/api/v1/auth/universal-auth/login", {"clientId": " AbC "}, "abc"),
        ("/api/v1/auth/universal-auth/login", {"clientId": 5}, None),
        ("/api/v1/auth/universal-auth/login", {"clientId": "  "}, None),
        ("/api/v1/auth/universal-auth/login", ["clientId"], None),
        ("/api/v1/auth/azure-auth/login", {"identityId": "ID"}, "id"),
        ("/api/v1/auth/refresh-token-auth/login", {"refreshToken": "Tok"}, "Tok"),
    ],
)
def test_login_subject(path: str, body: object, subject: str | None) -> None:
    assert login_subject(path, body) == subject


@pytest.mark.parametrize(
    ("ip", "subject"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_ip_subject(ip: str | None, subject: str) -> None:
    assert ip_subject(ip) == subject
