"""Administration: model reload and API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from leadwise.api.app import reload_models
from leadwise.api.deps import AdminDep, DbDep, ModelsDep
from leadwise.api.schemas import KeyCreate, KeyCreated, Problem, Responses
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
    key_id, key = key_service.create_key(db=db, role=body.role, name=body.name, rep_id=body.rep_id)
    return KeyCreated(id=key_id, role=body.role, rep_id=body.rep_id, key=key)
