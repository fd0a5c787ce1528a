"""Token Auth configuration: only the shared token policy (one row per identity)."""

from __future__ import annotations

from tessera.auth.config_model import MethodConfigMixin
from tessera.auth.methods import register_method
from tessera.store.base import Base

METHOD = "token-auth"


class IdentityTokenAuth(MethodConfigMixin, Base):
    __tablename__ = "identity_token_auths"


register_method(METHOD, IdentityTokenAuth)
