"""The stored history as the frames of ``leadwise.marketing.reports``, and the reports computed on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadwise.marketing import reports as pure
from leadwise.store.models import AssignmentRow, LeadReturnRow, LeadRow, OutcomeRow, RepRow, TouchRow


@dataclass(frozen=True)
class Frames:
    leads: pd.DataFrame
    assignments: pd.DataFrame
    outcomes: pd.DataFrame
    touches: pd.DataFrame
    returns: pd.DataFrame


def _times(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def load_frames(*, session: Session) -> Frames:
    """Everything the reports read, one query per table (rep ids replaced by rep names)."""
    names = dict(session.execute(select(RepRow.id, RepRow.name)).all())

    def rep(rep_id: int | None) -> str | None:
        return None if rep_id is None else names.get(rep_id, f"rep {rep_id}")

    lead_rows = session.execute(select(LeadRow.id, LeadRow.external_id, LeadRow.created_at, LeadRow.payload))
    leads = pd.DataFrame(
        [
            {
                "lead_key": key,
                "lead_id": external,
                "created_at": created,
                "source": (payload or {}).get("source"),
                "series": (payload or {}).get("series"),
                "existing_customer": bool((payload or {}).get("existing_customer")),
            }
            for key, external, created, payload in lead_rows
        ],
        columns=["lead_key", "lead_id", "created_at", "source", "series", "existing_customer"],
    )
    assignments = pd.DataFrame(
        [
            {
                "lead_key": a.lead_id,
                "rep": rep(a.rep_id),
                "state": a.state,
                "created_at": a.created_at,
                "expires_at": a.expires_at,
                "responded_at": a.responded_at,
            }
            for a in session.execute(
                select(
                    AssignmentRow.lead_id,
                    AssignmentRow.rep_id,
                    AssignmentRow.state,
                    AssignmentRow.created_at,
                    AssignmentRow.expires_at,
                    AssignmentRow.responded_at,
                ).order_by(AssignmentRow.id)
            )
        ],
        columns=["lead_key", "rep", "state", "created_at", "expires_at", "responded_at"],
    )
    outcomes = pd.DataFrame(
        [
            {"lead_key": lead, "rep": rep(rep_id), "result": result, "value": value}
            for lead, rep_id, result, value in session.execute(
                select(OutcomeRow.lead_id, OutcomeRow.rep_id, OutcomeRow.result, OutcomeRow.value)
            )
        ],
        columns=["lead_key", "rep", "result", "value"],
    )
    touches = pd.DataFrame(
        session.execute(
            select(
                TouchRow.lead_id,
                TouchRow.timestamp,
                TouchRow.channel,
                TouchRow.touch_type,
                TouchRow.campaign,
                TouchRow.cost,
            ).order_by(TouchRow.id)
        ).all(),
        columns=["lead_key", "timestamp", "channel", "touch_type", "campaign", "cost"],
    )
    returns = pd.DataFrame(
        [
            {"lead_key": lead, "rep": rep(rep_id), "reason": reason}
            for lead, rep_id, reason in session.execute(
                select(LeadReturnRow.lead_id, LeadReturnRow.rep_id, LeadReturnRow.reason).order_by(
                    LeadReturnRow.id
                )
            )
        ],
        columns=["lead_key", "rep", "reason"],
    )
    outcomes["value"] = pd.to_numeric(outcomes["value"], errors="coerce").astype(float)
    touches["cost"] = pd.to_numeric(touches["cost"], errors="coerce").astype(float)
    return Frames(
        leads=_times(leads, "created_at"),
        assignments=_times(assignments, "created_at", "expires_at", "responded_at"),
        outcomes=outcomes,
        touches=_times(touches, "timestamp"),
        returns=returns,
    )


def conversion(*, session: Session) -> dict[str, Any]:
    f = load_frames(session=session)
    return pure.conversion_report(
        leads=f.leads, assignments=f.assignments, outcomes=f.outcomes, touches=f.touches
    )


def speed(*, session: Session) -> dict[str, Any]:
    f = load_frames(session=session)
    return pure.speed_report(leads=f.leads, assignments=f.assignments)


def returns(*, session: Session, reasons: Sequence[str] = ()) -> dict[str, Any]:
    return pure.returns_report(returns=load_frames(session=session).returns, reasons=reasons)


def attribution(*, session: Session, model: str = "linear") -> dict[str, Any]:
    f = load_frames(session=session)
    return pure.attribution_report(leads=f.leads, outcomes=f.outcomes, touches=f.touches, model=model)


def all_reports(*, session: Session, reasons: Sequence[str] = (), model: str = "linear") -> dict[str, Any]:
    """Every report from one read of the store (what ``leadwise report`` prints and logs)."""
    f = load_frames(session=session)
    return {
        "conversion": pure.conversion_report(
            leads=f.leads, assignments=f.assignments, outcomes=f.outcomes, touches=f.touches
        ),
        "speed": pure.speed_report(leads=f.leads, assignments=f.assignments),
        "returns": pure.returns_report(returns=f.returns, reasons=reasons),
        "attribution": pure.attribution_report(
            leads=f.leads, outcomes=f.outcomes, touches=f.touches, model=model
        ),
    }
