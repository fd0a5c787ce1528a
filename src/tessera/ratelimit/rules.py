"""Pure: which limits a request meets, and the client and identity it is counted against."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tessera.ratelimit.rates import Rate, parse_rate
from tessera.settings import Settings


class Group(StrEnum):
    login = "login"
    secrets = "secrets"


# Login routes and the body field that names who is logging in (the identity's bucket).
LOGIN_SUBJECT_FIELDS = {
    "/api/v1/auth/universal-auth/login": "clientId",
    "/api/v1/auth/azure-auth/login": "identityId",
    "/api/v1/auth/refresh-token-auth/login": "refreshToken",
    "/api/v1/auth/refresh-token/login": "refreshToken",
}
# The data plane: secrets, their folders, imports and history, and the KMS operations.
SECRET_PREFIXES = (
    "/api/v3/secrets",
    "/api/v4/secrets",
    "/api/v1/secret",
    "/api/v1/folders",
    "/api/v2/folders",
    "/api/v1/secret-imports",
    "/api/v2/secret-imports",
    "/api/v1/kms",
)
MAX_SUBJECT_CHARS = 512


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    rate: Rate


@dataclass(frozen=True, slots=True)
class GroupRules:
    per_ip: Rule | None
    per_identity: Rule | None

    @property
    def active(self) -> bool:
        return self.per_ip is not None or self.per_identity is not None


def rules_from_settings(settings: Settings) -> dict[Group, GroupRules]:
    def rule(name: str, value: str) -> Rule | None:
        rate = parse_rate(value)
        return Rule(name, rate) if rate is not None else None

    return {
        Group.login: GroupRules(
            rule("login:ip", settings.rate_limit_login_per_ip),
            rule("login:identity", settings.rate_limit_login_per_identity),
        ),
        Group.secrets: GroupRules(
            rule("secrets:ip", settings.rate_limit_secrets_per_ip),
            rule("secrets:identity", settings.rate_limit_secrets_per_identity),
        ),
    }


def classify(method: str, path: str) -> Group | None:
    """The group of a request by its (slash-stripped) path, exactly as the router will route it."""
    if path in LOGIN_SUBJECT_FIELDS:
        return Group.login if method == "POST" else None
    if _under_secret_prefix(path):
        return Group.secrets
    return None


def _under_secret_prefix(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in SECRET_PREFIXES)


def is_limited_route(template: str) -> bool:
    """Whether requests to a route with this path template can be rate limited (for any method)."""
    return template in LOGIN_SUBJECT_FIELDS or _under_secret_prefix(template)


def login_subject(path: str, body: Any) -> str | None:
    """Who a login is for, normalised so that spelling variants share one bucket.

    Client ids and identity ids are UUIDs: surrounding space and letter case are dropped, so
    " C", "C " and an upper-cased C are counted as C.
    """
    field = LOGIN_SUBJECT_FIELDS.get(path)
    value = body.get(field) if field is not None and isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value[:MAX_SUBJECT_CHARS]
    return value if field == "refreshToken" else value.strip().casefold()


def ip_subject(client_ip: str | None) -> str:
    """IPv4 as is (IPv4-mapped IPv6 unwrapped); IPv6 by its /64, the block one client usually holds."""
    if client_ip is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def bucket_key(secret: bytes, rule: Rule, subject: str) -> str:
    """A keyed hash of rule and subject: storage holds no addresses, client ids or tokens."""
    message = rule.name.encode() + b"\x00" + subject.encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
