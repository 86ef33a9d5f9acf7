"""The edges of the routing domain (``leadwise.routing.domain``): store rows to domain reps, loads and
leads and back (a rep's store key as its ``RepId``), and the models' per-rep-name figures to ``Scores``
keyed by ``RepId``. Nothing above this module converts a rep id or reshapes a lead."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from cachetools import LRUCache
from sqlalchemy.orm import Session

from leadwise.routing.capacity import CapacityWindow
from leadwise.routing.conditions import Condition
from leadwise.routing.domain import (
    Capacity,
    Lead,
    OutOfOffice,
    Rep,
    RepId,
    RepLoad,
    Seniority,
    Touch,
    WorkingHours,
)
from leadwise.store.models import LeadRow, RepRow
from leadwise.store.repositories import RepHead, day_and_week


class RepName(NamedTuple):
    """A rep as the models know it: by name (the CRM's sales agent)."""

    id: RepId
    name: str


def rep_id(key: int) -> RepId:
    """The domain id of the rep stored under ``key``."""
    return str(key)


def rep_key(rep: RepId) -> int:
    """The store key of a domain rep id (the inverse of ``rep_id``)."""
    return int(rep)


# Domain reps are immutable; rebuilding 40 validated pydantic objects per request would cost more than
# the decision itself, so they are cached per (row id, last update).
_REP_CACHE: LRUCache[tuple[int, datetime], Rep] = LRUCache(maxsize=5000)
_REP_CACHE_LOCK = threading.Lock()


def domain_reps(session: Session, heads: Sequence[RepHead]) -> list[Rep]:
    """Domain reps for locked rep heads, from the cache when the row has not changed since."""
    reps = []
    for head in heads:
        with _REP_CACHE_LOCK:  # an LRU read reorders the cache
            rep = _REP_CACHE.get((head.id, head.updated_at))
        if rep is None:
            row = session.get(RepRow, head.id)
            assert row is not None  # locked by the caller
            rep = domain_rep(row)
        reps.append(rep)
    return reps


def domain_rep(row: RepRow) -> Rep:
    key = (row.id, row.updated_at)
    with _REP_CACHE_LOCK:
        rep = _REP_CACHE.get(key)
    if rep is None:
        rep = Rep(
            id=rep_id(row.id),
            name=row.name,
            team=row.team,
            manager=row.manager,
            region=row.region,
            territories=frozenset(row.territories or ()),
            sectors=frozenset(row.sectors or ()),
            products=frozenset(row.products or ()),
            series=frozenset(row.series or ()),
            seniority=Seniority(row.seniority),
            weight=row.weight,
            capacity=Capacity(
                max_open=row.capacity,
                max_per_day=row.max_per_day,
                max_per_week=row.max_per_week,
                windows=tuple(CapacityWindow.model_validate(w) for w in row.capacity_windows or ()),
            ),
            working_hours=WorkingHours(**row.hours) if row.hours else None,
            out_of_office=tuple(OutOfOffice(**p) for p in row.out_of_office or ()),
            active=row.active,
            auto_routing=row.auto_routing,
            away=row.status == "away",
            accounts=frozenset(row.accounts_owned or ()),
            pools=frozenset(row.pools or ()),
            win_rate=row.win_rate,
            accepts=shared_condition(row.accepts),
            prefers=shared_condition(row.prefers),
        )
        with _REP_CACHE_LOCK:
            _REP_CACHE[key] = rep
    return rep


# Equal rep filters as one object: routing judges each distinct condition once per decision
# (``routing.flows.RepFilters``), and a team's reps often share theirs.
_CONDITIONS: LRUCache[str, Condition] = LRUCache(maxsize=5000)


def shared_condition(data: Mapping[str, Any] | None) -> Condition | None:
    """The stored rep filter ``data`` as a ``Condition``, the same object for equal filters."""
    if not data:
        return None
    key = json.dumps(data, sort_keys=True)
    with _REP_CACHE_LOCK:
        condition = _CONDITIONS.get(key)
    if condition is None:
        condition = Condition.model_validate(data)
        with _REP_CACHE_LOCK:
            _CONDITIONS[key] = condition
    return condition


def row_load(row: RepRow, now: datetime) -> RepLoad:
    """A rep's load from its own row's counters (a day's or week's count is 0 once it is over)."""
    day, week = day_and_week(now)
    return RepLoad(
        open_leads=row.open_leads,
        assigned_today=row.assigned_today if row.count_day == day else 0,
        assigned_this_week=row.assigned_week if row.count_week == week else 0,
    )


def domain_loads(
    heads: Sequence[RepHead], window: Mapping[int, tuple[int, float]] | None = None
) -> dict[RepId, RepLoad]:
    """Each rep's ``RepLoad`` from the counters on its row and (when the flow has fairness bounds) the
    leads and value received in the window."""
    window = window or {}
    loads: dict[RepId, RepLoad] = {}
    for head in heads:
        n_window, value = window.get(head.id, (0, 0.0))
        loads[rep_id(head.id)] = RepLoad(
            open_leads=head.open_leads,
            assigned_today=head.assigned_today,
            assigned_this_week=head.assigned_week,
            window_leads=n_window,
            window_value=value,
            last_assigned_at=head.last_assigned_at,
        )
    return loads


_NOT_STORED = ("lead_id", "touch_types", "touches")  # the row's own column, and what has its own table


def domain_lead(row: LeadRow, touch_types: frozenset[str] = frozenset()) -> Lead:
    """The routing lead of a stored lead; ``touch_types`` are the marketing touches that count so far."""
    fields = {k: v for k, v in row.payload.items() if k in Lead.model_fields and k not in _NOT_STORED}
    return Lead(lead_id=row.external_id, touch_types=touch_types, **fields)


def stored_payload(lead: Lead) -> dict[str, Any]:
    """What a lead row keeps of a lead: its given fields, JSON-ready (touches have their own table); no
    custom ``fields`` map when it is empty, as a lead without custom fields is stored."""
    payload = lead.model_dump(mode="json", exclude=set(_NOT_STORED), exclude_none=True)
    if not payload.get("fields"):
        payload.pop("fields", None)
    return payload


def touch_rows(lead: Lead) -> list[dict[str, Any]]:
    """The lead's touches as the store's touch rows take them."""
    return [touch.model_dump() for touch in lead.touches]


def lead_with_touches(row: LeadRow, touches: Sequence[Mapping[str, Any]]) -> Lead:
    """The stored lead with ``touches`` (stored ones, new ones), for scoring."""
    return domain_lead(row).model_copy(update={"touches": tuple(Touch.model_validate(t) for t in touches)})


def model_input(lead: Lead) -> dict[str, Any]:
    """The lead as the models read it (a mapping of the training data's fields, touches as mappings); the
    custom ``fields`` are for conditions, not features."""
    return lead.model_dump(exclude={"touch_types", "fields"})
