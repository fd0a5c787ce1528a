"""Token Auth: an operator mints access tokens for an identity directly; there is no login."""
