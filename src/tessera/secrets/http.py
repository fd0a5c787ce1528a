"""HTTP-edge helpers shared by the secrets, folders and KMS routers: dependencies, query booleans
in Infisical's two dialects, and ETag / If-None-Match handling."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, Query, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.responses import Response

from tessera.api.deps import AppContext, ContextDep, PrincipalDep, SessionDep, authenticate_request
from tessera.audit.service import RequestContext
from tessera.auth.principal import Principal
from tessera.crypto.keyring import Keyring
from tessera.crypto.secrets_hash import derive_key
from tessera.secrets.core import Ctx
from tessera.secrets.datakeys import DataKeyCache, check_root_keys
from tessera.settings import SettingsError

logger = logging.getLogger(__name__)

DATA_KEYS = "secrets.data_keys"
ETAG_KEY = "secrets.etag_key"


def data_key_cache(context: AppContext) -> DataKeyCache:
    """THE place the keyring and data-key cache are built (once per app, on first use)."""
    cache = context.extras.get(DATA_KEYS)
    if not isinstance(cache, DataKeyCache):
        built = DataKeyCache(Keyring.from_settings(context.settings))
        cache = context.extras.setdefault(DATA_KEYS, built)
        assert isinstance(cache, DataKeyCache)
    return cache


@asynccontextmanager
async def verify_root_keys(app: FastAPI) -> AsyncIterator[None]:
    """Refuse to start when the database holds data keys sealed under a root key we lack."""
    context: AppContext = app.state.context
    try:
        cache = data_key_cache(context)
    except SettingsError:
        # No root key configured (some tools build an app without one); every secret read or
        # write fails closed with the same message instead.
        logger.warning("no root key configured: secrets and KMS keys are unavailable")
        yield
        return
    try:
        with context.session_factory() as session:
            check_root_keys(session, cache.keyring)
    except DBAPIError:
        # The database is unreachable or not migrated yet; readiness reports that, and reads
        # fail closed until it is.
        logger.warning("could not check the root keys against the database at start-up")
    yield


def _ctx(session: Session, principal: Principal, context: AppContext) -> Ctx:
    return Ctx(
        session=session, principal=principal, data_keys=data_key_cache(context), now=context.clock.now()
    )


async def get_ctx(session: SessionDep, principal: PrincipalDep, context: ContextDep) -> Ctx:
    # async: it only assembles objects, so it runs on the event loop instead of a worker thread.
    return _ctx(session, principal, context)


def open_ctx(request: Request, session: Session, context: AppContext, rctx: RequestContext) -> Ctx:
    """The call context of a route run through `in_transaction`: authenticates the caller first."""
    return _ctx(session, authenticate_request(request, session, context, rctx), context)


CtxDep = Annotated[Ctx, Depends(get_ctx)]

# Infisical accepts exactly "true"/"false" on most routes (anything else is 422).
StrictBool = Literal["true", "false"]


def flag(value: StrictBool | None, default: bool) -> bool:
    return default if value is None else value == "true"


def lenient_flag(value: str | None) -> bool:
    """The v2 folders parser: any non-empty value other than "0" and "false" is true."""
    return bool(value) and value.strip().lower() not in {"0", "false"}  # type: ignore[union-attr]


BoolQuery = Annotated[StrictBool | None, Query()]


def _etag_key(context: AppContext) -> bytes:
    key = context.extras.get(ETAG_KEY)
    if not isinstance(key, bytes):
        key = derive_key(context.signing_secret, "etag")
        context.extras[ETAG_KEY] = key
    return key


def _matches(header: str | None, tag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return tag in candidates or "*" in candidates


def etag_json(request: Request, context: AppContext, payload: dict[str, Any]) -> Response:
    """JSON with an ETag; a matching If-None-Match gets 304 and no body.

    The tag is a keyed hash of the body: bodies carry secret values, and a plain hash would let
    anyone who sees the header (a proxy log) test guesses of a value offline.
    """
    body = orjson.dumps(payload)
    tag = '"' + hashlib.blake2b(body, key=_etag_key(context), digest_size=20).hexdigest() + '"'
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})
