"""Dependencies with ``Annotated`` aliases so route signatures stay short."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leadwise.api.errors import Forbidden, Unauthorized
from leadwise.services.engine_bridge import PriceBook
from leadwise.services.models import ModelHolder
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")

# A key's role is cached for a few seconds per process so a request costs no extra query;
# revoking a key therefore takes effect within this delay.
_KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: str
    rep_id: int | None

    def is_rep(self) -> bool:
        return self.role == "rep"


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
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ModelsDep = Annotated[ModelHolder, Depends(get_models)]


def get_session(db: DbDep) -> Iterator[Session]:
    with db.read_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _principal_of(db: Database, key: str) -> Principal | None:
    with db.read_session() as session:
        row = repo.find_api_key(session=session, key=key)
        return None if row is None else Principal(key_id=row.id, role=row.role, rep_id=row.rep_id)


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
    cache: dict[str, tuple[float, Principal]] = request.app.state.key_cache
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    principal = await run_in_threadpool(_principal_of, db, key)
    if principal is None:
        cache.pop(key, None)
        raise Unauthorized("the API key is not valid")
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now + _KEY_CACHE_SECONDS, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(*roles: str) -> Callable[[Principal], Principal]:
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
