"""Customer-managed keys (Infisical's "KMS keys"): encrypt/decrypt and sign/verify per project."""
