"""Secrets, folders, imports, tags and versions, sealed per project with AES-256-GCM."""
