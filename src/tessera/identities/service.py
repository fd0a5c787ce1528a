"""Managing machine identities: create, read, list, search, update (incl. disable), delete.

Every change is checked twice: the org `identity` permission for the action, and the privilege
boundary — a caller may neither hand out an org role granting more than it holds, nor change,
disable or delete an identity more privileged than itself. Disabling or deleting an identity
revokes all of its tokens in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, asc, delete, desc, func, or_, select
from sqlalchemy.orm import Session

from tessera.audit.service import AuditEntry, RequestContext, record
from tessera.auth.methods import attached_methods
from tessera.auth.principal import Principal
from tessera.auth.tokens import revoke_identity_tokens
from tessera.errors import BadRequest, NotFound, PermissionDenied, ValidationFailure
from tessera.identities.models import Identity, IdentityMetadata, IdentityOrgMembership
from tessera.identities.schemas import (
    IdentityCreateIn,
    IdentitySearchIn,
    IdentityUpdateIn,
    MetadataIn,
    NameFilter,
    RoleFilter,
)
from tessera.rbac.models import OrgRole
from tessera.rbac.permissions import Rule, RuleError, parse_rules
from tessera.rbac.roles import CUSTOM, NO_ACCESS, ORG_ROLES
from tessera.rbac.service import (
    invalidate_permissions,
    org_permissions,
    require_grantable,
    require_privilege_over,
)

ROLE_NOT_FOUND = "Specified role was not found"
_Query = Select[Identity, IdentityOrgMembership]
DELETE_PROTECTED = "Identity has delete protection"


@dataclass(frozen=True, slots=True)
class IdentityView:
    identity: Identity
    membership: IdentityOrgMembership
    metadata: list[IdentityMetadata]
    auth_methods: list[str]
    custom_role: OrgRole | None


@dataclass(frozen=True, slots=True)
class ResolvedRole:
    value: str  # the stored slug, or "custom"
    role_id: str | None
    rules: tuple[Rule, ...]


def resolve_org_role(session: Session, org_id: str, slug: str) -> ResolvedRole:
    """A built-in org role, else the org's custom role with that slug.

    Raises:
        NotFound: neither exists.
    """
    builtin = ORG_ROLES.get(slug)
    if builtin is not None:
        return ResolvedRole(slug, None, builtin.rules)
    custom = session.scalar(select(OrgRole).where(OrgRole.org_id == org_id, OrgRole.slug == slug))
    if custom is None:
        raise NotFound(ROLE_NOT_FOUND, reason="role_not_found")
    try:
        rules = tuple(parse_rules(custom.permissions, "org"))
    except RuleError as exc:  # stored rules are validated on the way in; this is tampering
        raise NotFound(ROLE_NOT_FOUND, reason="custom_role_invalid") from exc
    return ResolvedRole(CUSTOM, custom.id, rules)


def _check_grantable(
    session: Session, principal: Principal, role: ResolvedRole, slug: str, verb: str
) -> None:
    if slug == NO_ACCESS:
        return
    require_grantable(
        org_permissions(session, principal),
        role.rules,
        f"Failed to {verb} identity to a more privileged role",
    )


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise ValidationFailure("expiresAt", "expiresAt must be in the future")


def _metadata_rows(identity: Identity, items: Sequence[MetadataIn], now: datetime) -> list[IdentityMetadata]:
    return [
        IdentityMetadata(
            identity_id=identity.id,
            org_id=identity.org_id,
            key=item.key,
            value=item.value,
            created_at=now,
            updated_at=now,
        )
        for item in items
    ]


def _audit(
    session: Session,
    principal: Principal,
    event: str,
    identity: Identity,
    ctx: RequestContext,
    now: datetime,
    details: dict[str, object] | None = None,
) -> None:
    record(
        session,
        AuditEntry(
            event=event,
            org_id=identity.org_id,
            actor_type=principal.actor_type,
            actor_id=principal.identity_id,
            identity_id=identity.id,
            details=dict(details or {}),
        ),
        ctx,
        now=now,
    )


def create_identity(
    session: Session, principal: Principal, body: IdentityCreateIn, *, now: datetime, ctx: RequestContext
) -> IdentityView:
    """Create an identity with its org membership (default role no-access) and metadata.

    Raises:
        PermissionDenied: no `identity:create`, or another organisation named.
        NotFound: unknown role. PermissionBoundaryError: the role grants more than the caller holds.
        ValidationFailure: expiresAt not in the future.
    """
    org_permissions(session, principal).require("create", "identity")
    if body.organization_id != principal.org_id:
        raise PermissionDenied("You are not allowed to create on identity", reason="foreign_org")
    role = resolve_org_role(session, principal.org_id, body.role)
    _check_grantable(session, principal, role, body.role, "create")
    _check_expiry(body.expires_at, now)
    identity = Identity(
        org_id=principal.org_id,
        name=body.name,
        is_active=body.is_active,
        has_delete_protection=body.has_delete_protection,
        expires_at=body.expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(identity)
    session.flush()
    session.add(
        IdentityOrgMembership(
            org_id=principal.org_id,
            identity_id=identity.id,
            role=role.value,
            role_id=role.role_id,
            created_at=now,
            updated_at=now,
        )
    )
    session.add_all(_metadata_rows(identity, body.metadata or [], now))
    session.flush()
    _audit(session, principal, "identity.create", identity, ctx, now, {"role": body.role})
    return load_view(session, principal.org_id, identity.id)


def load_view(session: Session, org_id: str, identity_id: str) -> IdentityView:
    views = _views(session, _base_query(org_id).where(Identity.id == identity_id))
    if not views:
        raise NotFound(f"Failed to find identity with id {identity_id}", reason="identity_not_found")
    return views[0]


def _base_query(org_id: str) -> _Query:
    return (
        select(Identity, IdentityOrgMembership)
        .join(IdentityOrgMembership, IdentityOrgMembership.identity_id == Identity.id)
        .where(IdentityOrgMembership.org_id == org_id, Identity.org_id == org_id)
    )


def _views(session: Session, query: _Query) -> list[IdentityView]:
    rows = list(session.execute(query).all())
    ids = [identity.id for identity, _ in rows]
    metadata: dict[str, list[IdentityMetadata]] = {identity_id: [] for identity_id in ids}
    if ids:
        for item in session.scalars(
            select(IdentityMetadata)
            .where(IdentityMetadata.identity_id.in_(ids))
            .order_by(IdentityMetadata.created_at, IdentityMetadata.id)
        ):
            metadata[item.identity_id].append(item)
    methods = attached_methods(session, ids)
    role_ids = {m.role_id for _, m in rows if m.role == CUSTOM and m.role_id}
    roles = (
        {r.id: r for r in session.scalars(select(OrgRole).where(OrgRole.id.in_(role_ids)))}
        if role_ids
        else {}
    )
    return [
        IdentityView(
            identity=identity,
            membership=membership,
            metadata=metadata[identity.id],
            auth_methods=list(methods.get(identity.id, [])),
            custom_role=roles.get(membership.role_id) if membership.role_id else None,
        )
        for identity, membership in rows
    ]


def get_identity(session: Session, principal: Principal, identity_id: str) -> IdentityView:
    """Raises PermissionDenied (no `identity:read`) or NotFound (not in the caller's org)."""
    org_permissions(session, principal).require("read", "identity", identityId=identity_id)
    return load_view(session, principal.org_id, identity_id)


def _require_own_org(principal: Principal, org_id: str) -> None:
    if org_id != principal.org_id:
        raise PermissionDenied("You are not allowed to read on identity", reason="foreign_org")


def list_identities(
    session: Session, principal: Principal, org_id: str, *, offset: int = 0, limit: int = 100
) -> tuple[list[IdentityView], int]:
    """Raises PermissionDenied for another organisation or without `identity:read`."""
    _require_own_org(principal, org_id)
    org_permissions(session, principal).require("read", "identity")
    query = _base_query(org_id)
    total = _count(session, query)
    page = query.order_by(Identity.name, Identity.id).offset(offset).limit(limit)
    return _views(session, page), total


def _count(session: Session, query: _Query) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def search_identities(
    session: Session, principal: Principal, body: IdentitySearchIn
) -> tuple[list[IdentityView], int]:
    """Filter by name / role (`$eq`, `$contains`, `$in`), ordered and paged."""
    org_permissions(session, principal).require("read", "identity")
    query = _base_query(principal.org_id)
    if body.search is not None:
        query = _filter_name(query, body.search.name)
        query = _filter_role(query, body.search.role, principal.org_id)
    total = _count(session, query)
    column = Identity.name if body.order_by == "name" else IdentityOrgMembership.role
    direction = desc if body.order_direction == "desc" else asc
    page = query.order_by(direction(column), Identity.id).offset(body.offset).limit(body.limit)
    return _views(session, page), total


def _filter_name(query: _Query, spec: str | NameFilter | None) -> _Query:
    if spec is None:
        return query
    if isinstance(spec, str):
        return query.where(Identity.name == spec)
    if spec.eq is not None:
        query = query.where(Identity.name == spec.eq)
    if spec.contains is not None:
        # The search text allows no LIKE wildcards (% and _ are escaped), so this is a substring test.
        needle = spec.contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Identity.name).like(f"%{needle}%", escape="\\"))
    if spec.in_ is not None:
        query = query.where(Identity.name.in_(spec.in_))
    return query


