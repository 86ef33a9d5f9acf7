"""Store rows to routing domain objects (``leadwise.routing.domain``) and back to JSON for storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from leadwise.routing.domain import (
    NO_SCORES,
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
from leadwise.store.repositories import RepHead

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


def domain_loads(
    heads: Sequence[RepHead], window: Mapping[int, tuple[int, float]] | None = None
) -> dict[str, RepLoad]:
    """Each rep's ``RepLoad`` from the counters on its row and (when the flow has fairness bounds) the
    leads and value received in the window."""
    window = window or {}
    loads: dict[str, RepLoad] = {}
    for head in heads:
        n_window, value = window.get(head.id, (0, 0.0))
        loads[str(head.id)] = RepLoad(
            open_leads=head.open_leads,
            assigned_today=head.assigned_today,
            assigned_this_week=head.assigned_week,
            window_leads=n_window,
            window_value=value,
            last_assigned_at=head.last_assigned_at,
        )
    return loads


def domain_lead(
    external_id: str, payload: Mapping[str, Any], touch_types: frozenset[str] = frozenset()
) -> Lead:
    """The routing lead of a stored payload; ``touch_types`` are the marketing touches seen so far."""
    fields = {
        k: v for k, v in payload.items() if k in Lead.model_fields and k not in ("lead_id", "touch_types")
    }
    return Lead(lead_id=external_id, touch_types=touch_types, **fields)


def domain_scores(figures: LeadFigures | None, rows: Sequence[RepHead]) -> Scores:
    """Model figures keyed by the domain rep ids (database ids as strings); ``NO_SCORES`` rules-only."""
    if figures is None:
        return NO_SCORES
    by_name = dict(zip(figures.rep_names, figures.p_win, strict=True))
    known = [r for r in rows if r.name in by_name]
    return Scores(
        model_version=figures.model_version,
        lead_score=figures.score,
        rep_ids=tuple(str(r.id) for r in known),
        p_win=np.array([by_name[r.name] for r in known], dtype=float),
        deal_value=figures.deal_value,
    )
