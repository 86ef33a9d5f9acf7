"""One decision: read it, accept, reject, record the outcome. A rep only sees and acts on their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError

from leadwise.api.deps import AnyRoleDep, DbDep, ManagerDep, ModelsDep, PricesDep, Principal, SettingsDep
from leadwise.api.routers._convert import assignment_public
from leadwise.api.schemas import (
    AssignmentPublic,
    AssignmentsPublic,
    AssignmentState,
    AwareDatetime,
    OutcomeCorrectedOut,
    OutcomeCorrectionIn,
    OutcomeCorrectionPublic,
    OutcomeIn,
    Problem,
    RejectIn,
    RejectOut,
    Responses,
    ReturnIn,
)
from leadwise.errors import Forbidden
from leadwise.services import assignments as service
from leadwise.services import audit, marketing

router = APIRouter(prefix="/v1/assignments", tags=["assignments"])
AssignmentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}}


def _own(principal: Principal) -> int | None:
    """The rep a rep key is restricted to; None for roles that see every assignment."""
    return principal.rep_id if principal.is_rep() else None


@router.get("", response_model=AssignmentsPublic, responses=ERRORS)
def list_assignments(
    db: DbDep,
    principal: AnyRoleDep,
    state: Annotated[
        list[AssignmentState] | None,
        Query(description="one or more states (repeat it)", examples=[["offered", "accepted"]]),
    ] = None,
    rep_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="managers and admins: one rep's", examples=[3])
    ] = None,
    lead_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="your id of the lead", examples=["crm-1042"])
    ] = None,
    since: Annotated[
        AwareDatetime | None,
        Query(description="created at or after (with a time zone)", examples=["2026-12-01T00:00:00Z"]),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AssignmentsPublic:
    """The inbox: a rep key sees only its own assignments, managers and admins everyone's; newest first,
    a page at a time (``total`` counts every match)."""
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; the inbox is for reps and managers")
    if principal.is_rep():
        if rep_id is not None and rep_id != principal.rep_id:
            raise Forbidden("a rep key lists only its own assignments (leave rep_id out)")
        rep_id = principal.rep_id
    page = audit.inbox(
        db=db, states=state or (), rep_id=rep_id, lead_id=lead_id, since=since, limit=limit, offset=offset
    )
    data = [assignment_public(routed) for routed in page.data]
    return AssignmentsPublic(data=data, count=len(data), total=page.total, limit=limit, offset=offset)


@router.get("/{assignment_id}", response_model=AssignmentPublic, responses=ERRORS)
def get_assignment(assignment_id: AssignmentId, db: DbDep, principal: AnyRoleDep) -> AssignmentPublic:
    return assignment_public(service.get_assignment(db=db, assignment_id=assignment_id, rep_id=_own(principal)))


@router.post("/{assignment_id}/accept", response_model=AssignmentPublic, responses=ERRORS)
def accept(assignment_id: AssignmentId, db: DbDep, principal: AnyRoleDep) -> AssignmentPublic:
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; accepting is for the rep (or a manager)")
    return assignment_public(service.accept(db=db, assignment_id=assignment_id, rep_id=_own(principal)))


@router.post("/{assignment_id}/reject", response_model=RejectOut, responses=ERRORS)
def reject(
    assignment_id: AssignmentId,
    db: DbDep,
    settings: SettingsDep,
    models: ModelsDep,
    prices: PricesDep,
    principal: AnyRoleDep,
    body: RejectIn | None = None,
) -> RejectOut:
    """The lead is routed again, away from the reps who had it; the answer holds both decisions (a rep
    key sees the next one only as its id and queue/state: it may be another rep's lead)."""
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; rejecting is for the rep (or a manager)")
    rejected, following = service.reject(
        db=db,
        settings=settings,
        models=models,
        assignment_id=assignment_id,
        rep_id=_own(principal),
        reason=body.reason if body else "",
        prices=prices,
    )
    next_public = assignment_public(following)
    if principal.is_rep() and following.assignment.rep_id != principal.rep_id:
        return RejectOut(
            rejected=assignment_public(rejected), next=None, next_assignment_id=following.assignment.id
        )
    return RejectOut(
        rejected=assignment_public(rejected), next=next_public, next_assignment_id=following.assignment.id
    )


@router.post(
    "/{assignment_id}/outcome",
    response_model=AssignmentPublic,
    responses=ERRORS,
)
def outcome(
    assignment_id: AssignmentId, body: OutcomeIn, db: DbDep, principal: AnyRoleDep
) -> AssignmentPublic:
    """Won or lost (with the deal value): closes the lead and frees the rep's capacity."""
    return assignment_public(
        service.record_outcome(
            db=db, assignment_id=assignment_id, rep_id=_own(principal), result=body.result, value=body.value
        )
    )


@router.post(
    "/{assignment_id}/outcome/correction",
    response_model=OutcomeCorrectedOut,
    responses=ERRORS | {422: {"model": Problem}},
)
def correct_outcome(
    assignment_id: AssignmentId, body: OutcomeCorrectionIn, db: DbDep, principal: ManagerDep
) -> OutcomeCorrectedOut:
    """Correct a recorded outcome (won → lost, lost → won, or its value); managers and admins. The
    assignment and the stats take the new result; the answer lists every correction of this outcome
    (what it was, what it became, who, when, why). 409 when there is no outcome yet or nothing changes."""
    routed, history = service.correct_outcome(
        db=db,
        assignment_id=assignment_id,
        result=body.result,
        value=body.value,
        reason=body.reason,
        corrected_by=f"{principal.role} key {principal.key_id}",
    )
    return OutcomeCorrectedOut(
        assignment=assignment_public(routed),
        corrections=[OutcomeCorrectionPublic.model_validate(c) for c in history],
    )


@router.post(
    "/{assignment_id}/return",
    response_model=AssignmentPublic,
    responses=ERRORS | {422: {"model": Problem}},
)
def return_to_marketing(
    assignment_id: AssignmentId, body: ReturnIn, db: DbDep, settings: SettingsDep, principal: AnyRoleDep
) -> AssignmentPublic:
    """Hand the lead back to marketing (the assigned rep, or a manager): the assignment ends as
    ``returned``, the rep's capacity is freed, and the lead waits in nurture until new touches
    (``POST /v1/leads/{lead_id}/touches``) make it sales-ready again. ``reason`` is one of the
    configured return reasons (``LEADWISE_RETURN_REASONS``)."""
    if principal.role == "integration":
        raise Forbidden("integration keys route and score; returning a lead is for the rep (or a manager)")
    if body.reason not in settings.return_reasons:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "reason"),
                    "msg": f"unknown return reason {body.reason!r}; known: {', '.join(settings.return_reasons)}",
                    "type": "value_error",
                }
            ]
        )
    return assignment_public(
        marketing.return_to_marketing(
            db=db,
            assignment_id=assignment_id,
            rep_id=_own(principal),
            reason=body.reason,
            note=body.note,
            returned_by="rep" if principal.is_rep() else f"{principal.role} key {principal.key_id}",
        )
    )
