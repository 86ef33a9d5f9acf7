"""Pull distribution: shared pools that reps claim from, first come first served.

The service makes a claim atomic with a conditional update
(``UPDATE ... SET owner = :rep WHERE lead_id = :id AND owner IS NULL``) and uses ``check_claim`` for
the eligibility rules.
"""

from __future__ import annotations

from leadwise.routing.domain import CapacityExhausted, InactiveRep, Rep, RepLoad


def check_claim(rep: Rep, load: RepLoad) -> None:
    """A claim respects the active flag and capacity (hours do not matter: the rep is at work to claim)."""
    if not rep.active:
        raise InactiveRep(f"rep {rep.id!r} is inactive")
    blocked = load.capacity_block(rep.capacity)
    if blocked is not None:
        raise CapacityExhausted(f"rep {rep.id!r} cannot claim: {blocked}")
