"""Routing flows: every stored version, and publishing a new one (admins). A new version routes the
next lead; past decisions keep pointing at the version that made them."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from leadwise.api.deps import AdminDep, DbDep, SessionDep
from leadwise.api.schemas import FlowIn, FlowPublic, FlowsPublic, Problem, Responses
from leadwise.services import flows as service

router = APIRouter(prefix="/v1/flows", tags=["flows"])
ERRORS: Responses = {401: {"model": Problem}, 403: {"model": Problem}}


@router.get("", response_model=FlowsPublic, responses=ERRORS)
def list_flows(
    session: SessionDep, _: AdminDep, name: str | None = Query(default=None, max_length=100)
) -> FlowsPublic:
    """Every version, newest first; ``active`` marks the one routing uses."""
    data = [flow_public(row) for row in service.list_flows(session=session, name=name)]
    return FlowsPublic(data=data, count=len(data))


@router.post(
    "",
    response_model=FlowPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS | {422: {"model": Problem, "description": "the flow is invalid (line and field named)"}},
)
def publish_flow(body: FlowIn, db: DbDep, _: AdminDep) -> FlowPublic:
    """Validate the flow text (TOML or YAML) with the routing package's loader and publish it as the
    next version of ``name``."""
    row = service.publish(db=db, name=body.name, text=body.source, fmt=body.format)
    return flow_public(row)


def flow_public(row: service.StoredFlow) -> FlowPublic:
    definition = row.definition or {}
    return FlowPublic(
        id=row.id,
        name=row.name,
        version=row.version,
        active=row.active,
        created_at=row.created_at,
        format=str(definition.get("format", "toml")),
        source=str(definition.get("source", "")),
        flow=definition.get("flow", {}),
    )
