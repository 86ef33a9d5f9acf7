"""Routing flows: every stored version, publishing a new one, activating an earlier one, the diff of two,
and previewing the decision a draft (or the active flow) would make. A new or re-activated version
routes the next lead; past decisions keep pointing at the version that made them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from leadwise.api.deps import AdminDep, DbDep, ManagerDep, ModelsDep, PricesDep, SessionDep, SettingsDep
from leadwise.api.routers._convert import domain_lead
from leadwise.api.schemas import (
    FlowDiffOut,
    FlowIn,
    FlowPreviewIn,
    FlowPreviewOut,
    FlowPublic,
    FlowsPublic,
    Problem,
    Responses,
)
from leadwise.services import flows as service
from leadwise.services import preview as previews
from leadwise.services.adapters import rep_key

router = APIRouter(prefix="/v1/flows", tags=["flows"])
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}}
NOT_FOUND: Responses = {404: {"model": Problem, "description": "no such flow version"}}
INVALID: Responses = {422: {"model": Problem, "description": "the flow is invalid (line and field named)"}}
FlowName = Annotated[str, Path(min_length=1, max_length=100, examples=["default"])]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[1])]


@router.get("", response_model=FlowsPublic, responses=ERRORS)
def list_flows(
    session: SessionDep, _: AdminDep, name: str | None = Query(default=None, max_length=100)
) -> FlowsPublic:
    """Every version, newest first; ``active`` marks the one routing uses."""
    data = [flow_public(row) for row in service.list_flows(session=session, name=name)]
    return FlowsPublic(data=data, count=len(data))


@router.post("", response_model=FlowPublic, status_code=status.HTTP_201_CREATED, responses=ERRORS | INVALID)
def publish_flow(body: FlowIn, db: DbDep, _: AdminDep) -> FlowPublic:
    """Validate the flow text (TOML or YAML) with the routing package's loader and publish it as the
    next version of the routing flow ``default`` (another ``name`` is a 422: routing would never use it)."""
    row = service.publish(db=db, name=body.name, text=body.source, fmt=body.format)
    return flow_public(row)


@router.post("/preview", response_model=FlowPreviewOut, responses=ERRORS | INVALID)
def preview_flow(
    body: FlowPreviewIn, db: DbDep, settings: SettingsDep, models: ModelsDep, prices: PricesDep, _: ManagerDep
) -> FlowPreviewOut:
    """The decision the draft flow in ``source`` (or, without it, the active flow) would make for the
    lead now, with its explanation, on the live reps, loads, model and round-robin pointers. It stores
    nothing (no lead, no assignment), takes no capacity and moves no round-robin pointer."""
    seen = previews.preview(
        db=db,
        settings=settings,
        models=models,
        lead=domain_lead(body.lead),
        source=body.source,
        fmt=body.format,
        prices=prices,
    )
    decision = seen.decision
    return FlowPreviewOut(
        lead_id=decision.lead_id,
        outcome=decision.outcome.value,
        rep_id=rep_key(decision.rep_id) if decision.rep_id is not None else None,
        rep_name=seen.rep_name,
        queue=seen.queue,
        rule=decision.explanation.step,
        strategy=decision.strategy or decision.explanation.strategy,
        flow="draft" if body.source is not None else "active",
        flow_version=seen.flow.version,
        model_version=decision.explanation.model_version,
        p_win=seen.p_win,
        expected_value=seen.expected_value,
        explanation=decision.to_json_dict(),
    )


@router.post("/{name}/versions/{version}/activate", response_model=FlowPublic, responses=ERRORS | NOT_FOUND)
def activate_flow(name: FlowName, version: Version, db: DbDep, _: AdminDep) -> FlowPublic:
    """Route with a stored version again (a rollback): it becomes the one active version from the next
    lead on; the others stay stored. Decisions already made keep the version that made them."""
    return flow_public(service.activate(db=db, name=name, version=version))


@router.get("/{name}/diff", response_model=FlowDiffOut, responses=ERRORS | NOT_FOUND)
def diff_flows(
    name: FlowName,
    session: SessionDep,
    _: AdminDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1, examples=[1])],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2**31 - 1, examples=[2])],
) -> FlowDiffOut:
    """What changed between two stored versions: the files as written and the validated flows."""
    found = service.diff(session=session, name=name, from_version=from_version, to_version=to_version)
    return FlowDiffOut(
        name=name, from_version=from_version, to_version=to_version, source_diff=found.source, flow_diff=found.flow
    )


def flow_public(row: service.StoredFlow) -> FlowPublic:
    definition = row.definition or {}
    flow = definition.get("flow", {})
    return FlowPublic(
        id=row.id,
        name=row.name,
        version=row.version,
        label=str(flow.get("name", "")),
        active=row.active,
        created_at=row.created_at,
        format=str(definition.get("format", "toml")),
        source=str(definition.get("source", "")),
        flow=flow,
    )
