"""Azure Auth: Entra ID managed-identity tokens exchanged for access tokens."""
