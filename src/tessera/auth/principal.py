"""Who is calling: the result of authenticating a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    identity_id: str
    org_id: str
    auth_method: str
    token_id: str
    client_ip: str | None = None
    # False for a token without a use limit: its uses are counted in memory (auth.token_uses).
    uses_limited: bool = True

    @property
    def actor_type(self) -> str:
        return "identity"
