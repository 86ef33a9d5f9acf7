"""Persist a decision: take the rep's capacity (conditional UPDATE), write the lead's new status (a new
lead is inserted here, once, with it) and the assignment row with its explanation, and announce it.

Plain Core statements: the ORM's unit of work costs more than the decision on this path.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from leadwise.errors import Conflict
from leadwise.routing import Decision, Outcome, Scores
from leadwise.routing.domain import CapacityExhausted, RepId
from leadwise.routing.sla import SlaPolicy, start_acceptance
from leadwise.services import adapters, events
from leadwise.services.flows import FlowVersion
from leadwise.services.scoring import LeadFigures
from leadwise.services.unit_of_work import UnitOfWork
from leadwise.store import repositories as repo
from leadwise.store.models import CLOSED_STATES, AssignmentRow, LeadRow, RepRow, RoutingFlowRow

QUEUE_OF_OUTCOME = {
    Outcome.nurture: "nurture",
    Outcome.manager_queue: "manager",
    Outcome.claim_pool: "pool",
    Outcome.blind_pool: "pool",
}
STORED_ALTERNATIVES = 10  # other eligible reps kept with a decision; dumping only those keeps 40 reps cheap


@dataclass(frozen=True)
class Routed:
    """A stored decision as the API answers it."""

    assignment: AssignmentRow
    lead: LeadRow
    rep_name: str | None
    flow_version: int | None
    created: bool


def routed_of(session: Session, assignment: AssignmentRow, lead: LeadRow, *, created: bool = False) -> Routed:
    rep = session.get(RepRow, assignment.rep_id) if assignment.rep_id is not None else None
    flow = session.get(RoutingFlowRow, assignment.flow_id) if assignment.flow_id is not None else None
    return Routed(
        assignment=assignment,
        lead=lead,
        rep_name=rep.name if rep is not None else None,
        flow_version=flow.version if flow is not None else None,
        created=created,
    )


def existing_decision(*, session: Session, external_id: str) -> Routed | None:
    """The latest decision on the lead the caller calls ``external_id``; None when it is not stored."""
    lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
    if lead is None:
        return None
    assignment = repo.latest_assignment(session=session, lead_id=lead.id)
    if assignment is None:  # cannot happen: lead and decision are inserted in one transaction
        raise Conflict(f"lead {external_id!r} is stored without a decision")
    return routed_of(session, assignment, lead)


# Declarative types ``__table__`` as any FromClause (a class may map a select); these are Tables.
_LEADS = cast(Table, LeadRow.__table__)
_ASSIGNMENTS = cast(Table, AssignmentRow.__table__)
_INSERT_LEAD = insert(_LEADS).returning(_LEADS.c.id)
_INSERT_ASSIGNMENT = insert(_ASSIGNMENTS).returning(_ASSIGNMENTS.c.id)
_UPDATE_LEAD = (
    update(_LEADS)
    .where(_LEADS.c.id == bindparam("lead_key"))
    .values(
        status=bindparam("status"),
        queue=bindparam("queue"),
        pool=bindparam("pool"),
        blind=bindparam("blind"),
        score=bindparam("score"),
        expected_value=bindparam("expected_value"),
    )
)


def offer_figures(rep_id: RepId | None, scores: Scores) -> tuple[float | None, float | None]:
    """The chosen rep's P(win) and expected revenue (P(win) × deal value); None without rep scores."""
    if rep_id is None or not scores.has_rep_scores:
        return None, None
    p = float(scores.expected_values([rep_id], "wins")[0])
    if np.isnan(p):
        return None, None
    return p, p * float(scores.deal_value if scores.deal_value is not None else 1.0)


def challenger_figures(challenger: LeadFigures | None, rep_name: str | None) -> dict[str, Any]:
    """The shadow challenger's columns of a decision: its version, its P(win) for the rep chosen and for
    every rep it scored."""
    if challenger is None:
        return {"challenger_version": None, "challenger_p_win": None, "challenger_scores": None}
    scores = {name: float(p) for name, p in zip(challenger.rep_names, challenger.p_win, strict=True)}
    return {
        "challenger_version": challenger.model_version,
        "challenger_p_win": scores.get(rep_name) if rep_name is not None else None,
        "challenger_scores": scores,
    }


