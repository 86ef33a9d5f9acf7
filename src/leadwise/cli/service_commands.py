"""Service commands: ``serve``, ``db upgrade``, ``reps import``, ``keys create|list|revoke``, ``sweep``."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadwise import timekeeping
from leadwise.cli.app import app, console, fail
from leadwise.errors import LeadwiseError
from leadwise.settings import Settings, get_settings

if TYPE_CHECKING:
    from leadwise.store.db import Database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
reps_app = typer.Typer(help="Sales reps.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(reps_app, name="reps")
app.add_typer(keys_app, name="keys")

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="overrides LEADWISE_DATABASE_URL", show_default=False)
]


def _settings(database_url: str | None) -> Settings:
    settings = get_settings()
    if database_url:
        os.environ["LEADWISE_DATABASE_URL"] = database_url  # uvicorn workers read the environment
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def _migrated_db(settings: Settings) -> Database:
    from sqlalchemy.exc import OperationalError

    from leadwise.services.webhooks import write_outbox_in_transactions
    from leadwise.store.db import Database
    from leadwise.store.migrate import upgrade

    # A change made here (``sweep`` expiring offers ...) is announced to webhooks like the service's:
    # its outbox rows commit with it, and a running service delivers them.
    write_outbox_in_transactions()
    db = Database.connect(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        upgrade(db.engine)
    except OperationalError as exc:
        fail(f"database {db.engine.url.render_as_string(hide_password=True)}: {exc.orig}")
    return db


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Apply the migrations up to the latest schema."""
    settings = _settings(database_url)
    db = _migrated_db(settings)
    from leadwise.store.migrate import current_revision

    console.print(f"database at schema revision {current_revision(db.engine)}")
    db.dispose()


