"""Reps: managers read, admins configure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from leadwise.api.deps import AdminDep, AnyRoleDep, DbDep, ManagerDep, SessionDep
from leadwise.api.schemas import (
    Problem,
    RepCreate,
    RepPublic,
    RepsPublic,
    RepStatusIn,
    RepStatusOut,
    RepUpdate,
    Responses,
)
from leadwise.errors import Forbidden
from leadwise.services import reps as service

router = APIRouter(prefix="/v1/reps", tags=["reps"])
RepId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}}


@router.get("", response_model=RepsPublic, responses=ERRORS)
def list_reps(
    session: SessionDep, _: ManagerDep, active: Annotated[bool | None, Query()] = None
) -> RepsPublic:
    rows = service.list_reps(session=session, active_only=bool(active))
    if active is False:
        rows = [r for r in rows if not r.active]
    data = [RepPublic.model_validate(r) for r in rows]
    return RepsPublic(data=data, count=len(data))


@router.get("/{rep_id}", response_model=RepPublic, responses=ERRORS | {404: {"model": Problem}})
def get_rep(rep_id: RepId, session: SessionDep, _: ManagerDep) -> RepPublic:
    return RepPublic.model_validate(service.get_rep(session=session, rep_id=rep_id))


@router.post(
    "",
    response_model=RepPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS | {409: {"model": Problem}},
)
def create_rep(body: RepCreate, db: DbDep, _: AdminDep) -> RepPublic:
    return RepPublic.model_validate(service.create_rep(db=db, fields=body.model_dump(mode="json")))


@router.patch(
    "/{rep_id}",
    response_model=RepPublic,
    responses=ERRORS | {404: {"model": Problem}, 409: {"model": Problem}},
)
def update_rep(rep_id: RepId, body: RepUpdate, db: DbDep, _: AdminDep) -> RepPublic:
    changes = body.model_dump(mode="json", exclude_unset=True)
    # Explicit nulls clear optional settings; required columns keep their value.
    for required in ("name", "capacity", "weight", "seniority", "active"):
        if changes.get(required, 0) is None:
            changes.pop(required)
    for listed in (
        "out_of_office",
        "sectors",
        "products",
        "series",
        "territories",
        "accounts_owned",
        "pools",
    ):
        if listed in changes and changes[listed] is None:
            changes[listed] = []
    return RepPublic.model_validate(service.update_rep(db=db, rep_id=rep_id, changes=changes))


@router.post("/{rep_id}/status", response_model=RepStatusOut, responses=ERRORS | {404: {"model": Problem}})
def set_status(rep_id: RepId, body: RepStatusIn, db: DbDep, principal: AnyRoleDep) -> RepStatusOut:
    """A rep sets itself available or away with its own key (a manager or admin may do it for any rep).
    Routing passes an away rep by, as it does a rep out of office, until it is available again; the
    rep keeps the leads it already has."""
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; a rep's status is the rep's (or a manager's)")
    if principal.is_rep() and principal.rep_id != rep_id:
        raise Forbidden("a rep key sets only its own rep's status")
    return RepStatusOut.model_validate(service.set_status(db=db, rep_id=rep_id, status=body.status))
