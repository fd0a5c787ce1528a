"""Tessera: a secrets manager and KMS centred on machine identities."""

__version__ = "0.1.0"
