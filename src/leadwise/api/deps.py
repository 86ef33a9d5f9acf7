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

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

# A key's role is cached for a few seconds per process so a request costs no extra query;
# revoking a key therefore takes effect within this delay.
KEY_CACHE_SECONDS = 5.0
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
    hit = cache.get(key)
    if hit is not None:
        return hit
    principal = await run_in_threadpool(lambda: principal_of(db=db, key=key))
    if principal is None:
        raise Unauthorized("the API key is not valid")
    cache[key] = principal  # one event loop per worker: no other thread touches this cache
    return principal


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
