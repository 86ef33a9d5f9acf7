"""Who may take a lead right now: the checks every strategy shares, each with a reason when it says no."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from leadwise.routing.domain import Exclusion, Loads, Rep, RepLoad

_EMPTY = RepLoad()


def screen(
    reps: Sequence[Rep],
    loads: Loads,
    now: datetime,
    *,
    require_hours: bool = False,
    exclude: Collection[str] = (),
) -> tuple[list[Rep], list[Exclusion]]:
    """Split ``reps`` into those who can take one more lead now and those who cannot (with why).

    Order is kept, so pool order (round-robin order) survives screening.
    """
    eligible: list[Rep] = []
    excluded: list[Exclusion] = []
    for rep in reps:
        reason = _block(rep, loads.get(rep.id, _EMPTY), now, require_hours, exclude)
        if reason is None:
            eligible.append(rep)
        else:
            excluded.append(Exclusion(rep_id=rep.id, reason=reason))
    return eligible, excluded


def _block(
    rep: Rep, load: RepLoad, now: datetime, require_hours: bool, exclude: Collection[str]
) -> str | None:
    if not rep.active:
        return "inactive"
    if rep.id in exclude:
        return "excluded: let this lead lapse or rejected it"
    if rep.away:
        return "away (set by the rep)"
    if rep.out_of_office and rep.is_out_of_office(now):
        return "out of office"
    if require_hours and not rep.in_working_hours(now):
        return "outside working hours"
    return load.capacity_block(rep.capacity)
