"""The stored history as the frames of ``leadwise.marketing.reports``, and the reports computed on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadwise.marketing import reports as pure
from leadwise.store.models import AssignmentRow, LeadReturnRow, LeadRow, OutcomeRow, RepRow, TouchRow


def _times(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _rep_names(session: Session) -> Callable[[int | None], str | None]:
    names = dict(session.execute(select(RepRow.id, RepRow.name)).all())
    return lambda rep_id: None if rep_id is None else names.get(rep_id, f"rep {rep_id}")


# One query per table, each report reading only the tables it needs (rep ids replaced by rep names).
def load_leads(session: Session) -> pd.DataFrame:
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
            for key, external, created, payload in lead_rows.tuples()
        ],
        columns=["lead_key", "lead_id", "created_at", "source", "series", "existing_customer"],
    )
    return _times(leads, "created_at")


def load_assignments(session: Session) -> pd.DataFrame:
    rep = _rep_names(session)
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
    return _times(assignments, "created_at", "expires_at", "responded_at")


def load_outcomes(session: Session) -> pd.DataFrame:
    rep = _rep_names(session)
    outcomes = pd.DataFrame(
        [
            {"lead_key": lead, "rep": rep(rep_id), "result": result, "value": value}
            for lead, rep_id, result, value in session.execute(
                select(OutcomeRow.lead_id, OutcomeRow.rep_id, OutcomeRow.result, OutcomeRow.value)
            )
        ],
        columns=["lead_key", "rep", "result", "value"],
    )
    outcomes["value"] = pd.to_numeric(outcomes["value"], errors="coerce").astype(float)
    return outcomes


def load_touches(session: Session) -> pd.DataFrame:
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
    touches["cost"] = pd.to_numeric(touches["cost"], errors="coerce").astype(float)
    return _times(touches, "timestamp")


def load_returns(session: Session) -> pd.DataFrame:
    rep = _rep_names(session)
    return pd.DataFrame(
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


def conversion(*, session: Session) -> dict[str, Any]:
    return pure.conversion_report(
        leads=load_leads(session),
        assignments=load_assignments(session),
        outcomes=load_outcomes(session),
        touches=load_touches(session),
    )


def speed(*, session: Session) -> dict[str, Any]:
    return pure.speed_report(leads=load_leads(session), assignments=load_assignments(session))


def returns(*, session: Session, reasons: Sequence[str] = ()) -> dict[str, Any]:
    return pure.returns_report(returns=load_returns(session), reasons=reasons)


def attribution(*, session: Session, model: str = "linear") -> dict[str, Any]:
    return pure.attribution_report(
        leads=load_leads(session), outcomes=load_outcomes(session), touches=load_touches(session), model=model
    )


def all_reports(*, session: Session, reasons: Sequence[str] = (), model: str = "linear") -> dict[str, Any]:
    """Every report from one read of each table (what ``leadwise report`` prints and logs)."""
    leads, assignments = load_leads(session), load_assignments(session)
    outcomes, touches = load_outcomes(session), load_touches(session)
    return {
        "conversion": pure.conversion_report(
            leads=leads, assignments=assignments, outcomes=outcomes, touches=touches
        ),
        "speed": pure.speed_report(leads=leads, assignments=assignments),
        "returns": pure.returns_report(returns=load_returns(session), reasons=reasons),
        "attribution": pure.attribution_report(leads=leads, outcomes=outcomes, touches=touches, model=model),
    }
