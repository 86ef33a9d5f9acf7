"""Queued leads: reps claim from their pull pools (first come, first served), managers assign by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from leadwise.errors import Conflict, NotFound
from leadwise.routing import NO_SCORES, Decision, Explanation, Outcome
from leadwise.routing import manual_assign as engine_manual_assign
from leadwise.routing.clock import ManualClock
from leadwise.routing.domain import AlreadyClaimed, CapacityExhausted, RepNotFound
from leadwise.routing.pull import check_claim
from leadwise.services import adapters, capacity
from leadwise.services.decisions import sla_policy
from leadwise.services.flows import current_flow
from leadwise.services.persist import Routed, store_decision
from leadwise.services.unit_of_work import UnitOfWork, transaction
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import OPEN_STATES, AssignmentRow, LeadRow, PoolClaimRow, RepRow

POOL_PAGE = 500


def pool_leads(*, db: Database, pools: Sequence[str] | None, queues: Sequence[str]) -> list[LeadRow]:
    """Queued leads in ``queues``, oldest first; ``pools`` restricts the pool queue to those names
    (None: all)."""
    query = select(LeadRow).where(LeadRow.status == "queued", LeadRow.queue.in_(list(queues)))
    if pools is not None:
        query = query.where((LeadRow.queue != "pool") | LeadRow.pool.in_(list(pools)))
    with db.read_session() as session:
        return list(session.scalars(query.order_by(LeadRow.created_at, LeadRow.id).limit(POOL_PAGE)))


def member_pools(session: Session, rep: RepRow | None) -> set[str]:
    """The pools a rep may claim from: one notion with the flow's pools (``Flow.pools_of``): the rep's
    ``pools`` tags and every ``[pools.NAME]`` of the active flow whose filters select the rep."""
    if rep is None:
        return set()
    return current_flow(session).flow.pools_of(adapters.domain_rep(rep))


def rep_pools(*, db: Database, rep_id: int) -> list[str]:
    """The pools a rep may claim from (none for an unknown rep)."""
    with db.read_session() as session:
        return sorted(member_pools(session, repo.get_rep(session=session, rep_id=rep_id)))


def take_from_queue(unit: UnitOfWork, lead: LeadRow) -> None:
    """Move the lead out of its queue; the conditional UPDATE makes concurrent claims lose cleanly."""
    # An UPDATE's result is a CursorResult (with rowcount); Session.execute is typed as returning Result.
    result = cast(
        CursorResult[Any],
        unit.session.execute(
            update(LeadRow)
            .where(LeadRow.id == lead.id, LeadRow.status == "queued")
            .values(status="assigned", updated_at=unit.now)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise AlreadyClaimed(f"lead {lead.external_id!r} is no longer waiting in a queue")
    unit.session.execute(
        update(AssignmentRow)
        .where(
            AssignmentRow.lead_id == lead.id,
            AssignmentRow.state == "queued",
            AssignmentRow.closed_at.is_(None),
        )
        .values(closed_at=unit.now)
        .execution_options(synchronize_session=False)
    )


def _claimed_from(session: Session, lead: LeadRow) -> str | None:
    """The pool the lead was last claimed from (None if it never was): a rep of that pool beaten to the
    lead is told it was claimed; anyone else never learns the lead existed."""
    return session.scalar(
        select(PoolClaimRow.pool).where(PoolClaimRow.lead_id == lead.id).order_by(PoolClaimRow.id.desc()).limit(1)
    )


def claim(*, db: Database, external_id: str, rep_id: int) -> Routed:
    """A rep takes a lead from one of their pools (accepted at once: claiming is accepting).

    The rules are the routing package's (``routing.pull.check_claim``: active, within capacity); the
    first-come guarantee is a conditional UPDATE on the lead's status."""

    def work(unit: UnitOfWork) -> Routed:
        session, now = unit.session, unit.now
        rep = repo.lock_rep(session=session, rep_id=rep_id)
        lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
        pools = member_pools(session, rep)
        if lead is not None and lead.status != "queued" and _claimed_from(session, lead) in pools:
            raise AlreadyClaimed(f"lead {external_id!r} was already claimed")
        if lead is None or rep is None or lead.queue != "pool" or lead.pool not in pools:
            raise NotFound(f"lead {external_id!r} is not in any of your pools")
        claimant = adapters.domain_rep(rep)
        load = adapters.row_load(rep, now)
        capacity.count_rep_windows(session=session, reps=[claimant], loads={claimant.id: load}, now=now)
        check_claim(claimant, load)
        take_from_queue(unit, lead)
        if not repo.take_lead(session=session, rep_id=rep_id, now=now, value=lead.expected_value):
            raise CapacityExhausted(f"rep {rep_id} is at capacity ({rep.capacity} open leads)")
        pool = lead.pool
        waited = (now - lead.created_at).total_seconds()
        strategy = "blind_claim" if lead.blind else "claim"
        decision = Decision(
            lead_id=external_id,
            outcome=Outcome.assigned,
            rep_id=adapters.rep_id(rep_id),
            decided_at=now,
            strategy=strategy,
            explanation=Explanation(
                pool=pool, strategy=strategy, notes=[f"claimed from pool {pool!r} after {waited:.0f}s"]
            ),
        )
        row = AssignmentRow(
            lead_id=lead.id,
            rep_id=rep_id,
            state="accepted",
            source="claim",
            strategy=strategy,
            rule=f"claimed from pool {pool}",
            explanation=decision.to_json_dict(),
            alternatives=[],
            created_at=now,
            responded_at=now,
        )
        session.add(row)
        session.flush()
        session.add(
            PoolClaimRow(lead_id=lead.id, rep_id=rep_id, pool=pool, assignment_id=row.id, claimed_at=now)
        )
        lead.queue, lead.pool, lead.blind = None, None, False
        session.flush()
        unit.announce(row, "accepted", lead_id=external_id)  # a claim is accepted at once
        return Routed(assignment=row, lead=lead, rep_name=rep.name, flow_version=None, created=True)

    return transaction(db, work)


