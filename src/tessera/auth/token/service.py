"""Token Auth: an operator attaches the method and mints, lists, renames and revokes tokens directly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.audit.service import RequestContext
from tessera.auth import method_admin
from tessera.auth.login import LoginResult, identity_login_problem, issue_access_token
from tessera.auth.principal import Principal
from tessera.auth.token.models import METHOD, IdentityTokenAuth
from tessera.auth.token.schemas import TokenAuthAttachIn, TokenAuthPatchIn, TokenCreateIn, TokenUpdateIn
from tessera.errors import BadRequest, NotFound
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.rbac.service import require_org, require_privilege_over

LABEL = "token auth"
TOKEN_NOT_FOUND = "Token not found or already revoked"  # noqa: S105 - a message


def attach(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: TokenAuthAttachIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityTokenAuth:
    """Attach Token Auth. Raises PermissionDenied, NotFound, or BadRequest if already attached."""
    identity = method_admin.find_identity(
        session, principal, identity_id, "create", boundary="change auth of"
    )
    config = IdentityTokenAuth(identity_id=identity.id, created_at=now, updated_at=now)
    config.set_policy(body.to_policy())
    method_admin.add_config(session, config, LABEL)
    method_admin.audit_admin(
        session, principal, "auth_method_attach", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return config


def update_config(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: TokenAuthPatchIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityTokenAuth:
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityTokenAuth, identity.id, LABEL)
    method_admin.patch_policy(session, config, body, METHOD, now=now)
    session.flush()
    method_admin.audit_admin(
        session, principal, "auth_method_update", identity=identity, method=METHOD, ctx=ctx, now=now
    )
    return config


def get_config(session: Session, principal: Principal, identity_id: str) -> IdentityTokenAuth:
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    return method_admin.require_config(session, IdentityTokenAuth, identity.id, LABEL)


def revoke_config(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityTokenAuth:
    """Remove Token Auth and revoke every token it minted."""
    identity = method_admin.find_identity(session, principal, identity_id, "edit", boundary="change auth of")
    config = method_admin.require_config(session, IdentityTokenAuth, identity.id, LABEL)
    revoked = method_admin.remove_config(session, config, METHOD)
    method_admin.audit_admin(
        session,
        principal,
        "auth_method_revoke",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"revokedTokens": revoked},
    )
    return config


def create_token(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: TokenCreateIn,
    *,
    now: datetime,
    signing_secret: bytes,
    ctx: RequestContext,
) -> tuple[LoginResult, IdentityAccessToken]:
    """Mint a token under the Token Auth policy.

    Raises:
        PermissionDenied, NotFound: see `method_admin.find_identity`.
        BadRequest: Token Auth is not attached, or the identity is disabled or expired.
    """
    identity = method_admin.find_identity(
        session, principal, identity_id, "edit", boundary="create tokens for"
    )
    config = method_admin.require_config(session, IdentityTokenAuth, identity.id, LABEL)
    problem = identity_login_problem(identity, now)
    if problem is not None:
        raise BadRequest("The identity is disabled or has expired", reason=problem)
    result = issue_access_token(
        session,
        identity=identity,
        method=METHOD,
        policy=config.policy(),
        now=now,
        signing_secret=signing_secret,
        ctx=ctx,
        name=body.name,
        # The operator's address says nothing about where the token will be used from.
        check_login_ip=False,
        audit_details={"createdBy": principal.identity_id},
    )
    row = session.get(IdentityAccessToken, result.token_id)
    assert row is not None
    return result, row


def list_tokens(
    session: Session, principal: Principal, identity_id: str, *, offset: int, limit: int
) -> list[IdentityAccessToken]:
    """The identity's live Token Auth tokens, most recently updated first."""
    identity = method_admin.find_identity(session, principal, identity_id, "read")
    query = (
        select(IdentityAccessToken)
        .where(
            IdentityAccessToken.identity_id == identity.id,
            IdentityAccessToken.auth_method == METHOD,
            IdentityAccessToken.is_revoked.is_(False),
        )
        .order_by(IdentityAccessToken.updated_at.desc(), IdentityAccessToken.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def _token(
    session: Session, principal: Principal, token_id: str, action: str, identity_id: str | None = None
) -> IdentityAccessToken:
    require_org(session, principal, action, "identity")
    found = session.execute(
        select(IdentityAccessToken, Identity)
        .join(Identity, Identity.id == IdentityAccessToken.identity_id)
        .where(
            IdentityAccessToken.id == token_id,
            IdentityAccessToken.auth_method == METHOD,
            IdentityAccessToken.is_revoked.is_(False),
        )
    ).first()
    wrong_identity = found is not None and identity_id is not None and found[0].identity_id != identity_id
    if found is None or found[1].org_id != principal.org_id or wrong_identity:
        raise NotFound(TOKEN_NOT_FOUND, reason="token_not_found")
    if action != "read":
        require_privilege_over(session, principal, found[1].id, verb="change tokens of")
    return found[0]


def get_token(
    session: Session, principal: Principal, token_id: str, *, identity_id: str | None = None
) -> IdentityAccessToken:
    """A live Token Auth token of the caller's organisation (optionally of one identity)."""
    return _token(session, principal, token_id, "read", identity_id)


def update_token(
    session: Session, principal: Principal, token_id: str, body: TokenUpdateIn, *, now: datetime
) -> IdentityAccessToken:
    row = _token(session, principal, token_id, "edit")
    if body.name is not None:
        row.name = body.name
        row.updated_at = now
        session.flush()
    return row


def revoke_token(
    session: Session, principal: Principal, token_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityAccessToken:
    row = _token(session, principal, token_id, "delete")
    row.is_revoked = True
    row.updated_at = now
    session.flush()
    identity = session.get(Identity, row.identity_id)
    assert identity is not None
    method_admin.audit_admin(
        session,
        principal,
        "token_revoke",
        identity=identity,
        method=METHOD,
        ctx=ctx,
        now=now,
        details={"tokenId": row.id},
    )
    return row
