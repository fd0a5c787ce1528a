"""The secrets feature's one router: v3 raw, v4, folders, imports, tags and versions.

Its lifespan checks at start-up that the configured root keys open this database's data keys,
so a server started with the wrong key refuses to start instead of failing every read.
"""

from __future__ import annotations

from fastapi import APIRouter

from tessera.secrets import (
    routes_folders,
    routes_imports,
    routes_tags,
    routes_v3,
    routes_v4,
    routes_versions,
)
from tessera.secrets.http import verify_root_keys

router = APIRouter(lifespan=verify_root_keys)
for _sub in (routes_v3, routes_v4, routes_folders, routes_imports, routes_tags, routes_versions):
    router.include_router(_sub.router)
