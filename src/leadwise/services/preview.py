"""Flow preview: the decision a draft flow (or the active one) would make for a lead, with its
explanation, decided on the live reps, loads and round-robin pointers, and nothing of it kept.

The pipeline is the request path's (score, read the context, decide) without its writes: the reps are
read, not locked; the routing state is an overlay that keeps the strategy's pointer moves to itself;
no lead, assignment or capacity is stored or taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadwise.routing import Decision, Lead, ManualClock
from leadwise.routing import route_lead as engine_route
from leadwise.routing.state import OverlayState
from leadwise.services import flows
from leadwise.services.catalogue import complete_leads
from leadwise.services.context import active_reps, read_context
from leadwise.services.models import ModelHolder
from leadwise.services.persist import QUEUE_OF_OUTCOME, offer_figures
from leadwise.services.prices import PriceBook
from leadwise.services.scoring import score_for_routing
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.models import utcnow


@dataclass(frozen=True)
class Preview:
    decision: Decision
    flow: flows.FlowVersion  # ``id`` and ``version`` None for a draft
    rep_name: str | None
    queue: str | None
    p_win: float | None
    expected_value: float | None


def preview(
    *,
    db: Database,
    settings: Settings,
    models: ModelHolder,
    lead: Lead,
    source: str | None,
    fmt: flows.FlowFormat,
    prices: PriceBook | None = None,
) -> Preview:
    """What routing ``lead`` would decide now under the draft ``source`` (``InvalidFlow`` names the line)
    or, without one, under the active flow. Stores nothing, takes no capacity, moves no pointer."""
    draft = None
    if source is not None:
        flow, _ = flows.parse_definition(source, fmt=fmt, source="draft flow")
        draft = flows.FlowVersion(id=None, version=None, flow=flow)
    (lead,) = complete_leads(models=models, settings=settings, leads=[lead])
    (scored,) = score_for_routing(models=models, leads=[lead], reps=active_reps(db))
    now = utcnow()
    with db.read_session() as session:
        ctx = read_context(session, now, lock=False, flow=draft)
        decision = engine_route(
            lead=lead,
            reps=ctx.reps,
            loads=ctx.loads,
            flow=ctx.flow.flow,
            scores=scored.scores,
            state=OverlayState(ctx.state),
            clock=ManualClock(now),
            prices=ctx.prices(prices, scored.scores),
        )
    p_win, expected_value = offer_figures(decision.rep_id, scored.scores)
    return Preview(
        decision=decision,
        flow=ctx.flow,
        rep_name=ctx.names.get(decision.rep_id) if decision.rep_id is not None else None,
        queue=None if decision.rep_id is not None else QUEUE_OF_OUTCOME.get(decision.outcome),
        p_win=p_win,
        expected_value=expected_value,
    )
