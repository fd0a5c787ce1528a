"""Management plumbing every auth method shares: find the target identity, attach/get/revoke a config.

The per-method services call these so that the permission check, the "already attached" and
"not attached" answers, and the token revocation that follows removing a method exist once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.config_model import MethodConfigMixin
from tessera.auth.policy import TokenPolicyPatch
from tessera.auth.principal import Principal
from tessera.auth.tokens import apply_trusted_ips, revoke_identity_tokens
from tessera.errors import BadRequest, NotFound
from tessera.identities.models import Identity, IdentityAccessToken
from tessera.rbac.service import require_org, require_privilege_over

ConfigT = TypeVar("ConfigT", bound=MethodConfigMixin)

IDENTITY_NOT_FOUND = "Failed to find identity"


def find_identity(
    session: Session, principal: Principal, identity_id: str, action: str, *, boundary: str | None = None
) -> Identity:
    """The identity the caller manages, after the org-level permission check.

    The permission is checked first so that a caller without it cannot probe which ids exist;
    an identity of another organisation is reported exactly like a missing one. With `boundary`
    (a verb for the message), the caller must also hold every permission the identity holds, so
    nobody can take over a more privileged identity by changing its auth or minting its tokens.

    Raises:
        PermissionDenied: the caller may not `action` identities.
        NotFound: no such identity in the caller's organisation.
        PermissionBoundaryError: the identity is more privileged than the caller.
    """
    require_org(session, principal, action, "identity")
    identity = session.get(Identity, identity_id)
    if identity is None or identity.org_id != principal.org_id:
        raise NotFound(IDENTITY_NOT_FOUND, reason="identity_not_found")
    if boundary is not None:
        require_privilege_over(session, principal, identity.id, verb=boundary)
    return identity


def load_config(session: Session, model: type[ConfigT], identity_id: str) -> ConfigT | None:
    return session.scalar(select(model).where(model.identity_id == identity_id))


def require_config(session: Session, model: type[ConfigT], identity_id: str, label: str) -> ConfigT:
    """Raises BadRequest when the method is not attached (the answer Infisical clients expect)."""
    config = load_config(session, model, identity_id)
    if config is None:
        raise BadRequest(f"The identity does not have {label}", reason="method_not_attached")
    return config


def add_config(session: Session, config: ConfigT, label: str) -> ConfigT:
    """Insert a new config row; the unique identity column turns a concurrent second attach into 400.

    Raises:
        BadRequest: the method is already attached to the identity.
    """
    if load_config(session, type(config), config.identity_id) is not None:
        raise BadRequest(f"Failed to add {label} to already configured identity", reason="already_attached")
    try:
        with session.begin_nested():
            session.add(config)
    except IntegrityError as exc:
        raise BadRequest(
            f"Failed to add {label} to already configured identity", reason="already_attached"
        ) from exc
    return config


def patch_policy(
    session: Session, config: MethodConfigMixin, patch: TokenPolicyPatch, method: str, *, now: datetime
) -> None:
    """Apply a policy update; a trusted-IP change applies at once to tokens the method already issued."""
    config.apply_patch(patch)
    config.updated_at = now
    if patch.access_token_trusted_ips is not None:
        apply_trusted_ips(session, config.identity_id, method, list(config.access_token_trusted_ips))


def remove_config(session: Session, config: MethodConfigMixin, method: str) -> int:
    """Delete the config and revoke every token minted through the method; returns how many."""
    revoked = revoke_identity_tokens(session, config.identity_id, auth_method=method)
    session.delete(config)
    session.flush()
    return revoked


def revoke_tokens_where(session: Session, *conditions: Any) -> int:
    """Revoke the live tokens matching `conditions` in one UPDATE; returns how many."""
    result = session.execute(
        update(IdentityAccessToken)
        .where(IdentityAccessToken.is_revoked.is_(False), *conditions)
        .values(is_revoked=True)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def audit_admin(
    session: Session,
    principal: Principal,
    event: str,
    *,
    identity: Identity,
    method: str | None,
    ctx: RequestContext,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a management action (who changed which identity's auth) — never a credential."""
    record(
        session,
        AuditEntry(
            event=event,
            org_id=identity.org_id,
            actor_type=principal.actor_type,
            actor_id=principal.identity_id,
            identity_id=identity.id,
            auth_method=method,
            details=details or {},
        ),
        ctx,
        now=now,
    )
