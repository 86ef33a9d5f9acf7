"""The capacity prices λ of the ``optimised`` strategy, keyed by ``RepId``, the same for every worker and
replica.

Every scored lead's P(win) row joins the worker's sample of recent leads. A background job calls ``sync``
on a schedule: the one worker holding the lease in ``capacity_prices`` re-solves the assignment LP
(``routing.CapacityPricer``) on its sample when the pricer's schedule says so, against each rep's remaining
capacity and the demand expected until it frees up (``services.demand``), and publishes the prices there;
every other worker adopts what was published. Each worker sees a share of the same traffic mix, so the
holder's sample stands for all. Requests only read the last prices: the LP never runs on the request path.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from leadwise import timekeeping
from leadwise.routing import CapacityPricer, Rep, Scores
from leadwise.routing.demand import ArrivalRates, scarcity
from leadwise.routing.domain import RepId
from leadwise.services import adapters, capacity, demand
from leadwise.services.flows import FlowVersion
from leadwise.services.models import LoadedModels
from leadwise.services.scoring import domain_scores, score_leads
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import utcnow

log = logging.getLogger(__name__)

BOOK = "optimised"  # the row of ``capacity_prices`` this service's workers share


def worker_name() -> str:
    """Who holds the lease, as an operator reads it: host, process, and a nonce for a reused pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def _sample_row(scores: Scores) -> tuple[dict[RepId, float], float]:
    """A scored lead as the pricer's sample keeps it: P(win) by rep, and the deal's value (1 unknown)."""
    value = float(scores.deal_value if scores.deal_value is not None else 1.0)
    return dict(zip(scores.rep_ids, scores.p_win.tolist(), strict=True)), value


