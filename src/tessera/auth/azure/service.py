"""Azure Auth: managing an identity's configuration, and logging in with an Entra ID token.

Orchestration only: the checks live in `verify.py` (pure) and the key fetching in `jwks.py`.
Every login failure leaves as the same 401 "Invalid credentials"; the reason and the token's
identifiers go to the audit record and the outcome counters. The one exception is a key
outage (503), because telling a caller to retry is not telling it anything about the token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import RequestContext
from tessera.auth.azure.clouds import ISSUER_HOSTS, Cloud
from tessera.auth.azure.ids import resource_segments
from tessera.auth.azure.models import METHOD, AzureUsedToken, IdentityAzureAuth
from tessera.auth.azure.schemas import AzureAuthAttachIn, AzureAuthPatchIn, AzureFieldsIn, AzureLoginIn
from tessera.auth.azure.verify import (
    LEEWAY_SECONDS,
    AzureClaims,
    AzureVerificationError,
    AzureVerifyConfig,
    CheckResult,
    claim_summary,
    explain_azure_token,
    preview,
    verify_azure_token,
)
from tessera.auth.login import LoginResult, identity_login_problem, issue_access_token, login_failure
from tessera.auth.method_admin import (
    add_config,
    audit_admin,
    find_identity,
    patch_policy,
    remove_config,
    require_config,
)
from tessera.auth.principal import Principal
from tessera.errors import InvalidCredentials, PermissionDenied, UpstreamUnavailable
from tessera.identities.models import Identity
from tessera.rbac.service import org_role
from tessera.store.base import new_id

LABEL = "Azure Auth"

AuthorityFor = Callable[[Cloud], str]
# Opens a short read-only session outside the request's write transaction (`store.engine.read_session`).
Reader = Callable[[], AbstractContextManager[Session]]


class KeySource(Protocol):
    """Where signing keys come from (`JwksCache` in the app, anything in tests)."""

    def get_keys(self, authority: str, tenant_id: str, kid: str) -> Mapping[str, RSAPublicKey]: ...


# --- configuration ----------------------------------------------------------------------------


def to_verify_config(config: IdentityAzureAuth) -> AzureVerifyConfig:
    """The stored (already normalised) configuration as the verifier's input."""
    resource_ids = tuple(
        segments for segments in map(resource_segments, config.allowed_resource_ids) if segments is not None
    )
    return AzureVerifyConfig(
        tenant_ids=tuple(config.tenant_ids),
        audience=config.resource,
        issuer_hosts=ISSUER_HOSTS[Cloud(config.cloud)],
        allowed_principal_ids=frozenset(config.allowed_service_principal_ids),
        allowed_client_ids=frozenset(config.allowed_client_ids),
        allow_any_principal_in_tenant=config.allow_any_principal_in_tenant,
        allowed_subscription_ids=frozenset(config.allowed_subscription_ids),
        allowed_resource_groups=frozenset(g.casefold() for g in config.allowed_resource_groups),
        allowed_resource_ids=resource_ids,
        max_token_age_seconds=config.max_token_age_seconds,
        require_token_id=config.one_time_use,
    )


def config_wire(config: IdentityAzureAuth) -> dict[str, Any]:
    """Infisical's `identityAzureAuth` (comma-joined principal IDs) plus Tessera's fields."""
    return {
        **config.common_wire(),
        "tenantId": config.tenant_ids[0] if config.tenant_ids else "",
        "resource": config.resource,
        "allowedServicePrincipalIds": ", ".join(config.allowed_service_principal_ids),
        "tenantIds": list(config.tenant_ids),
        "cloud": config.cloud,
        "allowAnyPrincipalInTenant": config.allow_any_principal_in_tenant,
        "allowedClientIds": list(config.allowed_client_ids),
        "allowedSubscriptionIds": list(config.allowed_subscription_ids),
        "allowedResourceGroups": list(config.allowed_resource_groups),
        "allowedResourceIds": list(config.allowed_resource_ids),
        "maxTokenAgeSeconds": config.max_token_age_seconds,
        "oneTimeUse": config.one_time_use,
    }


