"""Administration: model reload and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from starlette.concurrency import run_in_threadpool

from leadwise.api.app import reload_models
from leadwise.api.deps import AdminDep, DbDep, ModelsDep, forget_key
from leadwise.api.schemas import KeyCreate, KeyCreated, KeyPublic, KeysPublic, Problem, Responses
from leadwise.services import keys as key_service

router = APIRouter(prefix="/v1/admin", tags=["admin"])
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}}


@router.get("/model", responses=ERRORS)
def model_status(models: ModelsDep, _: AdminDep) -> dict[str, Any]:
    """What this worker serves (each worker polls the registry on its own)."""
    return models.status()


@router.post("/model/reload", responses=ERRORS)
async def reload_model(models: ModelsDep, _: AdminDep) -> dict[str, Any]:
    """Reload the champion now, in this worker; the others follow at their next poll."""
    changed = await run_in_threadpool(lambda: reload_models(models, force=True))
    return {"changed": changed, **models.status()}


@router.post(
    "/keys",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS | {404: {"model": Problem}, 422: {"model": Problem}},
)
def create_key(body: KeyCreate, db: DbDep, _: AdminDep) -> KeyCreated:
    key_id, key = key_service.create_key(
        db=db, role=body.role, name=body.name, rep_id=body.rep_id, expires_at=body.expires_at
    )
    return KeyCreated(id=key_id, role=body.role, rep_id=body.rep_id, expires_at=body.expires_at, key=key)


@router.get("/keys", response_model=KeysPublic, responses=ERRORS)
def list_keys(
    db: DbDep,
    _: AdminDep,
    include_revoked: Annotated[bool, Query(description="list revoked keys too")] = False,
) -> KeysPublic:
    """Every key with its prefix, role, rep and dates; never a key nor its hash."""
    data = [KeyPublic.model_validate(row) for row in key_service.list_keys(db=db, include_revoked=include_revoked)]
    return KeysPublic(data=data, count=len(data))


@router.delete(
    "/keys/{key_id}", response_model=KeyPublic, responses=ERRORS | {404: {"model": Problem}, 409: {"model": Problem}}
)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, db: DbDep, _: AdminDep
) -> KeyPublic:
    """Revoke a key: the next request with it gets 401, on every worker within a second (each worker
    checks a key against the database at least once a second). The last admin key cannot be revoked."""
    row = await run_in_threadpool(lambda: key_service.revoke_key(db=db, key_id=key_id))
    forget_key(request, key_id)  # here, on the event loop: the only thread that touches the key cache
    return KeyPublic.model_validate(row)
