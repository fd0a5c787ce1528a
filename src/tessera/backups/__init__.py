"""Backups: consistent SQLite snapshots, restores, and the check that every secret decrypts."""