def manual_assign(
    *,
    db: Database,
    settings: Settings,
    external_id: str,
    rep_id: int,
    reason: str,
    manager: str = "a manager",
    force: bool = False,
) -> Routed:
    """A manager gives the lead to a rep: from a queue, or away from the rep who has it now (that offer
    ends ``reassigned``). Respects the active flag, the open-lead capacity and out of office (refused
    unless ``force``; ``routing.manual_assign``); logged as manual, with ``reason`` stored on it."""

    def work(unit: UnitOfWork) -> Routed:
        session = unit.session
        rep = repo.lock_rep(session=session, rep_id=rep_id)
        if rep is None:
            raise RepNotFound(f"rep {rep_id} not found")
        lead = repo.get_lead_by_external_id(session=session, external_id=external_id)
        if lead is None:
            raise NotFound(f"lead {external_id!r} not found")
        decision = engine_manual_assign(
            lead=adapters.domain_lead(lead),
            rep=adapters.domain_rep(rep),
            manager=manager,
            clock=ManualClock(unit.now),
            note=reason,
            force=force,
        )
        if lead.status == "closed":
            raise Conflict(f"lead {external_id!r} is closed (won or lost)")
        if lead.status == "queued":
            take_from_queue(unit, lead)
        else:
            live = session.scalar(
                select(AssignmentRow).where(AssignmentRow.lead_id == lead.id, AssignmentRow.state.in_(OPEN_STATES))
            )
            if live is not None:
                if live.rep_id == rep_id:
                    raise Conflict(f"lead {external_id!r} is already with rep {rep_id}")
                unit.move(
                    live,
                    to_state="reassigned",
                    from_states=OPEN_STATES,
                    refused=None,
                    closed_at=unit.now,
                    reason=f"reassigned by {manager} to rep {rep_id}" + (f": {reason}" if reason else ""),
                )
                session.flush()
        if rep.open_leads >= rep.capacity:
            raise CapacityExhausted(f"rep {rep_id} ({rep.name}) is at capacity: {rep.capacity} open leads")
        return store_decision(
            unit,
            lead=lead,
            decision=decision,
            acceptance=sla_policy(settings),
            flow=None,
            scores=NO_SCORES,
            figures=None,
            names={adapters.rep_id(rep.id): rep.name},
            source="manual",
            reason=reason or None,
        )

    return transaction(db, work)
