"""Per-rep figures and fairness over everything stored."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadwise.routing.fairness import PERIODS, FairnessBounds, gini, period_start, shares_of, shares_over_time
from leadwise.services.flows import current_flow
from leadwise.store import repositories as repo
from leadwise.store.models import AssignmentRow, LeadRow, OutcomeRow, RepRow, utcnow


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


def flow_bounds(session: Session) -> tuple[FairnessBounds | None, str]:
    """The active flow's fairness bounds (flow-wide, else the first step that has some) and where they are
    set, in words."""
    version = current_flow(session)
    flow = version.flow
    label = f"flow version {version.version}" if version.version is not None else "the fallback flow"
    if flow.fairness is not None and flow.fairness.active:
        return flow.fairness, f"{label}, flow-wide [fairness]"
    for step in flow.steps:
        if step.fairness is not None and step.fairness.active:
            return step.fairness, f"{label}, step {step.name!r}"
    return None, f"{label} sets no fairness bound"


def fairness_over_time(
    *, session: Session, period: str = "day", periods: int = 14, end: datetime | None = None
) -> dict[str, Any]:
    """Per calendar period (UTC day or ISO week) up to ``end`` (default: the service's now), each rep's
    share of the leads and of the expected value offered to reps, against its fair share and the active
    flow's bounds, with the Gini of each; and the same over the whole range."""
    end = end or utcnow()
    since = period_start(end, period) - PERIODS[period] * (periods - 1)
    names = dict(session.execute(select(RepRow.id, RepRow.name)).tuples().all())
    weights = {
        name: float(weight or 1.0)
        for name, weight in session.execute(select(RepRow.name, RepRow.weight).where(RepRow.active)).tuples()
    }
    given = [
        (names.get(rep_id, f"rep {rep_id}") if rep_id is not None else "", created, float(value or 0.0))
        for rep_id, created, value in session.execute(
            select(AssignmentRow.rep_id, AssignmentRow.created_at, AssignmentRow.expected_value).where(
                AssignmentRow.rep_id.is_not(None), AssignmentRow.created_at >= since
            )
        ).tuples()
    ]
    bounds, source = flow_bounds(session)
    series = shares_over_time(given, weights, bounds, period=period, periods=periods, end=end)
    whole = shares_of([(rep, value) for rep, _, value in given], weights, bounds, since)
    return {
        "period": period,
        "since": since,
        "end": end,
        "bounds": bounds.model_dump(exclude={"window_days"}) if bounds is not None else None,
        "bounds_source": source,
        "window_days": bounds.window_days if bounds is not None else None,
        "overall": asdict(whole),
        "periods": [asdict(p) for p in series],
    }
