"""Store rows to routing domain objects (``leadwise.routing.domain``) and back to JSON for storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from leadwise.routing.domain import (
    Capacity,
    Lead,
    OutOfOffice,
    Rep,
    RepLoad,
    Scores,
    WorkingHours,
)
from leadwise.services.scoring import LeadFigures
from leadwise.store.models import RepRow
from leadwise.store.repositories import LoadFigures, RepHead

# Domain reps are immutable; rebuilding 40 validated pydantic objects per request would cost more than
# the decision itself, so they are cached per (row id, last update).
_REP_CACHE: dict[tuple[int, datetime], Rep] = {}


def domain_reps(session: Session, heads: Sequence[RepHead]) -> list[Rep]:
    """Domain reps for locked rep heads, from the cache when the row has not changed since."""
    reps = []
    for head in heads:
        rep = _REP_CACHE.get((head.id, head.updated_at))
        if rep is None:
            row = session.get(RepRow, head.id)
            assert row is not None  # locked by the caller
            rep = domain_rep(row)
        reps.append(rep)
    return reps


def domain_rep(row: RepRow) -> Rep:
    key = (row.id, row.updated_at)
    rep = _REP_CACHE.get(key)
    if rep is None:
        if len(_REP_CACHE) > 5000:
            _REP_CACHE.clear()
        rep = Rep(
            id=str(row.id),
            name=row.name,
            team=row.team,
            manager=row.manager,
            region=row.region,
            territories=frozenset(row.territories or ()),
            sectors=frozenset(row.sectors or ()),
            products=frozenset(row.products or ()),
            series=frozenset(row.series or ()),
            seniority=row.seniority,
            weight=row.weight,
            capacity=Capacity(
                max_open=row.capacity, max_per_day=row.max_per_day, max_per_week=row.max_per_week
            ),
            working_hours=WorkingHours(**row.hours) if row.hours else None,
            out_of_office=tuple(OutOfOffice(**p) for p in row.out_of_office or ()),
            active=row.active,
            accounts=frozenset(row.accounts_owned or ()),
            win_rate=row.win_rate,
        )
        _REP_CACHE[key] = rep
    return rep


def domain_loads(rows: Sequence[RepHead], figures: Mapping[int, LoadFigures]) -> dict[str, RepLoad]:
    loads: dict[str, RepLoad] = {}
    for row in rows:
        f = figures.get(row.id, LoadFigures())
        loads[str(row.id)] = RepLoad(
            open_leads=row.open_leads,
            assigned_today=f.assigned_today,
            assigned_this_week=f.assigned_this_week,
            window_leads=f.window_leads,
            window_value=f.window_value,
            last_assigned_at=f.last_assigned_at,
        )
    return loads


def domain_lead(external_id: str, payload: Mapping[str, Any]) -> Lead:
    fields = {k: v for k, v in payload.items() if k in Lead.model_fields and k != "lead_id"}
    return Lead(lead_id=external_id, **fields)


def domain_scores(figures: LeadFigures | None, rows: Sequence[RepHead]) -> Scores | None:
    """Model figures keyed by the domain rep ids (database ids as strings); None in rules-only mode."""
    if figures is None:
        return None
    by_name = dict(zip(figures.rep_names, figures.p_win, strict=True))
    known = [r for r in rows if r.name in by_name]
    return Scores(
        model_version=figures.model_version,
        lead_score=figures.score,
        rep_ids=tuple(str(r.id) for r in known),
        p_win=np.array([by_name[r.name] for r in known], dtype=float),
        deal_value=figures.deal_value,
    )
