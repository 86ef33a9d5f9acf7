"""Prometheus metrics: request latency, decisions by strategy, queue sizes and the model version.

With several uvicorn workers ``leadwise serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` so counters and
histograms are summed across processes; queue sizes are read from the database at scrape time, so
they are right whichever worker answers. Counters follow the services' events (``subscribe``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from leadwise.services import events, health
from leadwise.services.models import ModelHolder
from leadwise.store.db import Database

REQUEST_LATENCY = Histogram(
    "leadwise_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DECISIONS = Counter(
    "leadwise_decisions_total", "Routing decisions by strategy and outcome", ["strategy", "outcome", "source"]
)
EXPIRED = Counter("leadwise_expired_offers_total", "Offers expired by the SLA sweep")
ROUTE_BATCH = Histogram(
    "leadwise_route_batch_size",
    "POST /v1/route requests routed together in one scoring call and one transaction (services.route_queue)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


def _count_decision(event: events.DecisionStored) -> None:
    DECISIONS.labels(event.strategy or "none", event.outcome, event.source).inc()


def _count_expired(event: events.OffersExpired) -> None:
    EXPIRED.inc(event.count)


def _observe_batch(event: events.LeadsRoutedTogether) -> None:
    ROUTE_BATCH.observe(event.size)


def subscribe() -> None:
    """Count the services' events (idempotent: blinker connects a receiver once)."""
    events.decision_stored.connect(_count_decision, weak=False)
    events.offers_expired.connect(_count_expired, weak=False)
    events.leads_routed_together.connect(_observe_batch, weak=False)


class DatabaseCollector(Collector):
    """Figures read from the database (the same for every worker) and this worker's model."""

    def __init__(self, db: Database, models: ModelHolder) -> None:
        self.db, self.models = db, models

    def collect(self) -> Iterable[Metric]:
        queues = GaugeMetricFamily("leadwise_queue_size", "Leads waiting in a queue", labels=["queue"])
        states = GaugeMetricFamily("leadwise_assignments", "Assignments by state", labels=["state"])
        for queue, n in health.queue_sizes(self.db).items():
            queues.add_metric([queue], n)
        for state, n in health.assignment_states(self.db).items():
            states.add_metric([state], n)
        model = GaugeMetricFamily(
            "leadwise_model_info", "1 for the model version this worker serves", labels=["version", "mode"]
        )
        status = self.models.status()
        model.add_metric([status["model_version"] or "none", status["mode"]], 1)
        return [queues, states, model]


def render(db: Database, models: ModelHolder) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(DatabaseCollector(db, models))
    return output + generate_latest(extra), CONTENT_TYPE_LATEST


class LatencyMiddleware:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status["code"])).observe(
                time.perf_counter() - start
            )
