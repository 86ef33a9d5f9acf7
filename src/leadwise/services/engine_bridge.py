"""Where the service meets the routing engine (``leadwise.routing``): stored flow versions as ``Flow``
objects, the default flow seeded into an empty database, and the per-worker capacity prices of the
``optimised`` strategy. Deciding itself is ``leadwise.routing.route_lead``; nothing here decides.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadwise.routing import CapacityPricer, Flow, InvalidFlow, parse_flow
from leadwise.routing.flows import BUNDLED_FLOWS_DIR
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import RepRow, RoutingFlowRow, utcnow

log = logging.getLogger(__name__)

FLOW_NAME = "default"  # the flow routing uses; other names can be published and kept, not routed by
FlowFormat = Literal["toml", "yaml"]

# Used only while a database has no flow at all (seeding failed): every rep, load balancing.
FALLBACK_FLOW = Flow.single("load_balancing")


@dataclass(frozen=True)
class FlowVersion:
    id: int | None
    version: int | None
    flow: Flow


def parse_definition(text: str, *, fmt: FlowFormat, source: str) -> tuple[Flow, dict[str, Any]]:
    """Validate a flow file's text with the routing package's loader (``InvalidFlow`` names the line) and
    build what is stored: the text as written and the validated flow."""
    flow = parse_flow(text, fmt=fmt, source=source)
    return flow, {"format": fmt, "source": text, "flow": flow.model_dump(mode="json")}


# Stored versions never change (a change is a new version), so a parsed flow is cached by row id and
# creation time (the time tells apart two databases whose ids coincide, e.g. in tests).
_FLOWS: dict[tuple[int, datetime], Flow] = {}
_FLOWS_LOCK = threading.Lock()


def flow_of(row: RoutingFlowRow | None) -> FlowVersion:
    if row is None:
        return FlowVersion(id=None, version=None, flow=FALLBACK_FLOW)
    key = (row.id, row.created_at)
    flow = _FLOWS.get(key)
    if flow is None:
        flow = Flow.model_validate(row.definition["flow"])
        with _FLOWS_LOCK:
            if len(_FLOWS) > 1000:
                _FLOWS.clear()
            _FLOWS[key] = flow
    return FlowVersion(id=row.id, version=row.version, flow=flow)


def current_flow(session: Session, name: str = FLOW_NAME) -> FlowVersion:
    """The active version of flow ``name``: one small query, the parsed flow from the cache."""
    head = repo.active_flow_head(session=session, name=name)
    if head is None:
        return FlowVersion(id=None, version=None, flow=FALLBACK_FLOW)
    flow = _FLOWS.get((head[0], head[2]))
    if flow is not None:
        return FlowVersion(id=head[0], version=head[1], flow=flow)
    return flow_of(session.get(RoutingFlowRow, head[0]))


def fairness_window(flow: Flow) -> timedelta | None:
    """The longest rolling window any fairness bound of ``flow`` looks at; None when it has no bound."""
    bounds = [b for b in (flow.fairness, *(s.fairness for s in flow.steps)) if b is not None and b.active]
    return max((b.window for b in bounds), default=None)


def default_flow_file(settings: Settings) -> Path:
    return settings.flow_file or BUNDLED_FLOWS_DIR / "default.toml"


def ensure_default_flow(*, db: Database, settings: Settings) -> int | None:
    """Publish the flow file as version 1 of the routing flow when the database has none; returns the
    version published (None when one existed). Several workers starting at once: one insert wins."""
    with db.read_session() as session:
        if repo.count_flows(session=session, name=FLOW_NAME) > 0:
            return None
    path = default_flow_file(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("no flow seeded: cannot read %s (%s); routing uses load balancing", path, exc.strerror)
        return None
    fmt: FlowFormat = "yaml" if path.suffix.lower() in {".yaml", ".yml"} else "toml"
    try:
        _, definition = parse_definition(text, fmt=fmt, source=str(path))
    except InvalidFlow as exc:
        log.error("no flow seeded: %s", exc)
        return None
    try:
        with db.write_session() as session:
            if repo.count_flows(session=session, name=FLOW_NAME) > 0:
                return None
            row = repo.publish_flow(session=session, name=FLOW_NAME, definition=definition)
            version = row.version
    except IntegrityError:  # another worker seeded it between our check and insert
        return None
    log.info("seeded routing flow %r version %s from %s", FLOW_NAME, version, path)
    return version


# ------------------------------------------------------------------------------- capacity prices


class PriceBook:
    """One worker's capacity prices λ for the ``optimised`` strategy.

    Every scored lead's P(win) row joins a sample of recent leads; a background loop asks
    ``resolve_if_due`` to re-solve the assignment LP (``routing.CapacityPricer``) on that sample with
    each rep's remaining capacity, on the pricer's own schedule. Requests only read the last prices,
    so the LP never runs on the request path. Prices are per worker: each sees its own share of the
    traffic, which has the same mix.
    """

    def __init__(self, *, window: int = 500, horizon: timedelta = timedelta(hours=24)) -> None:
        self.window = window
        self.horizon = horizon
        self._sample: deque[tuple[dict[str, float], float]] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._pricer: CapacityPricer | None = None
        self._names: tuple[str, ...] = ()
        self.observed = 0
        self.prices_by_name: dict[str, float] | None = None
        self.solved_at: datetime | None = None

    def observe(self, rep_names: Sequence[str], p_win: np.ndarray, deal_value: float) -> None:
        with self._lock:
            self._sample.append((dict(zip(rep_names, p_win.tolist(), strict=True)), float(deal_value)))
            self.observed += 1

    def prices_for(self, ids_by_name: Mapping[str, str]) -> dict[str, float] | None:
        """The last prices keyed by domain rep id; None before the first solve."""
        prices = self.prices_by_name
        if prices is None:
            return None
        return {rid: prices[name] for name, rid in ids_by_name.items() if name in prices}

    def resolve_if_due(self, *, db: Database, objective: str) -> bool:
        """Re-solve when the pricer's schedule says so; True when prices changed."""
        with self._lock:
            sample = list(self._sample)
            observed = self.observed
        with db.read_session() as session:
            reps = [
                (r.name, r.capacity, r.open_leads)
                for r in session.query(RepRow).filter(RepRow.active.is_(True)).order_by(RepRow.id)
            ]
            expected = repo.leads_since(session=session, since=utcnow() - self.horizon)
        names = tuple(name for name, _, _ in reps)
        if names != self._names or self._pricer is None:
            self._names = names
            self._pricer = CapacityPricer(list(names), window=self.window)
        if not sample or not self._pricer.due(observed):
            return False
        values = np.array([[p.get(name, 0.0) for name in names] for p, _ in sample], dtype=float)
        if objective == "revenue":
            values *= np.array([value for _, value in sample])[:, None]
        remaining = np.array([max(cap - used, 0) for _, cap, used in reps], dtype=float)
        self.prices_by_name = self._pricer.resolve(
            values, remaining, max(float(expected), float(len(sample))), decisions=observed
        )
        self.solved_at = utcnow()
        return True

    def status(self) -> dict[str, Any]:
        prices = self.prices_by_name
        return {
            "observed_leads": self.observed,
            "solved_at": self.solved_at.isoformat() if self.solved_at else None,
            "priced_reps": sum(1 for v in (prices or {}).values() if v > 0),
        }
