"""A known lead: its audit trail, changes to its fields (the flow's ``[lifecycle]`` re-evaluates it), and
marketing touches (a lead waiting in nurture that is now sales-ready is routed again)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from leadwise.api.deps import DbDep, ModelsDep, PricesDep, RouterDep, SettingsDep
from leadwise.api.routers._convert import assignment_public, domain_touches
from leadwise.api.schemas import (
    LeadAudit,
    LeadPatch,
    LeadUpdateOut,
    OutcomePublic,
    Problem,
    Responses,
    TouchesIn,
    TouchesOut,
)
from leadwise.services import audit, lifecycle
from leadwise.services import marketing as service

router = APIRouter(prefix="/v1/leads", tags=["leads"])
LeadId = Annotated[str, Path(min_length=1, max_length=200)]
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}}


@router.get("/{lead_id}", response_model=LeadAudit, responses=ERRORS)
def get_lead(lead_id: LeadId, db: DbDep, _: RouterDep) -> LeadAudit:
    """The audit trail of a lead: the lead as received and every decision made about it, oldest first,
    each with its explanation (the flow step, the candidates and their scores, who was excluded and why),
    and its recorded outcomes."""
    history = audit.lead_history(db=db, lead_id=lead_id)
    lead = history.lead
    return LeadAudit(
        lead_id=lead.external_id,
        status=lead.status,
        queue=lead.queue,
        pool=lead.pool,
        score=lead.score,
        expected_value=lead.expected_value,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        lead=lead.payload,
        touches=history.touches,
        decisions=[assignment_public(routed) for routed in history.decisions],
        outcomes=[OutcomePublic.model_validate(outcome) for outcome in history.outcomes],
    )


@router.patch("/{lead_id}", response_model=LeadUpdateOut, responses=ERRORS | {422: {"model": Problem}})
def update_lead(
    lead_id: LeadId,
    body: LeadPatch,
    db: DbDep,
    settings: SettingsDep,
    models: ModelsDep,
    prices: PricesDep,
    _: RouterDep,
) -> LeadUpdateOut:
    """Change a routed lead's fields (only those sent; ``null`` removes one). The active flow's
    ``[lifecycle]`` then acts on what the change made true: ``close_when`` closes the lead (its open
    offer ends won, lost or closed, the rep's capacity is freed), ``unassign_when`` ends the open offer
    (``withdrawn``) and queues the lead for a manager, ``reroute_when`` ends it and routes the lead again
    (source ``update``); a change of the ``due_from`` field moves the open offer's deadline. A closed lead's
    fields are stored but nothing is re-evaluated."""
    updated = lifecycle.update_lead(
        db=db,
        settings=settings,
        models=models,
        external_id=lead_id,
        changes=body.model_dump(exclude_unset=True),
        prices=prices,
    )
    lead = updated.lead
    return LeadUpdateOut(
        lead_id=lead.external_id,
        status=lead.status,
        queue=lead.queue,
        changed=updated.changed,
        lead=lead.payload,
        action=updated.action,
        why=updated.why,
        ended=assignment_public(updated.ended) if updated.ended is not None else None,
        decision=assignment_public(updated.decision) if updated.decision is not None else None,
    )


@router.post(
    "/{lead_id}/touches", response_model=TouchesOut, status_code=status.HTTP_201_CREATED, responses=ERRORS
)
def add_touches(
    lead_id: LeadId,
    body: TouchesIn,
    db: DbDep,
    settings: SettingsDep,
    models: ModelsDep,
    prices: PricesDep,
    _: RouterDep,
) -> TouchesOut:
    """Append touches to a routed lead. When the lead waits in nurture and is now sales-ready under the
    flow's ``[maturity]`` (score threshold, or a revealing act such as a demo request), it goes through
    the flow again and the answer carries the new decision."""
    added = service.add_touches(
        db=db,
        settings=settings,
        models=models,
        external_id=lead_id,
        touches=domain_touches(body.touches),
        prices=prices,
    )
    return TouchesOut(
        lead_id=added.lead.external_id,
        added=added.added,
        touches=added.total,
        sales_ready=added.sales_ready,
        why=added.why,
        rerouted=added.routed is not None,
        decision=assignment_public(added.routed) if added.routed is not None else None,
    )
