"""Count the capacity windows (``routing.capacity``) of reps and flow pools from the assignments table.

A rep's open leads and its UTC day and week are kept on its row (``repositories.take_lead``), so a rep in
UTC whose limits are those three costs no query. Every other window (an hour, a month, a rolling window, a
day or week in another time zone) and every pool cap is counted here: one grouped query for the reps and
one or two for the pools, from the earliest window start. Callers count inside the write transaction that
holds the reps' locks (``context.lock_context``, a claim's ``lock_rep``), so no concurrent router can add
an assignment between the count and the decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from leadwise.routing import Rep, RepLoad
from leadwise.routing.capacity import CapacityWindow
from leadwise.routing.flows import Flow
from leadwise.services import adapters
from leadwise.store import repositories as repo

_ROW_COUNTED = frozenset({"day", "week"})  # the row's counters, by UTC day and ISO week


def _kept_on_row(window: CapacityWindow, zone: ZoneInfo) -> bool:
    return window.kind == "open" or (window.key in _ROW_COUNTED and zone.key == "UTC")


def count_rep_windows(*, session: Session, reps: Sequence[Rep], loads: Mapping[str, RepLoad], now: datetime) -> None:
    """Set, in each rep's load, the windows its row does not keep."""
    wanted: dict[str, list[tuple[CapacityWindow, datetime]]] = {}
    for rep in reps:
        windows = [
            (w, start)
            for w in rep.capacity.all_windows
            if not _kept_on_row(w, rep.zone) and (start := w.start(now, rep.zone)) is not None
        ]
        if windows:
            wanted[rep.id] = windows
    if not wanted:
        return
    starts = sorted({start for windows in wanted.values() for _, start in windows})
    counts = repo.rep_counts_since(
        session=session, rep_ids=[adapters.rep_key(r) for r in wanted], starts=starts
    )
    for rep_id, windows in wanted.items():
        found = counts.get(adapters.rep_key(rep_id))
        for window, start in windows:
            loads[rep_id].set_used(window, found[starts.index(start)] if found else 0)


def pool_loads(*, session: Session, flow: Flow, now: datetime) -> dict[str, RepLoad]:
    """The load of each pool of ``flow`` with capacity windows (none: an empty mapping, no query)."""
    capped = {name: pool for name, pool in flow.pools.items() if pool.capacity_windows}
    if not capped:
        return {}
    loads = {name: RepLoad() for name in capped}
    if any(w.kind == "open" for pool in capped.values() for w in pool.capacity_windows):
        for name, n in repo.pool_open_counts(session=session, pools=list(capped)).items():
            loads[name].open_leads = n
    wanted = {
        name: [(w, start) for w in pool.capacity_windows if (start := w.start(now, pool.zone)) is not None]
        for name, pool in capped.items()
    }
    starts = sorted({start for windows in wanted.values() for _, start in windows})
    counts = repo.pool_counts_since(session=session, pools=[n for n, w in wanted.items() if w], starts=starts)
    for name, windows in wanted.items():
        found = counts.get(name)
        for window, start in windows:
            loads[name].set_used(window, found[starts.index(start)] if found else 0)
    return loads
