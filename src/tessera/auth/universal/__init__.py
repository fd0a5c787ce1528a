"""Universal Auth: a client id and client secrets exchanged for access tokens."""