class PriceBook:
    def __init__(
        self,
        *,
        window: int = 500,
        horizon: timedelta = timedelta(hours=24),
        lease_seconds: float = 30.0,
        worker: str | None = None,
    ) -> None:
        self.window = window
        self.horizon = horizon
        self.lease_seconds = lease_seconds  # wall seconds
        self._last_observed = -float("inf")  # time.monotonic() of the last lead seen
        self.worker = worker or worker_name()
        self.solved_by: str | None = None
        self.leading = False
        self._sample: deque[tuple[dict[RepId, float], float]] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._pricer: CapacityPricer | None = None
        self._rep_ids: tuple[RepId, ...] = ()
        self.observed = 0
        self.prices: dict[RepId, float] | None = None  # None before the first solve
        self.solved_at: datetime | None = None
        self.sample_size = 0
        self.demand_note = ""
        self._history_key: tuple[object, ...] | None = None  # (model version, reps) the history was scored for
        self._history: list[tuple[dict[RepId, float], float]] = []

    def observe(self, scores: Scores) -> None:
        """Add a routed lead's scores to the sample (nothing when it had no rep scores)."""
        if not scores.has_rep_scores:
            return
        with self._lock:
            self._sample.append(_sample_row(scores))
            self.observed += 1
            self._last_observed = time.monotonic()

    def sync(
        self,
        *,
        db: Database,
        objective: str,
        settings: Settings | None = None,
        flow: FlowVersion | None = None,
        models: LoadedModels | None = None,
    ) -> bool:
        """One tick of the shared schedule: a worker that sees traffic takes or renews the lease and,
        holding it, re-solves when due and publishes; every other adopts the published prices. True when
        this worker's prices changed.

        Only a worker that saw a lead within the lease asks for it: a worker that gets no traffic (one
        keep-alive client pins all requests to another worker; a replica behind a drained balancer) has no
        sample to solve on, and lets the lease pass to one that has.
        """
        now = utcnow()
        with self._lock:
            seeing_traffic = time.monotonic() - self._last_observed < self.lease_seconds
        leading = False
        if seeing_traffic:
            with db.write_session() as session:
                leading = repo.take_pricer_lease(
                    session=session,
                    name=BOOK,
                    holder=self.worker,
                    now=now,
                    until=now + timekeeping.seconds(self.lease_seconds),
                )
        if leading != self.leading:
            log.info(
                "worker %s %s the capacity prices",
                self.worker,
                "now solves" if leading else "no longer solves",
            )
        self.leading = leading
        if not self.leading:
            return self._adopt(db)
        if self.prices is None:  # a new holder goes on from the last published prices
            self._adopt(db)
        started = time.perf_counter()
        if not self.resolve_if_due(db=db, objective=objective, settings=settings, flow=flow, models=models):
            return False
        log.debug(
            "capacity prices solved in %.3f s on %d leads", time.perf_counter() - started, self.sample_size
        )
        assert self.prices is not None and self.solved_at is not None
        with db.write_session() as session:
            repo.store_prices(
                session=session,
                name=BOOK,
                holder=self.worker,
                prices=self.prices,
                solved_at=self.solved_at,
                sample_size=self.sample_size,
                note=self.demand_note,
            )
        return True

    def _adopt(self, db: Database) -> bool:
        with db.read_session() as session:
            row = repo.stored_prices(session=session, name=BOOK)
        if row is None or row.prices is None or row.solved_at == self.solved_at:
            return False
        self.prices = {str(rep): float(price) for rep, price in row.prices.items()}
        self.solved_at, self.solved_by = row.solved_at, row.solved_by
        self.sample_size, self.demand_note = row.sample_size, row.note or ""
        return True

    def resolve_if_due(
        self,
        *,
        db: Database,
        objective: str,
        settings: Settings | None = None,
        flow: FlowVersion | None = None,
        models: LoadedModels | None = None,
    ) -> bool:
        """Re-solve when the pricer's schedule says so; True when prices changed. With ``settings`` and
        ``flow`` each rep's remaining capacity is weighed against the leads expected until it frees up
        (``services.demand``); without, against the leads of the last ``horizon``.

        Cold start: while the worker has seen fewer leads than its window, the served ``models``' history
        (``learn.demand_history``) fills the sample with its scored leads, and the first solve need not
        wait for the pricer's first leads."""
        with self._lock:
            own = list(self._sample)
            observed = self.observed
        now = utcnow()
        with db.read_session() as session:
            rows = repo.list_reps(session=session, active_only=True)
            reps = [adapters.domain_rep(r) for r in rows]
            loads = {rep.id: adapters.row_load(row, now) for rep, row in zip(reps, rows, strict=True)}
            capacity.count_rep_windows(session=session, reps=reps, loads=loads, now=now)
            recent = repo.leads_since(session=session, since=now - self.horizon)
        rep_ids = tuple(rep.id for rep in reps)
        if rep_ids != self._rep_ids or self._pricer is None:
            self._rep_ids = rep_ids
            self._pricer = CapacityPricer(list(rep_ids), window=self.window)
        history = models.models.demand_history if models is not None else None
        borrowed = self._history_rows(models, reps)[: max(self.window - len(own), 0)]
        sample = own + borrowed
        first_from_history = self._pricer.solved_at_decision is None and bool(borrowed)
        if not sample or not (self._pricer.due(observed) or first_from_history):
            return False
        values = np.array([[p.get(rid, 0.0) for rid in rep_ids] for p, _ in sample], dtype=float)
        if objective == "revenue":
            values *= np.array([value for _, value in sample])[:, None]
        plan = (
            demand.plan(db=db, settings=settings, flow=flow, now=now, history=history)
            if settings is not None and flow is not None
            else None
        )
        if plan is not None:
            seats = scarcity(
                reps, loads, now, arrivals=plan.arrivals, open_horizon=plan.open_horizon, open_demand=plan.open_demand
            )
            self.prices = self._pricer.resolve_scaled(values, seats.scaled_room(len(values)), decisions=observed)
            self.demand_note = f"{plan.describe()}; {self._mix_note(len(own), len(borrowed))}"
        else:
            # No demand model: the leads of the last ``horizon`` stand for those to come, at a flat rate;
            # an open-lead seat frees within the horizon, a period or rolling window on its own schedule.
            expected = max(float(recent), float(len(sample)))
            flat = ArrivalRates.constant(expected / (self.horizon / timedelta(hours=1)), source="recent leads")
            seats = scarcity(reps, loads, now, arrivals=flat, open_horizon=self.horizon, open_demand=expected)
            self.prices = self._pricer.resolve_scaled(values, seats.scaled_room(len(values)), decisions=observed)
            self.demand_note = f"demand: the {recent} leads assigned in the last {self.horizon} (no demand model)"
        self.solved_at, self.solved_by = now, self.worker
        self.sample_size = len(values)
        return True

    def _history_rows(self, models: LoadedModels | None, reps: list[Rep]) -> list[tuple[dict[RepId, float], float]]:
        """The history's lead sample scored by the served models against the current reps (computed once
        per model version and set of reps: off the request path, on the pricer's thread)."""
        history = models.models.demand_history if models is not None else None
        if models is None or history is None or not history.leads:
            return []
        key = (models.version, tuple((r.id, r.name) for r in reps))
        if self._history_key != key:
            names = [adapters.RepName(r.id, r.name) for r in reps]
            try:
                figures = score_leads(loaded=models, leads=history.leads, rep_names=[r.name for r in reps])
            except Exception:  # a history the model cannot score: no cold start, the service's own leads will do
                log.exception("the history kept with model %s could not be scored", models.version)
                figures = []
            rows = []
            for figure in figures:
                scores = domain_scores(figure, names)
                if scores.has_rep_scores:
                    rows.append(_sample_row(scores))
            self._history_key, self._history = key, rows
        return self._history

    @staticmethod
    def _mix_note(own: int, borrowed: int) -> str:
        if not borrowed:
            return f"lead mix: the service's own {own} recent leads"
        return f"lead mix: {own} of the service's own leads and {borrowed} from the training history kept with the model"

    def explain(self) -> str | None:
        """One sentence for an ``optimised`` decision: when the prices it paid were solved, on what."""
        if self.prices is None or self.solved_at is None:
            return None
        return (
            f"capacity prices solved at {self.solved_at:%Y-%m-%d %H:%M:%S} UTC by worker {self.solved_by} on "
            f"{self.sample_size} recent leads; {self.demand_note}"
        )

    def status(self) -> dict[str, Any]:
        prices = self.prices
        return {
            "observed_leads": self.observed,
            "solved_at": self.solved_at.isoformat() if self.solved_at else None,
            "solved_by": self.solved_by,
            "this_worker": self.worker,
            "this_worker_solves": self.leading,
            "priced_reps": sum(1 for v in (prices or {}).values() if v > 0),
            "demand": self.demand_note or None,
        }
