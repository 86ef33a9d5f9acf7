"""Invariants a crash must not break (used by tests and worth running after an incident)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadwise.store import repositories as repo
from leadwise.store.models import OPEN_STATES, AssignmentRow, LeadRow


def consistency_problems(*, session: Session) -> list[str]:
    """What is wrong with the stored routing state; empty when every invariant holds."""
    problems: list[str] = []
    counts = repo.open_assignment_counts(session=session)
    for rep in repo.list_reps(session=session):
        if rep.open_leads != counts.get(rep.id, 0):
            problems.append(f"rep {rep.id}: counter {rep.open_leads} != {counts.get(rep.id, 0)} open assignments")
        if rep.open_leads > rep.capacity:
            problems.append(f"rep {rep.id}: {rep.open_leads} open leads over capacity {rep.capacity}")
    orphan = session.scalar(
        select(func.count())
        .select_from(LeadRow)
        .where(~select(AssignmentRow.id).where(AssignmentRow.lead_id == LeadRow.id).exists())
    )
    if orphan:
        problems.append(f"{orphan} lead(s) stored without a decision")
    assigned_without_live = session.scalar(
        select(func.count())
        .select_from(LeadRow)
        .where(
            LeadRow.status == "assigned",
            ~select(AssignmentRow.id)
            .where(AssignmentRow.lead_id == LeadRow.id, AssignmentRow.state.in_(OPEN_STATES))
            .exists(),
        )
    )
    if assigned_without_live:
        problems.append(f"{assigned_without_live} assigned lead(s) without an open assignment")
    return problems
