"""Per-rep figures and fairness over everything stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadwise.routing.fairness import gini
from leadwise.store import repositories as repo
from leadwise.store.models import AssignmentRow, LeadRow, OutcomeRow


def team_stats(*, session: Session) -> dict[str, Any]:
    reps = repo.list_reps(session=session)
    received = dict(
        session.execute(
            select(AssignmentRow.rep_id, func.count())
            .where(AssignmentRow.rep_id.is_not(None))
            .group_by(AssignmentRow.rep_id)
        ).all()
    )
    value = dict(
        session.execute(
            select(AssignmentRow.rep_id, func.coalesce(func.sum(AssignmentRow.expected_value), 0.0))
            .where(AssignmentRow.rep_id.is_not(None))
            .group_by(AssignmentRow.rep_id)
        ).all()
    )
    results: dict[tuple[int | None, str], int] = {
        (rep_id, result): n
        for rep_id, result, n in session.execute(
            select(OutcomeRow.rep_id, OutcomeRow.result, func.count()).group_by(
                OutcomeRow.rep_id, OutcomeRow.result
            )
        )
    }
    rows: list[dict[str, Any]] = []
    for rep in reps:
        won, lost = results.get((rep.id, "won"), 0), results.get((rep.id, "lost"), 0)
        rows.append(
            {
                "rep_id": rep.id,
                "name": rep.name,
                "active": rep.active,
                "capacity": rep.capacity,
                "open_leads": rep.open_leads,
                "leads_received": int(received.get(rep.id, 0)),
                "expected_value_received": float(value.get(rep.id, 0.0) or 0.0),
                "won": won,
                "lost": lost,
                "win_rate": won / (won + lost) if won + lost else None,
            }
        )
    queues = {
        str(q): int(n)
        for q, n in session.execute(
            select(LeadRow.queue, func.count()).where(LeadRow.status == "queued").group_by(LeadRow.queue)
        )
    }
    states = {
        str(s): int(n)
        for s, n in session.execute(select(AssignmentRow.state, func.count()).group_by(AssignmentRow.state))
    }
    active = [r for r in rows if r["active"]]
    counts = [r["leads_received"] for r in active]
    values = [r["expected_value_received"] for r in active]
    mean = sum(counts) / len(counts) if counts else 0.0
    fairness = {
        "gini_leads": gini(counts) if counts and sum(counts) else None,
        "gini_expected_value": gini(values) if values and sum(values) else None,
        "max_over_mean_leads": (max(counts) / mean) if mean else None,
        "min_over_mean_leads": (min(counts) / mean) if mean else None,
    }
    return {"reps": rows, "queues": queues, "assignments_by_state": states, "fairness": fairness}
