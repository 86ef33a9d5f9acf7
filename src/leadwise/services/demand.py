"""The demand the capacity prices plan for, from what the service knows: the active flow's ``[demand]``
(an admin's figure), its own lead log (arrivals by hour of week) and its own assignments (how long a
lead stays open), or, until it has its own, the history kept with the model (cold start)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from leadwise.learn.demand_history import DemandHistory
from leadwise.routing.demand import ArrivalRates, open_horizon
from leadwise.services.flows import FlowVersion
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database

MIN_CLOSED_FOR_HORIZON = 20  # closed offers needed before their typical duration replaces the setting


@dataclass(frozen=True)
class DemandPlan:
    """What the pricer needs: arrival rates, how long an open seat stays taken, and an admin's count of
    leads still to come for the open-lead seats (None: use the arrivals)."""

    arrivals: ArrivalRates
    open_horizon: timedelta
    horizon_source: str
    open_demand: float | None
    open_demand_note: str | None

    def describe(self) -> str:
        arrivals = (
            f"arrivals from {self.arrivals.source} ({self.arrivals.observed} leads, "
            f"{float(self.arrivals.per_hour.mean()):.1f}/h on average)"
        )
        horizon = f"a lead stays open {self.open_horizon / timedelta(hours=1):.0f} h ({self.horizon_source})"
        if self.open_demand_note is not None:
            return f"demand: {self.open_demand_note}; {arrivals}"
        return f"demand: {arrivals}; {horizon}"


def flow_demand(
    flow: FlowVersion, *, routed_since_published: int, now: datetime
) -> tuple[float | None, str | None]:
    """The leads an admin's ``[demand]`` says are still to come, and a sentence saying so; (None, None)
    without ``[demand]`` or once its horizon is over."""
    demand = flow.flow.demand
    if demand is None or flow.published_at is None:
        return None, None
    published = flow.published_at if flow.published_at.tzinfo else flow.published_at.replace(tzinfo=UTC)
    if demand.horizon is not None and now >= published + demand.horizon:
        return None, None
    remaining = max(demand.expected_leads - routed_since_published, 0)
    note = (
        f"{remaining} of the {demand.expected_leads} leads of flow version {flow.version}'s [demand] still "
        f"to come ({routed_since_published} routed since it was published)"
    )
    return float(remaining), note


def plan(
    *, db: Database, settings: Settings, flow: FlowVersion, now: datetime, history: DemandHistory | None
) -> DemandPlan | None:
    """The demand plan from the store (own log first, else the ``history`` kept with the model: its
    arrivals, and how long its deals stayed open in place of the setting); None when neither knows any
    arrival and the flow has no ``[demand]``."""
    since = now - timedelta(days=settings.demand_log_days)
    with db.read_session() as session:  # the store's datetimes come back aware, in UTC (``UTCDateTime``)
        times = repo.lead_arrivals(session=session, since=since)
        durations = repo.open_durations(session=session, since=since)
        ages = [now - offered for offered in repo.open_offer_times(session=session)]
        routed = (
            repo.leads_created_since(session=session, since=flow.published_at)
            if flow.flow.demand is not None and flow.published_at is not None
            else 0
        )
    arrivals = None
    if len(times) >= settings.demand_min_log_leads:
        arrivals = ArrivalRates.from_times(times, source="the service's own lead log", until=now)
    if arrivals is None and history is not None:
        arrivals = history.arrivals()
    open_demand, note = flow_demand(flow, routed_since_published=routed, now=now)
    if arrivals is None:
        if open_demand is None:
            return None
        arrivals = ArrivalRates.constant(0.0, source="no log yet")
    known = history.open_horizon() if history is not None else None
    horizon = open_horizon(
        durations,
        ages,
        default=known.duration if known else timedelta(hours=settings.demand_open_horizon_hours),
        default_source=known.source if known else "LEADWISE_DEMAND_OPEN_HORIZON_HOURS",
        min_closed=MIN_CLOSED_FOR_HORIZON,
    )
    return DemandPlan(
        arrivals=arrivals,
        open_horizon=max(horizon.duration, timedelta(minutes=1)),
        horizon_source=horizon.source,
        open_demand=open_demand,
        open_demand_note=note,
    )
