"""The FastAPI application factory. Nothing happens at import time: the lifespan connects the
database, checks the schema, loads the champion models and starts the two background loops
(model polling and the SLA sweep)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from leadwise import timekeeping
from leadwise.api import metrics
from leadwise.api.console import install_console
from leadwise.api.deps import new_key_cache
from leadwise.api.docs import install_docs
from leadwise.api.errors import install_error_handlers
from leadwise.api.limits import BodySizeLimit
from leadwise.services.decisions import route_leads
from leadwise.services.flows import active_flow_version, ensure_default_flow
from leadwise.services.health import migrate_if_behind
from leadwise.services.model_report import MonitorCache
from leadwise.services.models import ModelHolder
from leadwise.services.prices import PriceBook
from leadwise.services.route_queue import RouteQueue
from leadwise.services.sla import sweep_expired
from leadwise.services.webhooks import WebhookWorker, write_outbox_in_transactions
from leadwise.services.whatif import WhatIfJobs, default_directory
from leadwise.settings import Settings
from leadwise.store.db import Database

log = logging.getLogger(__name__)
WAL_BACKSTOP_PAGES = 10_000


async def _every(
    seconds: float, job: Callable[[], object], name: str, background: anyio.CapacityLimiter
) -> None:
    """Run ``job`` in a thread every ``seconds``; a failing run is logged and the loop goes on."""
    while True:
        await asyncio.sleep(seconds)
        try:
            # Its own thread: the request threads (see ``request_threads``) stay free for requests.
            await anyio.to_thread.run_sync(job, limiter=background)
        except Exception:
            log.exception("background job %s failed", name)


def keep_out_of_collections() -> None:
    """Take what is alive now (the models, the libraries: ~400,000 objects) out of the cyclic garbage
    collector's sight: a full collection walked it all and paused every request for ~150 ms. Called at
    start and after a model reload, so the old models' cycles are collected first."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def reload_models(models: ModelHolder, *, force: bool = False) -> bool:
    """``models.reload``, then ``keep_out_of_collections`` when the models changed."""
    changed = models.reload(force=force)
    if changed:
        keep_out_of_collections()
    return changed


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    models: ModelHolder | None = None,
    load_models: bool | None = None,
) -> FastAPI:
    """Build the app. ``db`` and ``models`` may be given (tests); by default they come from ``settings``.
    ``load_models`` (default: ``settings.serve_models``) False never asks the registry: rules-only."""
    if load_models is None:
        load_models = settings.serve_models
    timekeeping.use(
        timekeeping.from_settings(settings.clock_start, settings.clock_speed, settings.clock_anchor)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Blocking endpoints run in anyio's thread pool, 40 threads by default. Scoring and routing a lead
        # is CPU work under the GIL with a write transaction in the middle: run by several threads of a
        # worker at once they only take turns on the GIL, and a thread holding the database's writer lock
        # waits its turn between statements (up to the 5 ms switch interval each), holding up the other
        # workers' writers. With one thread per worker (2 workers, 2 cores, SQLite, 40 reps, model) the
        # benchmark measured /v1/route at 103 instead of 76 requests/s, and its p99 at ~75 requests/s at
        # 86 instead of 657 ms. More threads can pay off when the database is remote (waits overlap).
        # POST /v1/route does not use this pool: its leads go to the worker's routing thread (RouteQueue).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        background = anyio.CapacityLimiter(1)  # the schedules below, one at a time
        checkpoint_in_background = settings.sqlite_checkpoint_seconds > 0
        database = db or Database.connect(
            settings.database_url,
            busy_timeout_ms=settings.db_busy_timeout_ms,
            # A backstop, should the background checkpoint fall behind: 10,000 pages is ~40 MB of log.
            wal_autocheckpoint=WAL_BACKSTOP_PAGES if checkpoint_in_background else None,
        )
        await run_in_threadpool(migrate_if_behind, database)
        if settings.enable_bench_floor:  # the benchmark's own table, outside the service's schema
            from leadwise.api.routers.bench import create_floor_table

            await run_in_threadpool(create_floor_table, database.engine)
        # ``leadwise serve`` seeds the flow once before starting workers; this covers an app run another way.
        await run_in_threadpool(lambda: ensure_default_flow(db=database, settings=settings))
        holder = models or ModelHolder(settings)
        # The lease outlives a few missed ticks, so one slow solve does not hand the prices to another worker.
        prices = PriceBook(lease_seconds=max(3 * settings.pricer_seconds, 5.0))
        app.state.db, app.state.models, app.state.prices = database, holder, prices
        if load_models and holder.current is None:
            await run_in_threadpool(holder.reload)
        router = RouteQueue(
            lambda leads: route_leads(
                db=database, settings=settings, models=holder, leads=leads, prices=prices
            ),
            max_batch=settings.route_batch_max,
            linger=settings.route_linger_ms / 1000,
        )
        router.start()
        app.state.router = router
        write_outbox_in_transactions()
        deliverer = WebhookWorker(db=database, settings=settings) if settings.webhook_poll_seconds > 0 else None
        if deliverer is not None:
            deliverer.start()
        keep_out_of_collections()
        tasks: list[asyncio.Task[None]] = []
        if settings.pricer_seconds > 0:

            def reprice() -> None:
                version = active_flow_version(database)
                loaded = holder.current
                if any(step.strategy == "optimised" for step in version.flow.steps) and loaded is not None:
                    prices.sync(
                        db=database,
                        objective=version.flow.objective,
                        settings=settings,
                        flow=version,
                        models=loaded,
                    )

            tasks.append(
                asyncio.create_task(_every(settings.pricer_seconds, reprice, "capacity-prices", background))
            )
        if load_models and settings.model_poll_seconds > 0:
            tasks.append(
                asyncio.create_task(
                    _every(
                        settings.model_poll_seconds, lambda: reload_models(holder), "model-poll", background
                    )
                )
            )
        if checkpoint_in_background and database.dialect == "sqlite":
            # Its own thread: a long SLA sweep must not hold the checkpoint back.
            tasks.append(
                asyncio.create_task(
                    _every(
                        settings.sqlite_checkpoint_seconds,
                        database.checkpoint,
                        "wal-checkpoint",
                        anyio.CapacityLimiter(1),
                    )
                )
            )
        if settings.sla_sweep_seconds > 0:
            sweep: Callable[[], Awaitable[object] | object] = lambda: sweep_expired(  # noqa: E731
                db=database, settings=settings, models=holder, prices=prices
            )
            tasks.append(
                asyncio.create_task(_every(settings.sla_sweep_seconds, sweep, "sla-sweep", background))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await run_in_threadpool(router.stop)
            if deliverer is not None:
                await run_in_threadpool(deliverer.stop)
            if db is None:
                database.dispose()

    app = FastAPI(
        title="leadwise",
        version="1",
        summary="Lead scoring and routing for B2B sales teams",
        description=(
            "Score leads with the champion models and route them to reps. Authenticate with an API key "
            "(`Authorization: Bearer <key>` or `X-API-Key`); roles: admin, manager, rep, integration."
        ),
        lifespan=lifespan,
        docs_url=None,  # served from the package's own files (api.docs), not a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.settings = settings
    app.state.monitor = MonitorCache(settings.monitor_seconds)
    app.state.key_cache = new_key_cache()
    app.state.whatif = WhatIfJobs(settings.whatif_dir or default_directory())
    install_error_handlers(app)
    metrics.subscribe()
    app.add_middleware(metrics.LatencyMiddleware)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)  # 413 without reading it whole

    from leadwise.api.routers import (
        admin,
        assignments,
        flows,
        health,
        leads,
        pool,
        reports,
        reps,
        route,
        score,
        stats,
        webhooks,
    )

    install_console(app)
    for module in (health, reps, route, score, assignments, pool, leads, stats, reports, flows, admin, webhooks):
        app.include_router(module.router)
    if settings.enable_bench_floor:
        from leadwise.api.routers import bench

        app.include_router(bench.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker builds its app from the environment)."""
    from leadwise.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(Settings())
