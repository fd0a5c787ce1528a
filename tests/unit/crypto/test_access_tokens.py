"""Access-token JWTs: claim names, no exp for TTL 0, HS256 pinned, expiry by the injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.crypto.access_tokens import (
    ALGORITHM,
    IDENTITY_ACCESS_TOKEN_TYPE,
    AccessTokenClaims,
    decode_access_token,
    encode_access_token,
)
from tessera.errors import TokenError

# 64 bytes each, so that forging with HS512 below does not trip the short-key warning.
SECRET = b"unit-test-signing-secret-".ljust(64, b"s")
OTHER_SECRET = b"another-signing-secret-".ljust(64, b"o")
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MALFORMED = "The provided access token is malformed"
BAD_ALGORITHM = "signed with an invalid algorithm"
EXPIRED = "Your token has expired"


def _encode(expires_at: datetime | None = None, **extra: Any) -> str:
    return encode_access_token(
        identity_id="identity-1",
        token_id="token-1",
        secret=SECRET,
        issued_at=NOW,
        expires_at=expires_at,
        **extra,
    )


def _unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_claims_are_the_ones_infisical_clients_read() -> None:
    token = _encode(NOW + timedelta(hours=1))
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert _unverified(token) == {
        "identityId": "identity-1",
        "identityAccessTokenId": "token-1",
        "authTokenType": "identityAccessToken",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
    }


def test_ttl_zero_means_no_exp_claim_at_all() -> None:
    token = _encode(None)
    assert "exp" not in _unverified(token)
    # Valid however far the clock moves.
    assert decode_access_token(token, secret=SECRET, now=NOW + timedelta(days=3650)).token_id == "token-1"


def test_client_secret_id_only_when_given() -> None:
    assert "clientSecretId" not in _unverified(_encode())
    token = _encode(client_secret_id="cs-1")
    assert _unverified(token)["clientSecretId"] == "cs-1"
    assert decode_access_token(token, secret=SECRET, now=NOW).client_secret_id == "cs-1"


def test_round_trip() -> None:
    claims = decode_access_token(_encode(NOW + timedelta(seconds=60)), secret=SECRET, now=NOW)
    assert claims == AccessTokenClaims(
        identity_id="identity-1",
        token_id="token-1",
        token_type=IDENTITY_ACCESS_TOKEN_TYPE,
        client_secret_id=None,
    )


def test_expiry_follows_the_injected_clock() -> None:
    token = _encode(NOW + timedelta(seconds=60))
    decode_access_token(token, secret=SECRET, now=NOW + timedelta(seconds=59))
    for later in (60, 61, 10_000):
        with pytest.raises(TokenError, match=EXPIRED) as caught:
            decode_access_token(token, secret=SECRET, now=NOW + timedelta(seconds=later))
        assert caught.value.reason == "token_expired"
        assert caught.value.status_code == 403


def test_wrong_type_is_decoded_not_accepted_here() -> None:
    """The type is returned for the caller to check (the per-request check refuses it)."""
    token = jwt.encode(
        {"identityId": "i", "identityAccessTokenId": "t", "authTokenType": "accessToken", "iat": 1},
        SECRET,
        algorithm=ALGORITHM,
    )
    assert decode_access_token(token, secret=SECRET, now=NOW).token_type == "accessToken"


def _forge(claims: dict[str, Any], key: bytes | str, algorithm: str) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


VALID_CLAIMS: dict[str, Any] = {
    "identityId": "identity-1",
    "identityAccessTokenId": "token-1",
    "authTokenType": IDENTITY_ACCESS_TOKEN_TYPE,
    "iat": int(NOW.timestamp()),
}


def _alg_none() -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    payload = jwt.utils.base64url_encode(json.dumps(VALID_CLAIMS).encode()).decode()
    return f"{header}.{payload}."


@pytest.mark.parametrize(
    ("token", "message", "reason"),
    [
        pytest.param("garbage", MALFORMED, "token_malformed", id="garbage"),
        pytest.param("a.b.c", MALFORMED, "token_malformed", id="three-garbage-parts"),
        pytest.param("", MALFORMED, "token_malformed", id="empty"),
        pytest.param(
            _forge(VALID_CLAIMS, OTHER_SECRET, "HS256"), MALFORMED, "token_malformed", id="forged-key"
        ),
        pytest.param(_alg_none(), BAD_ALGORITHM, "token_bad_algorithm", id="alg-none"),
        pytest.param(
            _forge(VALID_CLAIMS, OTHER_SECRET, "HS512"),
            BAD_ALGORITHM,
            "token_bad_algorithm",
            id="hs512-other-key",
        ),
        pytest.param(
            _forge(VALID_CLAIMS, SECRET, "HS512"), BAD_ALGORITHM, "token_bad_algorithm", id="hs512-same-key"
        ),
        pytest.param(
            _forge(VALID_CLAIMS, SECRET, "HS384"), BAD_ALGORITHM, "token_bad_algorithm", id="hs384-same-key"
        ),
        pytest.param(
            _forge({k: v for k, v in VALID_CLAIMS.items() if k != "iat"}, SECRET, "HS256"),
            MALFORMED,
            "token_malformed",
            id="no-iat",
        ),
        pytest.param(
            _forge({k: v for k, v in VALID_CLAIMS.items() if k != "identityId"}, SECRET, "HS256"),
            MALFORMED,
            "token_claims_missing",
            id="no-identity-id",
        ),
        pytest.param(
            _forge({**VALID_CLAIMS, "identityAccessTokenId": 7}, SECRET, "HS256"),
            MALFORMED,
            "token_claims_missing",
            id="token-id-not-a-string",
        ),
        pytest.param(
            _forge({**VALID_CLAIMS, "exp": "never"}, SECRET, "HS256"),
            EXPIRED,
            "token_expired",
            id="exp-not-a-number",
        ),
        pytest.param(
            _forge({**VALID_CLAIMS, "exp": int(NOW.timestamp()) - 1}, SECRET, "HS256"),
            EXPIRED,
            "token_expired",
            id="expired",
        ),
    ],
)
def test_refused_tokens(token: str, message: str, reason: str) -> None:
    with pytest.raises(TokenError, match=message) as caught:
        decode_access_token(token, secret=SECRET, now=NOW)
    assert caught.value.reason == reason
    assert caught.value.error == "TokenError"


def test_a_tampered_payload_is_refused() -> None:
    header, _payload, signature = _encode().split(".")
    other = jwt.utils.base64url_encode(json.dumps({**VALID_CLAIMS, "identityId": "x"}).encode())
    with pytest.raises(TokenError, match=MALFORMED):
        decode_access_token(f"{header}.{other.decode()}.{signature}", secret=SECRET, now=NOW)


_ids = st.text(min_size=1, max_size=40)


@given(_ids, _ids, st.one_of(st.none(), _ids), st.one_of(st.none(), st.integers(1, 10**8)))
def test_round_trip_property(
    identity_id: str, token_id: str, client_secret_id: str | None, ttl: int | None
) -> None:
    expires = NOW + timedelta(seconds=ttl) if ttl is not None else None
    token = encode_access_token(
        identity_id=identity_id,
        token_id=token_id,
        secret=SECRET,
        issued_at=NOW,
        expires_at=expires,
        client_secret_id=client_secret_id,
    )
    claims = decode_access_token(token, secret=SECRET, now=NOW)
    assert (claims.identity_id, claims.token_id, claims.client_secret_id) == (
        identity_id,
        token_id,
        client_secret_id,
    )
    with pytest.raises(TokenError):
        decode_access_token(token, secret=OTHER_SECRET, now=NOW)
