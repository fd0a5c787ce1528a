"""Tessera's own access-token JWTs: HS256 with the server secret, algorithm pinned on decode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from tessera.errors import TokenError

ALGORITHM = "HS256"
IDENTITY_ACCESS_TOKEN_TYPE = "identityAccessToken"  # noqa: S105 - the exact claim value clients decode


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    identity_id: str
    token_id: str
    token_type: str
    client_secret_id: str | None


def encode_access_token(
    *,
    identity_id: str,
    token_id: str,
    secret: bytes,
    issued_at: datetime,
    expires_at: datetime | None,
    client_secret_id: str | None = None,
) -> str:
    claims: dict[str, Any] = {
        "identityId": identity_id,
        "identityAccessTokenId": token_id,
        "authTokenType": IDENTITY_ACCESS_TOKEN_TYPE,
        "iat": int(issued_at.timestamp()),
    }
    if client_secret_id is not None:
        claims["clientSecretId"] = client_secret_id
    # A TTL of 0 means "no expiry": no exp claim at all, as Infisical clients expect.
    if expires_at is not None:
        claims["exp"] = int(expires_at.timestamp())
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: bytes, now: datetime) -> AccessTokenClaims:
    """Verify signature and expiry; raises TokenError (403 on the wire) for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidAlgorithmError as exc:
        raise TokenError(
            "The access token is signed with an invalid algorithm. "
            "Please provide a valid token and try again.",
            reason="token_bad_algorithm",
        ) from exc
    except jwt.PyJWTError as exc:
        raise TokenError(reason="token_malformed") from exc
    # Expiry is checked against the injected clock rather than the library's wall clock.
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or now.timestamp() >= exp):
        raise TokenError("Your token has expired. Please re-authenticate.", reason="token_expired")
    identity_id = claims.get("identityId")
    token_id = claims.get("identityAccessTokenId")
    token_type = claims.get("authTokenType")
    if not isinstance(identity_id, str) or not isinstance(token_id, str) or not isinstance(token_type, str):
        raise TokenError(reason="token_claims_missing")
    client_secret_id = claims.get("clientSecretId")
    return AccessTokenClaims(
        identity_id=identity_id,
        token_id=token_id,
        token_type=token_type,
        client_secret_id=client_secret_id if isinstance(client_secret_id, str) else None,
    )