def store_decision(
    unit: UnitOfWork,
    *,
    lead: LeadRow,
    decision: Decision,
    acceptance: SlaPolicy,
    flow: FlowVersion | None,
    scores: Scores,
    figures: LeadFigures | None,
    names: dict[RepId, str],
    challenger: LeadFigures | None = None,
    source: str,
    new_lead: bool = False,
    reason: str | None = None,
) -> Routed:
    """Store ``decision`` on ``lead`` (inserted when ``new_lead``); ``acceptance`` starts an offer's SLA;
    ``reason`` is why it was decided so (a manual assignment's reason)."""
    session, now = unit.session, unit.now
    explanation = decision.explanation
    others = (c for c in explanation.eligible if c.rep_id != decision.rep_id)
    alternatives = [c.model_dump(mode="json") for c in islice(others, STORED_ALTERNATIVES)]
    p_win, expected_value = offer_figures(decision.rep_id, scores)
    assignment: dict[str, Any] = {
        "source": source,
        "rule": explanation.step or ("manual assignment" if decision.manual else None),
        "strategy": decision.strategy or explanation.strategy,
        "explanation": decision.to_json_dict(),
        "alternatives": alternatives,
        "model_version": explanation.model_version or (figures.model_version if figures else None),
        "flow_id": flow.id if flow is not None else None,
        "p_win": p_win,
        "expected_value": expected_value,
        "propensity": decision.propensity,
        **challenger_figures(challenger, names.get(decision.rep_id) if decision.rep_id is not None else None),
        "created_at": now,
        "rep_id": None,
        "pool": None,
        "queue": None,
        "expires_at": None,
        "reason": reason,
    }
    if decision.outcome == Outcome.assigned and decision.rep_id is not None:
        rep_key = adapters.rep_key(decision.rep_id)
        if not repo.take_lead(session=session, rep_id=rep_key, now=now, value=expected_value):
            # The engine saw the same locked loads, so this only fires if a lock was bypassed.
            raise CapacityExhausted(f"rep {rep_key} is at capacity")
        pending = start_acceptance(decision, acceptance)
        assignment |= {
            "rep_id": rep_key,
            "pool": None if decision.manual else explanation.pool,  # what the pool's capacity windows count
            "state": "offered",
            "expires_at": pending.deadline if pending else None,
        }
        status: dict[str, Any] = {"status": "assigned", "queue": None, "pool": None, "blind": False}
    elif decision.outcome == Outcome.closed:
        # The flow's ``close_when`` held as the lead arrived: closed at once, with no rep (so no outcome row).
        assignment |= {"state": decision.closed_as or "closed", "closed_at": now}
        status = {"status": "closed", "queue": None, "pool": None, "blind": False}
    else:
        queue = QUEUE_OF_OUTCOME.get(decision.outcome, "manager")
        assignment |= {"queue": queue, "state": "queued"}
        # A claim_pool/blind_pool step's ``pool`` names the claim pool; reps list the pools they may claim from.
        status = {
            "status": "queued",
            "queue": queue,
            "pool": (explanation.pool or "default") if queue == "pool" else None,
            "blind": decision.outcome == Outcome.blind_pool,
        }
    if figures is not None:
        status |= {"score": figures.score, "expected_value": figures.score * figures.deal_value}
    else:
        status |= {"score": lead.score, "expected_value": lead.expected_value}
    if new_lead:
        lead.id = session.connection().scalar(
            _INSERT_LEAD,
            {
                "external_id": lead.external_id,
                "payload": lead.payload,
                "duplicate_key": lead.duplicate_key,
                "created_at": now,
                "updated_at": now,
            }
            | status,
        )
        for key, value in status.items():
            setattr(lead, key, value)
    else:
        session.connection().execute(_UPDATE_LEAD, {"lead_key": lead.id, **status})
        for key, value in status.items():  # the row now says so: no second write at flush time
            set_committed_value(lead, key, value)
    assignment["lead_id"] = lead.id
    assignment_id = session.connection().scalar(_INSERT_ASSIGNMENT, assignment)
    row = AssignmentRow(id=assignment_id, **assignment)  # what was written, for the answer (not attached)
    unit.emit(events.DecisionStored(row.strategy, decision.outcome.value, source))
    if row.state == "offered":
        # Every new offer is "offered" (its source says route, reroute, expiry or manual); "reassigned" is
        # the earlier offer a manager moved away, as its state says (one meaning per name).
        unit.announce(row, "offered", lead_id=lead.external_id)
    elif row.state in CLOSED_STATES:
        unit.announce(row, row.state, lead_id=lead.external_id)
    return Routed(
        assignment=row,
        lead=lead,
        rep_name=names.get(decision.rep_id) if decision.rep_id is not None else None,
        flow_version=flow.version if flow is not None else None,
        created=True,
    )
