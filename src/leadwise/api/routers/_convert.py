"""The API's edge: request bodies to the domain's shapes, stored decisions to response bodies."""

from __future__ import annotations

from typing import Any

from leadwise.api.schemas import AssignmentPublic, LeadIn, RouteOut, TouchIn
from leadwise.routing import Lead, Touch
from leadwise.services.persist import Routed


def domain_lead(lead: LeadIn) -> Lead:
    """A posted lead as the routing domain's ``Lead`` (its touch types from its touches)."""
    return Lead.model_validate(lead.model_dump())


def domain_touches(touches: list[TouchIn]) -> list[Touch]:
    return [Touch.model_validate(t.model_dump()) for t in touches]


def assignment_public(routed: Routed) -> AssignmentPublic:
    return AssignmentPublic(**_fields(routed))


def route_out(routed: Routed) -> RouteOut:
    """The answer to a route: the decision, and whether it was made now, before, or the lead is closed
    (won, lost, or closed by the flow: never routed again)."""
    a, lead = routed.assignment, routed.lead
    if lead.status != "closed":
        return RouteOut(**_fields(routed), created=routed.created, result="routed" if routed.created else "already_routed")
    if routed.created:  # the flow's close_when held as it arrived
        why = "; ".join(a.explanation.get("explanation", {}).get("notes", [])) or None
    else:
        closed = a.closed_at.isoformat() if a.closed_at is not None else "before"
        why = f"lead {lead.external_id!r} is closed ({a.state} {closed}, assignment {a.id}): not routed again"
    return RouteOut(**_fields(routed), created=routed.created, result="closed", why=why)


def _fields(routed: Routed) -> dict[str, Any]:
    a = routed.assignment
    return {
        "id": a.id,
        "lead_id": routed.lead.external_id,
        "rep_id": a.rep_id,
        "rep_name": routed.rep_name,
        "queue": a.queue,
        "state": a.state,
        "source": a.source,
        "rule": a.rule,
        "strategy": a.strategy,
        "model_version": a.model_version,
        "flow_version": routed.flow_version,
        "p_win": a.p_win,
        "expected_value": a.expected_value,
        "propensity": a.propensity,
        "explanation": a.explanation,
        "alternatives": a.alternatives,
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "responded_at": a.responded_at,
        "closed_at": a.closed_at,
        "reason": a.reason,
    }