def _filter_role(query: _Query, spec: str | RoleFilter | None, org_id: str) -> _Query:
    if spec is None:
        return query
    slugs = [spec] if isinstance(spec, str) else [*([spec.eq] if spec.eq else []), *(spec.in_ or [])]
    if not slugs:
        return query
    custom_ids = select(OrgRole.id).where(OrgRole.org_id == org_id, OrgRole.slug.in_(slugs))
    return query.where(
        or_(
            IdentityOrgMembership.role.in_(slugs),
            (IdentityOrgMembership.role == CUSTOM) & IdentityOrgMembership.role_id.in_(custom_ids),
        )
    )


def _find_for_change(session: Session, principal: Principal, identity_id: str, action: str) -> Identity:
    org_permissions(session, principal).require(action, "identity", identityId=identity_id)
    view = load_view(session, principal.org_id, identity_id)
    return view.identity


def update_identity(
    session: Session,
    principal: Principal,
    identity_id: str,
    body: IdentityUpdateIn,
    *,
    now: datetime,
    ctx: RequestContext,
) -> IdentityView:
    """Apply the fields sent. Disabling revokes every token of the identity at once.

    Raises:
        PermissionDenied, NotFound, PermissionBoundaryError (more privileged target or role),
        ValidationFailure (expiresAt not in the future).
    """
    identity = _find_for_change(session, principal, identity_id, "edit")
    require_privilege_over(session, principal, identity.id, verb="update")
    changed = sorted(body.model_fields_set)
    if body.role is not None:
        _change_role(session, principal, identity, body.role, now)
    if body.name is not None:
        identity.name = body.name
    if body.has_delete_protection is not None:
        identity.has_delete_protection = body.has_delete_protection
    if "expires_at" in body.model_fields_set:
        _check_expiry(body.expires_at, now)
        identity.expires_at = body.expires_at
    if body.metadata is not None:
        session.execute(delete(IdentityMetadata).where(IdentityMetadata.identity_id == identity.id))
        session.add_all(_metadata_rows(identity, body.metadata, now))
    revoked = 0
    if body.is_active is not None:
        if identity.is_active and not body.is_active:
            revoked = revoke_identity_tokens(session, identity.id)
        identity.is_active = body.is_active
    identity.updated_at = now
    session.flush()
    invalidate_permissions(session)
    _audit(
        session,
        principal,
        "identity.update",
        identity,
        ctx,
        now,
        {"fields": changed, "revokedTokenCount": revoked},
    )
    return load_view(session, principal.org_id, identity.id)


