"""The service's own history in the four-file CRM schema, with its decisions (``leadwise export``).

One ``sales_pipeline.csv`` row per lead routed to a rep (the lead's latest rep decision): ``Won`` / ``Lost``
with the recorded value and the outcome's date when an outcome is recorded, ``Engaging`` otherwise. The
accounts, products and reps come from the leads as posted and the reps table; ``--base DIR`` starts from
an existing four-file history (the one the models were trained on) and appends the service's rows to it.
``decisions.csv`` keeps, for each exported service row, who decided it and with what chance (the
propensity), what off-policy evaluation and inverse-propensity training read. ``lead_fields.csv`` keeps
the leads' custom ``fields`` (a ``lead_id`` column and one column per field name), when any lead has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from leadwise.data.crm import (
    ACCOUNT_FIELDS,
    ACCOUNTS_FILE,
    PIPELINE_COLUMNS,
    PIPELINE_FILE,
    PRODUCT_COLUMNS,
    PRODUCTS_FILE,
    TEAM_COLUMNS,
    TEAMS_FILE,
    TOUCHPOINTS_FILE,
)
from leadwise.errors import InvalidInput
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow, LeadRow, OutcomeRow, RepRow, RoutingFlowRow, TouchRow

DECISIONS_FILE = "decisions.csv"
FIELDS_FILE = "lead_fields.csv"
DECISION_COLUMNS = (
    "lead_id", "rep", "propensity", "strategy", "flow_version", "model_version", "created_at", "p_win",
    "explored", "outcome",
)  # fmt: skip
TOUCH_COLUMNS = ("lead_id", "timestamp", "channel", "touch_type", "campaign", "cost")


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    leads: int  # service rows in sales_pipeline.csv
    closed: int
    base_rows: int
    touches: int
    without_propensity: int
    with_fields: int = 0  # service rows with custom fields (in lead_fields.csv)  # decisions made before propensities were recorded, or manual ones


def _service_frames(db: Database) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the latest rep decision of each lead with its lead, rep, flow and outcome; reps; touches; leads)"""
    with db.read_session() as session:
        latest = (
            select(AssignmentRow.lead_id, AssignmentRow.id)
            .where(AssignmentRow.rep_id.is_not(None))
            .order_by(AssignmentRow.lead_id, AssignmentRow.id)
        )
        last_of: dict[int, int] = {lead: aid for lead, aid in session.execute(latest)}
        rows = session.execute(
            select(AssignmentRow, LeadRow, RepRow.name, RoutingFlowRow.version, OutcomeRow)
            .join(LeadRow, LeadRow.id == AssignmentRow.lead_id)
            .join(RepRow, RepRow.id == AssignmentRow.rep_id)
            .outerjoin(RoutingFlowRow, RoutingFlowRow.id == AssignmentRow.flow_id)
            .outerjoin(OutcomeRow, OutcomeRow.assignment_id == AssignmentRow.id)
            .where(AssignmentRow.id.in_(list(last_of.values())))
            .order_by(AssignmentRow.created_at, AssignmentRow.id)
        ).all()
        records = [_record(a, lead, rep, version, outcome) for a, lead, rep, version, outcome in rows]
        reps = pd.DataFrame(
            [(r.name, r.manager, r.region) for r in session.scalars(select(RepRow).order_by(RepRow.id))],
            columns=list(TEAM_COLUMNS),
        )
        touches = pd.DataFrame(
            [
                (lead, t.timestamp, t.channel, t.touch_type, t.campaign, t.cost)
                for t, lead in session.execute(
                    select(TouchRow, LeadRow.external_id)
                    .join(LeadRow, LeadRow.id == TouchRow.lead_id)
                    .where(TouchRow.lead_id.in_(list(last_of)))
                    .order_by(TouchRow.id)
                )
            ],
            columns=list(TOUCH_COLUMNS),
        )
    return pd.DataFrame(records), reps, touches, pd.DataFrame([r["payload"] for r in records])


def _record(
    a: AssignmentRow, lead: LeadRow, rep: str, version: int | None, outcome: OutcomeRow | None
) -> dict[str, Any]:
    stamp = pd.Timestamp(lead.payload.get("engage_date") or lead.created_at)
    engage = (stamp.tz_convert(None) if stamp.tzinfo else stamp).date()
    stage, close_date, value = "Engaging", None, None
    if outcome is not None:
        stage = "Won" if outcome.result == "won" else "Lost"
        close_date = max(outcome.recorded_at.date(), engage)
        value = (outcome.value if outcome.value is not None else a.expected_value) if stage == "Won" else 0.0
    return {
        "opportunity_id": lead.external_id,
        "sales_agent": rep,
        "product": lead.payload.get("product"),
        "account": lead.payload.get("account"),
        "deal_stage": stage,
        "engage_date": engage.isoformat(),
        "close_date": close_date.isoformat() if close_date else None,
        "close_value": value,
        "propensity": a.propensity,
        "strategy": a.strategy,
        "flow_version": version,
        "model_version": a.model_version,
        "created_at": a.created_at.isoformat(),
        "p_win": a.p_win,
        "explored": bool((a.explanation or {}).get("explanation", {}).get("explored", False)),
        "payload": lead.payload,
    }


