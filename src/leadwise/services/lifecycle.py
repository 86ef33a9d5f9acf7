"""A stored lead changes (``PATCH /v1/leads/{lead_id}``): its fields are stored and the active flow's
``[lifecycle]`` decides what the change does (``routing.lifecycle.on_update``):

- ``close_when``: the open assignment (or the queued decision) ends ``won``, ``lost`` or ``closed``; a
  won or lost offer gets its outcome row, as ``POST /v1/assignments/{id}/outcome`` records it; the lead
  is closed and never routed again;
- ``unassign_when``: the open offer ends ``withdrawn`` and the lead waits in the manager queue;
- ``reroute_when``: the open offer ends ``withdrawn`` (or the lead leaves its queue) and the lead goes
  through the flow again (source ``update``, not counted as a reassignment);
- otherwise, when the flow's ``due_from`` field changed, the open offer's deadline follows it.

Each end of an assignment is a ``UnitOfWork.move`` (conditional UPDATE, the rep's capacity freed, the
webhook event announced), in the one transaction that stores the new fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from leadwise.errors import NotFound
from leadwise.routing import Lead
from leadwise.routing.lifecycle import Change, due_date, duplicate_fingerprint, on_update, unassigned_decision
from leadwise.services import adapters, context, decisions
from leadwise.services.catalogue import catalogue
from leadwise.services.models import ModelHolder
from leadwise.services.persist import Routed, routed_of, store_decision
from leadwise.services.pools import take_from_queue
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import ScoredLead, score_for_routing, stored_scores
from leadwise.services.unit_of_work import UnitOfWork, transaction
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import OPEN_STATES, AssignmentRow, LeadRow, OutcomeRow

UpdateAction = Literal["none", "rerouted", "unassigned", "closed", "due_moved"]


@dataclass(frozen=True)
class LeadUpdated:
    lead: LeadRow
    changed: list[str]
    action: UpdateAction
    why: str | None
    ended: Routed | None  # the assignment the action ended
    decision: Routed | None  # the new decision (re-routed, unassigned)


def update_lead(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    external_id: str,
    changes: Mapping[str, Any],
    prices: PriceBook | None = None,
) -> LeadUpdated:
    """Store ``changes`` to the lead the caller calls ``external_id`` and act as the flow's lifecycle says.
    The changed lead is completed from the catalogue as a posted one is (``services.catalogue``) and
    scored outside the transaction (conditions may read its score)."""
    known = catalogue(models=models, settings=settings)
    with db.read_session() as session:
        row = repo.get_lead_by_external_id(session=session, external_id=external_id)
        if row is None:
            raise NotFound(f"lead {external_id!r} not found")
        touches = repo.lead_touches(session=session, lead_id=row.id)
        (scored,) = score_for_routing(
            models=models,
            leads=[known.update(adapters.lead_with_touches(row, touches), changes)],
            reps=context.active_reps(db),
        )

    def work(unit: UnitOfWork) -> LeadUpdated:
        row = repo.get_lead_by_external_id(session=unit.session, external_id=external_id)
        if row is None:
            raise NotFound(f"lead {external_id!r} not found")
        before = adapters.domain_lead(row, repo.lead_touch_types(session=unit.session, lead_id=row.id))
        after = known.update(before, changes)
        changed = [name for name in Lead.model_fields if getattr(before, name) != getattr(after, name)]
        if not changed:
            return LeadUpdated(row, [], "none", "no field changed", None, None)
        row.payload = adapters.stored_payload(after)
        row.updated_at = unit.now
        unit.session.flush()
        if row.status == "closed":
            latest = repo.latest_assignment(session=unit.session, lead_id=row.id)
            state = latest.state if latest is not None else "closed"
            return LeadUpdated(row, changed, "none", f"the lead is closed ({state}): not re-evaluated", None, None)
        ctx = context.lock_context(unit)
        row.duplicate_key = duplicate_fingerprint(after, ctx.flow.flow)  # the key may have changed
        change = on_update(
            before=before,
            after=after,
            scores_before=stored_scores(models, row.score),
            scores_after=scored.scores,
            reps=ctx.reps,
            flow=ctx.flow.flow,
            now=unit.now,
        )
        live = repo.open_assignment(session=unit.session, lead_id=row.id)
        if change.action == "close":
            return _close(unit, row, live, change, changed)
        if change.action == "unassign":
            if live is None:
                return LeadUpdated(row, changed, "none", f"{change.why}, but no offer is open: nothing to unassign", None, None)
            _end(unit, live, to_state="withdrawn", reason=f"unassigned: {change.why}")
            queued = unassigned_decision(after, change.why, unit.now, scored.scores)
            routed = store_decision(
                unit, lead=row, decision=queued, acceptance=decisions.sla_policy(settings), flow=ctx.flow,
                scores=scored.scores, figures=scored.figures, names=ctx.names, source="update", reason=change.why,
            )
            return LeadUpdated(row, changed, "unassigned", change.why, routed_of(unit.session, live, row), routed)
        if change.action == "reroute":
            return _reroute(unit, row, live, after, change, changed, scored, settings, prices)
        flow = ctx.flow.flow
        if flow.lifecycle.due_from in changed and live is not None and live.state == "offered":
            due, note = due_date(after, flow, unit.now)
            live.expires_at = due or live.created_at + decisions.sla_policy(settings).accept_within
            unit.session.flush()
            return LeadUpdated(row, changed, "due_moved", note, None, routed_of(unit.session, live, row))
        return LeadUpdated(row, changed, "none", None, None, None)

    return transaction(db, work)


def _end(unit: UnitOfWork, live: AssignmentRow, *, to_state: str, reason: str) -> None:
    unit.move(
        live,
        to_state=to_state,
        from_states=OPEN_STATES,
        refused=f"assignment {live.id} is {{state}}: it changed while the lead was being updated; try again",
        closed_at=unit.now,
        reason=reason,
    )


def _close(
    unit: UnitOfWork, row: LeadRow, live: AssignmentRow | None, change: Change, changed: list[str]
) -> LeadUpdated:
    """Close the lead as the rule says: its open offer, or else its queued decision, ends in that state."""
    assert change.result is not None
    if live is not None:
        _end(unit, live, to_state=change.result, reason=change.why)
        if change.result in ("won", "lost") and live.rep_id is not None:
            unit.session.add(
                OutcomeRow(
                    assignment_id=live.id, lead_id=row.id, rep_id=live.rep_id, result=change.result, recorded_at=unit.now
                )
            )
        ended = live
    else:
        queued = repo.latest_assignment(session=unit.session, lead_id=row.id)
        assert queued is not None and queued.state == "queued"  # not closed and nothing open: it waits in a queue
        ended = queued
        unit.move(
            ended, to_state=change.result, from_states=["queued"], refused=None, release=False,
            closed_at=unit.now, reason=change.why,
        )
    row.status, row.queue, row.pool, row.blind = "closed", None, None, False
    unit.session.flush()
    return LeadUpdated(row, changed, "closed", change.why, routed_of(unit.session, ended, row), None)


def _reroute(
    unit: UnitOfWork,
    row: LeadRow,
    live: AssignmentRow | None,
    after: Lead,
    change: Change,
    changed: list[str],
    scored: ScoredLead,
    settings: Settings,
    prices: PriceBook | None,
) -> LeadUpdated:
    """End the open offer (or take the lead out of its queue) and route the changed lead through the flow
    on a context read after that, so the freed capacity counts."""
    if live is not None:
        _end(unit, live, to_state="withdrawn", reason=f"re-routed: {change.why}")
    else:
        take_from_queue(unit, row)
    routed = decisions.decide_and_store(
        unit,
        context.lock_context(unit),
        settings=settings,
        row=row,
        lead=after,
        scored=scored,
        source="update",
        prices=prices,
        reason=f"re-routed after an update: {change.why}",
    )
    ended = routed_of(unit.session, live, row) if live is not None else None
    return LeadUpdated(row, changed, "rerouted", change.why, ended, routed)