def _change_role(
    session: Session, principal: Principal, identity: Identity, slug: str, now: datetime
) -> None:
    role = resolve_org_role(session, principal.org_id, slug)
    _check_grantable(session, principal, role, slug, "update")
    membership = session.scalar(
        select(IdentityOrgMembership).where(
            IdentityOrgMembership.identity_id == identity.id, IdentityOrgMembership.org_id == principal.org_id
        )
    )
    if membership is None:
        raise NotFound(f"Failed to find identity with id {identity.id}", reason="identity_not_found")
    membership.role = role.value
    membership.role_id = role.role_id
    membership.updated_at = now


def delete_identity(
    session: Session, principal: Principal, identity_id: str, *, now: datetime, ctx: RequestContext
) -> IdentityView:
    """Delete the identity; its tokens, memberships, metadata and method configs go with it.

    Raises:
        PermissionDenied, NotFound, PermissionBoundaryError, BadRequest (delete protection).
    """
    identity = _find_for_change(session, principal, identity_id, "delete")
    require_privilege_over(session, principal, identity.id, verb="delete")
    if identity.has_delete_protection:
        raise BadRequest(DELETE_PROTECTED, reason="delete_protected")
    view = load_view(session, principal.org_id, identity.id)
    # Revoked explicitly (not only by the cascade) so the intent does not hang on a foreign key.
    revoked = revoke_identity_tokens(session, identity.id)
    _audit(session, principal, "identity.delete", identity, ctx, now, {"revokedTokenCount": revoked})
    session.delete(identity)
    session.flush()
    invalidate_permissions(session)
    return view