def _read_base(base: Path | None) -> dict[str, pd.DataFrame]:
    names = {PIPELINE_FILE: PIPELINE_COLUMNS, ACCOUNTS_FILE: ("account", *ACCOUNT_FIELDS),
             PRODUCTS_FILE: PRODUCT_COLUMNS, TEAMS_FILE: TEAM_COLUMNS}  # fmt: skip
    if base is None:
        return {name: pd.DataFrame(columns=list(columns)) for name, columns in names.items()}
    frames = {}
    for name in names:
        path = base / name
        if not path.is_file():
            raise InvalidInput(f"{path}: missing (--base must be a directory in the four-file schema)")
        frames[name] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    touches = base / TOUCHPOINTS_FILE
    if touches.is_file():
        frames[TOUCHPOINTS_FILE] = pd.read_csv(touches, dtype=str, keep_default_na=False, na_values=[""])
    return frames


def _append_new(base: pd.DataFrame, new: pd.DataFrame, key: str) -> pd.DataFrame:
    """``base`` with the rows of ``new`` whose ``key`` it lacks (the base's rows win: they were trained on)."""
    new = new.dropna(subset=[key]).drop_duplicates(key, keep="last")
    fresh = new[~new[key].isin(base[key])]
    return pd.concat([base, fresh.reindex(columns=base.columns)], ignore_index=True) if len(fresh) else base


def export_history(*, db: Database, out: Path, base: Path | None = None) -> ExportSummary:
    """Write the service's history to ``out`` (see the module docstring); returns what was written."""
    service, reps, touches, payloads = _service_frames(db)
    frames = _read_base(base)
    if service.empty:
        raise InvalidInput("the service has routed no lead to a rep yet: nothing to export")
    clash = service["opportunity_id"].isin(frames[PIPELINE_FILE]["opportunity_id"])
    if clash.any():
        raise InvalidInput(
            f"{base / PIPELINE_FILE if base else PIPELINE_FILE}: opportunity_id "
            f"{service['opportunity_id'][clash].iloc[0]!r} is both in --base and a lead of the service"
        )
    accounts = payloads.reindex(columns=["account", *ACCOUNT_FIELDS])
    won = service[service["deal_stage"] == "Won"]
    products = payloads.reindex(columns=["product", "series"]).assign(
        sales_price=payloads["product"].map(won.groupby("product")["close_value"].median())
    )
    products = _append_new(frames[PRODUCTS_FILE], products, "product")
    unpriced = products["sales_price"].isna()
    if unpriced.any():
        raise InvalidInput(
            f"{PRODUCTS_FILE}: product {products['product'][unpriced].iloc[0]!r} has no sales_price: the service "
            "has no won deal of it; pass --base with the products.csv of the training history"
        )
    out.mkdir(parents=True, exist_ok=True)
    pipeline = pd.concat(
        [frames[PIPELINE_FILE], service.reindex(columns=list(PIPELINE_COLUMNS))], ignore_index=True
    )
    pipeline.to_csv(out / PIPELINE_FILE, index=False)
    _append_new(frames[ACCOUNTS_FILE], accounts, "account").to_csv(out / ACCOUNTS_FILE, index=False)
    products.to_csv(out / PRODUCTS_FILE, index=False)
    _append_new(frames[TEAMS_FILE], reps, "sales_agent").to_csv(out / TEAMS_FILE, index=False)
    base_touches = frames.get(TOUCHPOINTS_FILE)
    if not touches.empty or base_touches is not None:
        all_touches = touches if base_touches is None else pd.concat([base_touches, touches], ignore_index=True)
        all_touches.to_csv(out / TOUCHPOINTS_FILE, index=False)
    custom = _custom_fields(service)
    if not custom.empty:
        custom.to_csv(out / FIELDS_FILE, index=False)
    decisions = service.rename(columns={"opportunity_id": "lead_id", "sales_agent": "rep"})
    decisions["outcome"] = decisions["deal_stage"].map({"Won": "won", "Lost": "lost"})
    decisions.reindex(columns=list(DECISION_COLUMNS)).to_csv(out / DECISIONS_FILE, index=False)
    return ExportSummary(
        out=out,
        leads=len(service),
        closed=int(service["deal_stage"].isin(["Won", "Lost"]).sum()),
        base_rows=len(frames[PIPELINE_FILE]),
        touches=len(touches),
        without_propensity=int(service["propensity"].isna().sum()),
        with_fields=len(custom),
    )


def _custom_fields(service: pd.DataFrame) -> pd.DataFrame:
    """One row per exported lead with custom fields: ``lead_id``, then its fields by name (sorted)."""
    rows = [
        {"lead_id": lead_id, **fields}
        for lead_id, payload in zip(service["opportunity_id"], service["payload"], strict=True)
        if (fields := payload.get("fields"))
    ]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    return frame[["lead_id", *sorted(c for c in frame.columns if c != "lead_id")]]
