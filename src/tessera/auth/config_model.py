"""Columns and behaviour every auth method's configuration row shares (the token policy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from tessera.auth.policy import DEFAULT_MAX_TTL, DEFAULT_TTL, TokenPolicy, TokenPolicyPatch, policy_to_wire
from tessera.auth.trusted_ips import ALLOW_ALL
from tessera.clock import iso_js
from tessera.store.base import IdMixin, TimestampMixin


class MethodConfigMixin(IdMixin, TimestampMixin):
    """Mix into a method's config model: one row per identity, plus the shared policy columns."""

    @declared_attr
    def identity_id(cls) -> Mapped[str]:  # noqa: N805 - SQLAlchemy's declared_attr signature
        return mapped_column(
            String(36), ForeignKey("identities.id", ondelete="CASCADE"), nullable=False, unique=True
        )

    access_token_ttl: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_TTL)
    access_token_max_ttl: Mapped[int] = mapped_column(Integer, nullable=False, default=DEFAULT_MAX_TTL)
    access_token_num_uses_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    access_token_trusted_ips: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, nullable=False, default=lambda: [dict(e) for e in ALLOW_ALL]
    )

    def policy(self) -> TokenPolicy:
        return TokenPolicy(
            ttl=self.access_token_ttl,
            max_ttl=self.access_token_max_ttl,
            num_uses_limit=self.access_token_num_uses_limit,
            trusted_ips=list(self.access_token_trusted_ips),
        )

    def set_policy(self, policy: TokenPolicy) -> None:
        self.access_token_ttl = policy.ttl
        self.access_token_max_ttl = policy.max_ttl
        self.access_token_num_uses_limit = policy.num_uses_limit
        self.access_token_trusted_ips = list(policy.trusted_ips)

    def apply_patch(self, patch: TokenPolicyPatch) -> TokenPolicy:
        policy = patch.apply_to(self.policy())
        self.set_policy(policy)
        return policy

    def common_wire(self) -> dict[str, Any]:
        """The fields every `identity<Method>Auth` response carries."""
        return {
            "id": self.id,
            "identityId": self.identity_id,
            "createdAt": iso_js(self.created_at),
            "updatedAt": iso_js(self.updated_at),
            **policy_to_wire(self.policy()),
        }
