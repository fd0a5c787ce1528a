"""Request rate limits per client IP and per identity on the login and secret routes.

`rates` is pure (parsing, the token-bucket arithmetic); `backends` keeps the buckets in the
database or in Redis; `middleware` decides which limits a request meets and answers 429.
This module imports nothing so that `tessera.settings` can use `rates` without a cycle.
"""