def _apply_fields(config: IdentityAzureAuth, body: AzureFieldsIn) -> None:
    """Copy the Azure fields that were sent; None means "leave as is"."""
    tenants = body.tenants()
    if tenants is not None:
        config.tenant_ids = tenants
    lists = {
        "allowed_service_principal_ids": body.allowed_service_principal_ids,
        "allowed_client_ids": body.allowed_client_ids,
        "allowed_subscription_ids": body.allowed_subscription_ids,
        "allowed_resource_groups": body.allowed_resource_groups,
        "allowed_resource_ids": body.allowed_resource_ids,
    }
    for name, value in lists.items():
        if value is not None:
            setattr(config, name, list(value))
    if body.allow_any_principal_in_tenant is not None:
        config.allow_any_principal_in_tenant = body.allow_any_principal_in_tenant
    if body.max_token_age_seconds is not None:
        config.max_token_age_seconds = body.max_token_age_seconds or None  # 0 clears the limit
    if body.one_time_use is not None:
        config.one_time_use = body.one_time_use
    if body.cloud is not None:
        config.cloud = body.cloud.value


def attach(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: AzureAuthAttachIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityAzureAuth:
    """Attach Azure Auth to an identity.

    Raises:
        PermissionDenied, NotFound: the caller may not create identity auth / no such identity.
        BadRequest: Azure Auth is already attached.
    """
    identity = find_identity(session, principal, identity_id, "create")
    config = IdentityAzureAuth(
        identity_id=identity.id,
        resource=body.resource,
        cloud=Cloud.public.value,
        tenant_ids=[],
        allowed_service_principal_ids=[],
        allowed_client_ids=[],
        allow_any_principal_in_tenant=False,
        allowed_subscription_ids=[],
        allowed_resource_groups=[],
        allowed_resource_ids=[],
        one_time_use=False,
        created_at=now,
        updated_at=now,
    )
    config.set_policy(body.to_policy())
    _apply_fields(config, body)
    add_config(session, config, LABEL)
    audit_admin(session, principal, "azure_auth.attach", identity=identity, method=METHOD, ctx=ctx, now=now)
    return config


def update(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: AzureAuthPatchIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityAzureAuth:
    """Change the fields sent; a trusted-IP change applies to tokens already issued.

    Raises:
        PermissionDenied, NotFound, BadRequest (not attached), ValidationFailure (policy).
    """
    identity = find_identity(session, principal, identity_id, "edit")
    config = require_config(session, IdentityAzureAuth, identity.id, LABEL)
    _apply_fields(config, body)
    if body.resource is not None:
        config.resource = body.resource
    patch_policy(session, config, body, METHOD, now=now)
    audit_admin(session, principal, "azure_auth.update", identity=identity, method=METHOD, ctx=ctx, now=now)
    return config


def get(session: Session, principal: Principal, identity_id: str) -> IdentityAzureAuth:
    """Raises PermissionDenied, NotFound, or BadRequest when Azure Auth is not attached."""
    identity = find_identity(session, principal, identity_id, "read")
    return require_config(session, IdentityAzureAuth, identity.id, LABEL)


def revoke(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityAzureAuth:
    """Remove Azure Auth and revoke every token minted through it (other methods' tokens live on).

    Raises:
        PermissionDenied, NotFound, BadRequest (not attached).
    """
    identity = find_identity(session, principal, identity_id, "edit")
    config = require_config(session, IdentityAzureAuth, identity.id, LABEL)
    revoked = remove_config(session, config, METHOD)
    audit_admin(
        session,
        principal,
        "azure_auth.revoke",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"revokedTokens": revoked},
    )
    return config


# --- login ------------------------------------------------------------------------------------


# Built once: every login runs it, and composing the statement cost as much CPU as running it.
_FIND = (
    select(Identity, IdentityAzureAuth)
    .outerjoin(IdentityAzureAuth, IdentityAzureAuth.identity_id == Identity.id)
    .where(Identity.id == bindparam("p_identity_id"))
)


def _find(session: Session, identity_id: str) -> tuple[Identity | None, IdentityAzureAuth | None]:
    try:
        uuid.UUID(identity_id)
    except ValueError:
        return None, None
    row = session.execute(_FIND, {"p_identity_id": identity_id}).first()
    if row is None:
        return None, None
    return row[0], row[1]


def consume_token_id(session: Session, identity_id: str, claims: AzureClaims, now: datetime) -> bool:
    """Record the Azure token's `uti` as used; False when it was used before (a replay).

    One INSERT against a unique constraint decides, so two concurrent logins with the same token
    cannot both win. Rows whose token can no longer verify are purged on the way.
    """
    session.execute(
        delete(AzureUsedToken)
        .where(AzureUsedToken.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    try:
        with session.begin_nested():
            session.execute(
                insert(AzureUsedToken).values(
                    id=new_id(),
                    identity_id=identity_id,
                    uti=claims.token_id,
                    # The verifier accepts a token until exp + leeway, so remember it that long.
                    expires_at=claims.expires_at + timedelta(seconds=LEEWAY_SECONDS),
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


class _PrefetchedKeys:
    """A KeySource that answers the one lookup made before the write transaction from memory.

    Whatever that lookup gave, keys or UpstreamUnavailable, is given again; any other lookup (the
    configuration changed in between) goes to the real source.
    """

    def __init__(self, source: KeySource) -> None:
        self._source = source
        self._lookup: tuple[str, str, str] | None = None
        self._answer: Mapping[str, RSAPublicKey] | UpstreamUnavailable | None = None

    def prefetch(self, authority: str, tenant_id: str, kid: str) -> None:
        try:
            self._answer = self._source.get_keys(authority, tenant_id, kid)
        except UpstreamUnavailable as exc:
            self._answer = exc
        self._lookup = (authority, tenant_id, kid)

    def get_keys(self, authority: str, tenant_id: str, kid: str) -> Mapping[str, RSAPublicKey]:
        if self._answer is None or self._lookup != (authority, tenant_id, kid):
            return self._source.get_keys(authority, tenant_id, kid)
        if isinstance(self._answer, UpstreamUnavailable):
            raise self._answer
        return self._answer


def prefetch_keys(
    reader: Reader, body: AzureLoginIn, keys: KeySource, authority_for: AuthorityFor
) -> KeySource:
    """Fetch the signing keys the login will need, before its write transaction begins.

    A fetch can take seconds (a tenant not yet cached, a slow Entra). Inside the write transaction
    it would hold SQLite's one write lock all that time, stalling every other request, and a
    pooled connection on PostgreSQL. So the configuration is read in a short read-only session
    and the keys fetched after it ended. Nothing is decided here: a missing identity or
    configuration or a malformed token simply fetches nothing, and the unchanged checks in
    `login` then fail exactly as before, on what the write transaction reads.
    """
    prefetched = _PrefetchedKeys(keys)
    with reader() as read:
        _identity, config = _find(read, body.identity_id)
        if config is None:
            return prefetched
        verify_config = to_verify_config(config)
        cloud = Cloud(config.cloud)
    try:
        seen = preview(body.jwt, verify_config)
    except AzureVerificationError:
        return prefetched  # `login` fails on the same check, without a fetch as before
    prefetched.prefetch(authority_for(cloud), seen.tenant_id, seen.kid)
    return prefetched


def login(
    session: Session,
    body: AzureLoginIn,
    *,
    keys: KeySource,
    authority_for: AuthorityFor,
    now: datetime,
    signing_secret: bytes,
    ctx: RequestContext,
) -> LoginResult:
    """Exchange an Entra ID token for a Tessera access token.

    The caller fetches keys that are not cached yet with `prefetch_keys` BEFORE opening the
    login's write transaction and passes what it got as `keys`, so that transaction never waits
    on Entra. Outcomes are counted like every method's: successes where the token is minted,
    failures (with their reason) where the request edge audits them.

    Raises:
        InvalidCredentials: any failure at all (reason in the audit record).
        UpstreamUnavailable: the tenant's signing keys cannot be obtained (503).
    """
    details: dict[str, Any] = {"requestedIdentityId": body.identity_id[:64], **claim_summary(body.jwt)}
    identity, config = _find(session, body.identity_id)
    if identity is None:
        raise login_failure("identity_not_found", method=METHOD, details=details)
    if config is None:
        raise _failure("azure_auth_not_configured", identity, details)
    verify_config = to_verify_config(config)
    try:
        claims = _verify(body.jwt, verify_config, config, keys, authority_for, now)
    except AzureVerificationError as exc:
        raise _failure(exc.reason, identity, {**details, "detail": exc.detail}) from None
    except UpstreamUnavailable as exc:
        exc.audit = {"event": "login", "auth_method": METHOD, "details": details, **_ids(identity)}
        raise
    details = {**details, **claims.audit_details()}
    if config.one_time_use and not consume_token_id(session, identity.id, claims, now):
        raise _failure("token_replayed", identity, details)
    try:
        return issue_access_token(
            session,
            identity=identity,
            method=METHOD,
            policy=config.policy(),
            now=now,
            signing_secret=signing_secret,
            ctx=ctx,
            audit_details=claims.audit_details(),
        )
    except InvalidCredentials as exc:  # disabled/expired identity, untrusted IP
        if exc.audit is not None:
            exc.audit["details"] = {**details, **(exc.audit.get("details") or {})}
        raise


def _failure(reason: str, identity: Identity, details: dict[str, Any]) -> InvalidCredentials:
    return login_failure(
        reason, method=METHOD, identity_id=identity.id, org_id=identity.org_id, details=details
    )


def _ids(identity: Identity) -> dict[str, str]:
    return {"identity_id": identity.id, "org_id": identity.org_id}


def _verify(
    token: str,
    verify_config: AzureVerifyConfig,
    config: IdentityAzureAuth,
    keys: KeySource,
    authority_for: AuthorityFor,
    now: datetime,
) -> AzureClaims:
    # The key-free checks first: keys are only fetched for a configured tenant and a sane header.
    seen = preview(token, verify_config)
    key_set = keys.get_keys(authority_for(Cloud(config.cloud)), seen.tenant_id, seen.kid)
    return verify_azure_token(token, key_set, verify_config, now)


# --- explain ----------------------------------------------------------------------------------


def explain(
    session: Session,
    principal: Principal,
    identity_id: str,
    token: str,
    *,
    keys: KeySource,
    authority_for: AuthorityFor,
    now: datetime,
    ctx: RequestContext,
) -> dict[str, Any]:
    """Say which check a token fails for this identity and why; issues nothing, consumes nothing.

    Admin-only: the answer shows how the configuration judges an arbitrary token.

    Raises:
        PermissionDenied, NotFound, BadRequest (Azure Auth not attached).
    """
    identity = find_identity(session, principal, identity_id, "edit")
    if org_role(session, principal) != "admin":
        raise PermissionDenied("Only organisation admins can explain Azure logins", reason="not_org_admin")
    config = require_config(session, IdentityAzureAuth, identity.id, LABEL)
    verify_config = to_verify_config(config)
    key_set, key_problem = _explain_keys(token, verify_config, config, keys, authority_for)
    results = explain_azure_token(token, key_set, verify_config, now, keys_problem=key_problem)
    results.append(_identity_check(identity, now))
    if config.one_time_use:
        results.append(_replay_check(session, identity.id, token))
    failed = next((r for r in results if r.status == "fail"), None)
    outcome = {
        "result": "fail" if failed else "pass",
        "failedCheck": failed.check if failed else None,
        "reason": failed.reason if failed else None,
        "checks": [r.to_wire() for r in results],
        "claims": claim_summary(token),
    }
    audit_admin(
        session,
        principal,
        "azure_auth.explain",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"result": outcome["result"], "reason": outcome["reason"], **claim_summary(token)},
    )
    return outcome


def _explain_keys(
    token: str,
    verify_config: AzureVerifyConfig,
    config: IdentityAzureAuth,
    keys: KeySource,
    authority_for: AuthorityFor,
) -> tuple[Mapping[str, RSAPublicKey] | None, str | None]:
    try:
        seen = preview(token, verify_config)
    except AzureVerificationError:
        return None, None  # reported by the checks themselves; no fetch for such a token
    try:
        return keys.get_keys(authority_for(Cloud(config.cloud)), seen.tenant_id, seen.kid), None
    except UpstreamUnavailable:
        return None, "the tenant's signing keys could not be fetched from Entra ID"


def _identity_check(identity: Identity, now: datetime) -> CheckResult:
    problem = identity_login_problem(identity, now)
    if problem is None:
        return CheckResult("identity", "pass")
    return CheckResult("identity", "fail", problem, "the identity cannot log in")


def _replay_check(session: Session, identity_id: str, token: str) -> CheckResult:
    uti = claim_summary(token).get("uti")
    if uti is None:
        return CheckResult("one_time_use", "fail", "missing_claim", "oneTimeUse needs the token's uti")
    used = session.scalar(
        select(AzureUsedToken.id).where(AzureUsedToken.identity_id == identity_id, AzureUsedToken.uti == uti)
    )
    if used is not None:
        return CheckResult("one_time_use", "fail", "token_replayed", "this token was already used to log in")
    return CheckResult("one_time_use", "pass")