@reps_app.command("import")
def reps_import(
    path: Annotated[Path | None, typer.Argument(help="a sales_teams.csv (default: the bundled one)")] = None,
    capacity: Annotated[int | None, typer.Option(min=0, max=100_000, help="capacity of new reps")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create reps from a sales_teams.csv (sales_agent, manager, regional_office); re-runs update."""
    from leadwise.services.reps import import_sales_teams

    settings = _settings(database_url)
    path = path or settings.data_dir / "sales_teams.csv"
    db = _migrated_db(settings)
    try:
        result = import_sales_teams(db=db, path=path, capacity=capacity or settings.default_rep_capacity)
    except LeadwiseError as exc:
        fail(str(exc))
    finally:
        db.dispose()
    console.print(
        f"reps from {path}: {result.created} created, {result.updated} updated, {result.unchanged} unchanged"
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, manager, rep or integration")],
    rep: Annotated[str | None, typer.Option(help="for a rep key: the rep's name or id")] = None,
    name: Annotated[str, typer.Option(help="a label for the key")] = "api key",
    expires: Annotated[
        str | None, typer.Option(help="when the key stops working, ISO 8601 with a zone (2027-01-01T00:00Z)")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create an API key and print it (only its hash is stored: it cannot be shown again)."""
    from leadwise.services.keys import create_key
    from leadwise.store import repositories as repo

    expires_at = _aware_moment("--expires", expires) if expires is not None else None
    settings = _settings(database_url)
    db = _migrated_db(settings)
    try:
        rep_id: int | None = None
        if rep is not None:
            with db.read_session() as session:
                row = repo.get_rep(session=session, rep_id=int(rep)) if rep.isdigit() else None
                row = row or repo.get_rep_by_name(session=session, name=rep)
                if row is None:
                    fail(f"--rep: no rep named or numbered {rep!r}")
                rep_id = row.id
        key_id, key = create_key(db=db, role=role, name=name, rep_id=rep_id, expires_at=expires_at)
    except LeadwiseError as exc:
        fail(f"--role/--rep/--expires: {exc}")
    finally:
        db.dispose()
    until = f", expires {expires_at.isoformat()}" if expires_at else ""
    console.print(f"key {key_id} ({role}{f', rep {rep_id}' if rep_id else ''}{until}):")
    print(key)


def _aware_moment(option: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO 8601 date-time (e.g. 2027-01-01T00:00:00Z)")
    if moment.tzinfo is None:
        fail(f"{option}: {value!r} has no time zone (add Z or +02:00)")
    return moment


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="list revoked keys too")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List the API keys: id, name, prefix, role, rep and dates (never a key: only hashes are stored)."""
    from rich.table import Table

    from leadwise.services.keys import list_keys
    from leadwise.store.models import utcnow

    db = _migrated_db(_settings(database_url))
    try:
        rows = list_keys(db=db, include_revoked=all_keys)
    finally:
        db.dispose()
    now = utcnow()
    table = Table(title=f"{len(rows)} API keys", title_justify="left")
    for column in ("id", "name", "prefix", "role", "rep", "created", "expires", "status"):
        table.add_column(column)
    for row in rows:
        if row.revoked_at is not None:
            state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}"
        elif row.expires_at is not None and row.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        table.add_row(
            str(row.id),
            row.name,
            row.prefix,
            row.role,
            str(row.rep_id or ""),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never",
            state,
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="the key's id (see `leadwise keys list`)")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke an API key: every worker of a running service refuses it (401) within a second."""
    from leadwise.services.keys import revoke_key

    db = _migrated_db(_settings(database_url))
    try:
        row = revoke_key(db=db, key_id=key_id)
    except LeadwiseError as exc:
        fail(f"key {key_id}: {exc}")
    finally:
        db.dispose()
    console.print(f"key {row.id} ({row.role}, {row.prefix}…) revoked at {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}")


@app.command("sweep")
def sweep(database_url: DatabaseOption = None) -> None:
    """Expire offers past their SLA once (the service also does this on a schedule)."""
    from leadwise.services.models import ModelHolder
    from leadwise.services.sla import sweep_expired

    settings = _settings(database_url)
    db = _migrated_db(settings)
    try:
        expired = sweep_expired(db=db, settings=settings, models=ModelHolder(settings))
    finally:
        db.dispose()
    console.print(f"{expired} offer(s) expired")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Migrate, import the bundled reps if there are none, create an admin key if there is none, seed the
    routing flow if there is none, serve."""
    import uvicorn

    from leadwise.services.flows import default_flow_file, ensure_default_flow
    from leadwise.services.keys import ensure_admin_key
    from leadwise.services.reps import import_sales_teams
    from leadwise.store import repositories as repo

    settings = _settings(database_url)
    if settings.clock_start is not None:
        # One anchor for every worker process: they read the same accelerated clock.
        anchor = settings.clock_anchor if settings.clock_anchor is not None else time.time()
        os.environ["LEADWISE_CLOCK_ANCHOR"] = repr(anchor)
        clock = timekeeping.from_settings(settings.clock_start, settings.clock_speed, anchor)
        timekeeping.use(clock)
        console.print(f"[yellow]clock {clock.describe()} (LEADWISE_CLOCK_START): for replays, not production")
    db = _migrated_db(settings)
    try:
        with db.read_session() as session:
            empty = repo.count_reps(session=session) == 0
        teams = settings.data_dir / "sales_teams.csv"
        if empty and teams.is_file():
            result = import_sales_teams(db=db, path=teams, capacity=settings.default_rep_capacity)
            console.print(f"imported {result.created} reps from {teams}")
        key = ensure_admin_key(db=db)
        seeded = ensure_default_flow(db=db, settings=settings)
        if seeded is not None:
            console.print(f"routing flow 'default' v{seeded} seeded from {default_flow_file(settings)}")
    except LeadwiseError as exc:
        fail(str(exc))
    finally:
        db.dispose()
    if key is not None:
        console.print("[bold]admin API key (shown once, store it now):[/bold]")
        print(key, flush=True)
    # One lead per request: LightGBM's OpenMP threads only fight each other (and the other workers)
    # for the cores. Workers inherit the environment; set OMP_NUM_THREADS to override.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if settings.console_secret is None:
        # Every worker must sign and check the console's session cookies with the same secret.
        os.environ["LEADWISE_CONSOLE_SECRET"] = secrets.token_urlsafe(32)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Counters and histograms are summed across worker processes through files in this folder.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leadwise-metrics-")
    uvicorn.run(
        "leadwise.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        timeout_worker_healthcheck=60,  # a worker imports the ML stack before it reports ready
    )
