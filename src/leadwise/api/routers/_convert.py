"""Stored decisions to response bodies."""

from __future__ import annotations

from leadwise.api.schemas import AssignmentPublic, RouteOut
from leadwise.services.routing import Routed


def assignment_public(routed: Routed) -> AssignmentPublic:
    return AssignmentPublic(**_fields(routed))


def route_out(routed: Routed) -> RouteOut:
    return RouteOut(**_fields(routed), created=routed.created)


def _fields(routed: Routed) -> dict:
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
        "explanation": a.explanation,
        "alternatives": a.alternatives,
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "responded_at": a.responded_at,
        "closed_at": a.closed_at,
        "reason": a.reason,
    }
