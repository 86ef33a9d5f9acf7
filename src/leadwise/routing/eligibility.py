"""Who may take a lead right now: the checks every strategy shares, each with a reason when it says no."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from leadwise.routing.domain import Exclusion, Loads, Rep, RepLoad

_EMPTY = RepLoad()
AWAY = "away (set by the rep)"
OUT_OF_OFFICE = "out of office"
OUTSIDE_HOURS = "outside working hours"
# The reasons a step's ``when_unavailable`` fallback may pass over (and no other).
UNAVAILABLE = frozenset({AWAY, OUT_OF_OFFICE, OUTSIDE_HOURS})


def screen(
    reps: Sequence[Rep],
    loads: Loads,
    now: datetime,
    *,
    require_hours: bool = False,
    exclude: Collection[str] = (),
    availability: bool = True,
    refusal: Callable[[Rep], str | None] | None = None,
) -> tuple[list[Rep], list[Exclusion]]:
    """Split ``reps`` into those who can take one more lead now and those who cannot (with why).

    Order is kept, so pool order (round-robin order) survives screening. ``availability=False`` passes
    over away, out of office and working hours (a step's ``when_unavailable`` fallback) and nothing else.
    ``refusal``: why a rep's own filter refuses the lead (``RepFilters.refusal``), None when it takes it.
    """
    eligible: list[Rep] = []
    excluded: list[Exclusion] = []
    for rep in reps:
        reason = _block(rep, loads.get(rep.id, _EMPTY), now, require_hours, exclude, availability)
        if reason is None and refusal is not None:
            reason = refusal(rep)
        if reason is None:
            eligible.append(rep)
        else:
            excluded.append(Exclusion(rep_id=rep.id, reason=reason))
    return eligible, excluded


def _block(
    rep: Rep, load: RepLoad, now: datetime, require_hours: bool, exclude: Collection[str], availability: bool
) -> str | None:
    if not rep.active:
        return "inactive"
    if not rep.auto_routing:
        return "auto routing off: manual assignment only"
    if rep.id in exclude:
        return "excluded: let this lead lapse or rejected it"
    if not availability:
        return load.capacity_block(rep.capacity)
    if rep.away:
        return AWAY
    if rep.out_of_office and rep.is_out_of_office(now):
        return OUT_OF_OFFICE
    if require_hours and not rep.in_working_hours(now):
        return OUTSIDE_HOURS
    return load.capacity_block(rep.capacity)
