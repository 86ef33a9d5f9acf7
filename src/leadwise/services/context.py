"""Lock the context: what a decision reads from the database, inside the write transaction that stores
it: the active reps row-locked with their loads, the active flow version and the round-robin state.

Outside any transaction, ``active_reps`` is the short-lived list the scoring stage scores against.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from cachetools import TTLCache
from sqlalchemy.orm import Session

from leadwise.routing import Decision, Rep, RepLoad, Scores
from leadwise.routing.batch import record
from leadwise.routing.domain import RepId
from leadwise.services import adapters, capacity
from leadwise.services.flows import FLOW_NAME, FlowVersion, current_flow, fairness_window
from leadwise.services.prices import PriceBook
from leadwise.services.unit_of_work import UnitOfWork
from leadwise.store import repositories as repo
from leadwise.store.db import Database

# Ids and names of the active reps, for scoring before the write transaction (and for /v1/score), cached
# per process for a moment: a rep added less than this ago is routed without a model score ("no model
# score for rep") and left out of /v1/score for as long.
ACTIVE_REPS_TTL_SECONDS = 1.0
_active_reps: TTLCache[str, list[adapters.RepName]] = TTLCache(maxsize=64, ttl=ACTIVE_REPS_TTL_SECONDS)
_active_reps_lock = threading.Lock()


def active_reps(db: Database) -> list[adapters.RepName]:
    """The active reps' ids and names (the models know reps by name), cached for a second."""
    hit = _active_reps.get(db.url)
    if hit is not None:
        return hit
    with db.read_session() as session:
        reps = [adapters.RepName(str(r.id), r.name) for r in repo.list_reps(session=session, active_only=True)]
    with _active_reps_lock:
        _active_reps[db.url] = reps
    return reps


@dataclass
class RoutingContext:
    """What the engine needs from the locked database state, read once per transaction; several leads
    decided in a row share it, each decision counted into ``loads`` for the next."""

    flow: FlowVersion
    reps: list[Rep]
    loads: dict[RepId, RepLoad]
    names: dict[RepId, str]
    state: repo.DbRoutingState  # round-robin pointers and the like
    pool_loads: dict[str, RepLoad] = field(default_factory=dict)  # the flow's pools with capacity windows

    def prices(self, book: PriceBook | None, scores: Scores) -> dict[RepId, float] | None:
        """The capacity prices of the ``optimised`` strategy; None without a book or rep scores."""
        if book is None or not scores.has_rep_scores:
            return None
        return book.prices

    def count(self, decision: Decision, at: datetime, value: float = 0.0) -> None:
        """Count a lead just given to a rep (as the store's counters just did), and to its capped pool."""
        record(self.loads, self.pool_loads, decision, at, value)


def lock_context(unit: UnitOfWork) -> RoutingContext:
    return read_context(unit.session, unit.now)


def read_context(
    session: Session, now: datetime, *, lock: bool = True, flow: FlowVersion | None = None
) -> RoutingContext:
    """The context of a decision at ``now``: in a write transaction with the reps locked, or (``lock``
    False) as a plain read for a preview; ``flow`` instead of the active version (a draft)."""
    heads = repo.lock_active_reps(session=session, now=now, lock=lock)
    flow = flow if flow is not None else current_flow(session, FLOW_NAME)
    window = fairness_window(flow.flow)
    counts = repo.window_counts(session=session, now=now, window=window) if window is not None else None
    reps = adapters.domain_reps(session, heads)
    loads = adapters.domain_loads(heads, counts)
    capacity.count_rep_windows(session=session, reps=reps, loads=loads, now=now)
    return RoutingContext(
        flow=flow,
        reps=reps,
        loads=loads,
        names={adapters.rep_id(h.id): h.name for h in heads},
        state=repo.DbRoutingState(session),
        pool_loads=capacity.pool_loads(session=session, flow=flow.flow, now=now),
    )
