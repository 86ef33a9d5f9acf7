"""Dependencies with ``Annotated`` aliases so route signatures stay short."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from cachetools import TTLCache
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leadwise.errors import Forbidden, Unauthorized
from leadwise.services.keys import Principal, principal_of
from leadwise.services.model_report import MonitorCache
from leadwise.services.models import ModelHolder
from leadwise.services.prices import PriceBook
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.models import utcnow

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

# A key's principal is cached per worker for at most this long, so a busy client costs one key query a
# second rather than one per request. That bounds how long a revocation (DELETE /v1/admin/keys/{id}, or
# ``leadwise keys revoke``, in any worker or process) takes to reach every worker: after at most this
# delay each worker asks the database again and finds the key revoked. The revoking worker drops its
# own entries at once. Expiry (``expires_at``) is checked on every request, cached or not.
KEY_CACHE_SECONDS = 1.0
KEY_CACHE_SIZE = 10_000


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_models(request: Request) -> ModelHolder:
    return request.app.state.models


async def get_prices(request: Request) -> PriceBook:
    return request.app.state.prices


DbDep = Annotated[Database, Depends(get_db)]
PricesDep = Annotated[PriceBook, Depends(get_prices)]


async def get_monitor(request: Request) -> MonitorCache:
    return request.app.state.monitor


MonitorDep = Annotated[MonitorCache, Depends(get_monitor)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ModelsDep = Annotated[ModelHolder, Depends(get_models)]


def get_session(db: DbDep) -> Iterator[Session]:
    """A read session for the read-only services (reports, listings)."""
    with db.read_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# The dependencies are coroutines: a plain function would cost every request a round trip through the
# worker's (one-thread) pool just to read app state or the key cache.
async def get_principal(
    request: Request,
    db: DbDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header_key: Annotated[str | None, Security(_header)] = None,
) -> Principal:
    key = header_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise Unauthorized("an API key is required (Authorization: Bearer <key> or X-API-Key)")
    cache: TTLCache[str, Principal] = request.app.state.key_cache
    principal = cache.get(key)
    if principal is None:
        principal = await run_in_threadpool(lambda: principal_of(db=db, key=key))
        if principal is None:
            raise Unauthorized("the API key is not valid (unknown or revoked)")
        cache[key] = principal  # one event loop per worker: no other thread touches this cache
    if principal.expired(utcnow()):
        raise Unauthorized(f"the API key expired at {principal.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    return principal


def forget_key(request: Request, key_id: int) -> None:
    """Drop a revoked key from this worker's cache now (the other workers' entries lapse within
    ``KEY_CACHE_SECONDS``)."""
    cache: TTLCache[str, Principal] = request.app.state.key_cache
    for key, principal in list(cache.items()):
        if principal.key_id == key_id:
            cache.pop(key, None)


def new_key_cache() -> TTLCache[str, Principal]:
    return TTLCache(maxsize=KEY_CACHE_SIZE, ttl=KEY_CACHE_SECONDS)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only ``roles`` (403 for the others)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role!r} may not do this (allowed: {', '.join(roles)})")
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require("admin"))]
ManagerDep = Annotated[Principal, Depends(require("admin", "manager"))]
RouterDep = Annotated[Principal, Depends(require("admin", "manager", "integration"))]
ScorerDep = Annotated[Principal, Depends(require("admin", "manager", "integration"))]
RepDep = Annotated[Principal, Depends(require("rep"))]
AnyRoleDep = CurrentPrincipal
