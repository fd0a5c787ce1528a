"""The secrets feature's routers: v3 raw and v4 (`hot_router`); folders, imports, tags, versions.

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

# v3 and v4 carry the reads machines make on every start, so they are mounted on their own, ahead
# of most other routers (routes are matched in order); their paths overlap no other feature's.
hot_router = APIRouter()
for _sub in (routes_v3, routes_v4):
    hot_router.include_router(_sub.router)

router = APIRouter(lifespan=verify_root_keys)
for _sub in (routes_folders, routes_imports, routes_tags, routes_versions):
    router.include_router(_sub.router)
