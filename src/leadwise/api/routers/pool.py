"""Queued leads: reps claim from their pools (blind pools hide the lead until claimed); managers
assign by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from leadwise.api.deps import AnyRoleDep, DbDep, ManagerDep, Principal, RepDep, SettingsDep
from leadwise.api.routers._convert import assignment_public
from leadwise.api.schemas import AssignmentPublic, ManualAssignIn, PoolLead, PoolPublic, Problem, Responses
from leadwise.errors import Forbidden
from leadwise.services import pools as service
from leadwise.store.db import Database

router = APIRouter(tags=["pools"])
LeadId = Annotated[str, Path(min_length=1, max_length=200)]
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}}
# Hidden in a blind pool until the lead is claimed: what would let a rep cherry-pick.
BLIND_FIELDS = ("account", "revenue", "employees", "sector", "year_established", "office_location")


@router.get("/v1/pool", response_model=PoolPublic, responses=ERRORS)
def list_pool(db: DbDep, principal: AnyRoleDep) -> PoolPublic:
    """A rep sees the pools they belong to; managers and admins see every queue (pool, manager, nurture)."""
    data = visible_pool(db=db, principal=principal)
    return PoolPublic(data=data, count=len(data))


def visible_pool(*, db: Database, principal: Principal) -> list[PoolLead]:
    """The queued leads ``principal`` may see, as the API shows them (the console shows the same): a rep
    its pools' leads, a blind one without its details or score; managers and admins every queue."""
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; pools are for reps and managers")
    if principal.is_rep():
        pools = service.rep_pools(db=db, rep_id=principal.rep_id or 0)
        leads = service.pool_leads(db=db, pools=pools, queues=["pool"])
    else:
        leads = service.pool_leads(db=db, pools=None, queues=["pool", "manager", "nurture"])
    data = []
    for lead in leads:
        hidden = lead.blind and principal.is_rep()
        data.append(
            PoolLead(
                lead_id=lead.external_id,
                pool=lead.pool,
                queue=lead.queue or "pool",
                blind=lead.blind,
                waiting_since=lead.created_at,
                score=None if hidden else lead.score,
                lead=None if hidden else {"lead_id": lead.external_id, **lead.payload},
            )
        )
    return data


@router.post("/v1/pool/{lead_id}/claim", response_model=AssignmentPublic, responses=ERRORS)
def claim(lead_id: LeadId, db: DbDep, principal: RepDep) -> AssignmentPublic:
    """The rep takes the lead (accepted at once); 409 when someone was faster or the rep is full."""
    assert principal.rep_id is not None  # a rep key always names its rep (database check)
    return assignment_public(
        service.claim(db=db, external_id=lead_id, rep_id=principal.rep_id)
    )


@router.post("/v1/leads/{lead_id}/assign", response_model=AssignmentPublic, status_code=201, responses=ERRORS)
def manual_assign(
    lead_id: LeadId, body: ManualAssignIn, db: DbDep, settings: SettingsDep, principal: ManagerDep
) -> AssignmentPublic:
    """Give a lead to a rep by hand (from a queue, or away from its current rep, whose offer ends
    ``reassigned``); managers only. ``reason`` is stored on the new assignment. A rep who is out of office
    is refused (409 ``rep_out_of_office``) unless ``force`` is true; then the explanation warns of it."""
    return assignment_public(
        service.manual_assign(
            db=db,
            settings=settings,
            external_id=lead_id,
            rep_id=body.rep_id,
            reason=body.reason,
            manager=f"{principal.role} key {principal.key_id}",
            force=body.force,
        )
    )
