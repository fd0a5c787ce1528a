"""State shared by server replicas outside the database: an optional Redis connection.

Redis is an accelerator, never the only guarantee: every feature that uses it keeps a database
path that is correct across replicas on its own, and falls back to it while Redis is away.
"""
