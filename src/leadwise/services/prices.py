"""One worker's capacity prices λ for the ``optimised`` strategy, keyed by ``RepId``.

Every scored lead's P(win) row joins a sample of recent leads; a background job asks ``resolve_if_due``
to re-solve the assignment LP (``routing.CapacityPricer``) on that sample with each rep's remaining
capacity, on the pricer's own schedule. Requests only read the last prices, so the LP never runs on the
request path. Prices are per worker: each sees its own share of the traffic, which has the same mix.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from leadwise.routing import CapacityPricer, Scores
from leadwise.routing.domain import RepId
from leadwise.services import adapters
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import utcnow


class PriceBook:
    def __init__(self, *, window: int = 500, horizon: timedelta = timedelta(hours=24)) -> None:
        self.window = window
        self.horizon = horizon
        self._sample: deque[tuple[dict[RepId, float], float]] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._pricer: CapacityPricer | None = None
        self._rep_ids: tuple[RepId, ...] = ()
        self.observed = 0
        self.prices: dict[RepId, float] | None = None  # None before the first solve
        self.solved_at: datetime | None = None

    def observe(self, scores: Scores) -> None:
        """Add a routed lead's scores to the sample (nothing when it had no rep scores)."""
        if not scores.has_rep_scores:
            return
        row = dict(zip(scores.rep_ids, scores.p_win.tolist(), strict=True))
        value = float(scores.deal_value if scores.deal_value is not None else 1.0)
        with self._lock:
            self._sample.append((row, value))
            self.observed += 1

    def resolve_if_due(self, *, db: Database, objective: str) -> bool:
        """Re-solve when the pricer's schedule says so; True when prices changed."""
        with self._lock:
            sample = list(self._sample)
            observed = self.observed
        with db.read_session() as session:
            reps = [
                (adapters.rep_id(r.id), r.capacity, r.open_leads)
                for r in repo.list_reps(session=session, active_only=True)
            ]
            expected = repo.leads_since(session=session, since=utcnow() - self.horizon)
        rep_ids = tuple(rid for rid, _, _ in reps)
        if rep_ids != self._rep_ids or self._pricer is None:
            self._rep_ids = rep_ids
            self._pricer = CapacityPricer(list(rep_ids), window=self.window)
        if not sample or not self._pricer.due(observed):
            return False
        values = np.array([[p.get(rid, 0.0) for rid in rep_ids] for p, _ in sample], dtype=float)
        if objective == "revenue":
            values *= np.array([value for _, value in sample])[:, None]
        remaining = np.array([max(cap - used, 0) for _, cap, used in reps], dtype=float)
        self.prices = self._pricer.resolve(
            values, remaining, max(float(expected), float(len(sample))), decisions=observed
        )
        self.solved_at = utcnow()
        return True

    def status(self) -> dict[str, Any]:
        prices = self.prices
        return {
            "observed_leads": self.observed,
            "solved_at": self.solved_at.isoformat() if self.solved_at else None,
            "priced_reps": sum(1 for v in (prices or {}).values() if v > 0),
        }
