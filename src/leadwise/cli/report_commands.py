"""``leadwise report``: conversion, speed to lead and SLA, returns and attribution from the service's
database, printed as tables and logged to MLflow (experiment ``leadwise-reports``)."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.table import Table

from leadwise.cli.app import app, console, fail

REPORTS_EXPERIMENT = "leadwise-reports"


def _fmt(value: Any, kind: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "seconds":
        return f"{value:,.0f}s"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for _, header, _ in columns:
        table.add_column(header, justify="left" if header in ("key", "channel", "reason", "rep") else "right")
    for row in rows:
        table.add_row(*(_fmt(row.get(key), kind) for key, _, kind in columns))
    return table


CONVERSION_COLUMNS = [
    ("key", "key", ""),
    ("leads", "leads", ""),
    ("closed", "closed", ""),
    ("won", "won", ""),
    ("conversion_rate", "won / closed", "rate"),
    ("won_value", "won value", ""),
]
SPEED_COLUMNS = [
    ("key", "key", ""),
    ("assignments", "assignments", ""),
    ("median_seconds_to_assignment", "median to assign", "seconds"),
    ("p90_seconds_to_assignment", "p90 to assign", "seconds"),
    ("accepted", "accepted", ""),
    ("median_seconds_to_acceptance", "median to accept", "seconds"),
    ("p90_seconds_to_acceptance", "p90 to accept", "seconds"),
]


def render(figures: dict[str, Any]) -> list[Table]:
    conversion, speed = figures["conversion"], figures["speed"]
    tables = [_table("conversion: all leads", [conversion["total"]], CONVERSION_COLUMNS)]
    for key, title in (
        ("by_channel", "conversion by first-touch channel"),
        ("by_source", "conversion by source"),
        ("by_customer", "conversion by customer type"),
        ("by_series", "conversion by product series"),
        ("by_rep", "conversion by rep"),
    ):
        tables.append(_table(title, conversion[key], CONVERSION_COLUMNS))
    tables.append(_table("speed to lead by rep", speed["by_rep"], SPEED_COLUMNS))
    tables.append(_table("speed to lead by hour of lead creation (UTC)", speed["by_hour"], SPEED_COLUMNS))
    tables.append(
        _table(
            "SLA adherence by rep",
            speed["sla"],
            [
                ("key", "rep", ""),
                ("offers", "offers", ""),
                ("accepted_within_sla", "accepted in SLA", ""),
                ("expired", "expired", ""),
                ("adherence", "adherence", "rate"),
            ],
        )  # fmt: skip
    )
    tables.append(
        _table(
            "returns to marketing",
            figures["returns"]["reasons"],
            [("reason", "reason", ""), ("count", "count", "")],
        )
    )
    attribution = figures["attribution"]
    tables.append(
        _table(
            f"attribution ({attribution['model']}): {attribution['journeys']} journeys, {attribution['won']} won",
            attribution["channels"],
            [
                ("channel", "channel", ""),
                ("conversions", "credited won", ""),
                ("share", "share", "rate"),
                ("journeys", "journeys", ""),
                ("conversion_rate", "conv. rate", "rate"),
                ("cost", "cost", ""),
                ("cost_per_won", "cost / won", ""),
            ],
        )  # fmt: skip
    )
    return tables


def _figures(figures: dict[str, Any]) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    channels = figures["conversion"]["by_channel"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([r["key"] for r in channels], [r["conversion_rate"] or 0.0 for r in channels])
    ax.set_ylabel("won / closed")
    ax.set_title("conversion by first-touch channel")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    out["conversion_by_channel.png"] = fig
    hours = figures["speed"]["by_hour"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([r["key"] for r in hours], [(r["median_seconds_to_acceptance"] or 0.0) / 60 for r in hours])
    ax.set_xlabel("hour of lead creation (UTC)")
    ax.set_ylabel("median minutes to acceptance")
    ax.set_title("speed to lead")
    fig.tight_layout()
    out["speed_by_hour.png"] = fig
    reasons = figures["returns"]["reasons"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([r["reason"] for r in reasons], [r["count"] for r in reasons])
    ax.set_title("returns to marketing by reason")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    out["returns_by_reason.png"] = fig
    for version, c in figures["model"]["calibration"].items():
        if c["curve"]:
            fig, ax = plt.subplots(figsize=(5, 5))
            ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
            ax.plot([b["predicted"] for b in c["curve"]], [b["observed"] for b in c["curve"]], marker="o")
            ax.set_xlabel("served P(win)")
            ax.set_ylabel("won / closed")
            ax.set_title(f"reliability of model {version} (ECE {c['ece']:.3f}, {c['n']} outcomes)")
            fig.tight_layout()
            out[f"reliability_{version}.png"] = fig
    return out


@app.command("report")
def report(
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="overrides LEADWISE_DATABASE_URL", show_default=False)
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", help="MLflow tracking URI", show_default=False)
    ] = None,
    model: Annotated[str, typer.Option("--model", help="attribution model")] = "linear",
    log: Annotated[bool, typer.Option("--log/--no-log", help="log the figures to MLflow")] = True,
) -> None:
    """Conversion (by first-touch channel, source, customer type, series, rep), speed to lead and SLA
    adherence, returns to marketing and channel attribution, from the service's database."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from leadwise.services import reports
    from leadwise.settings import get_settings
    from leadwise.store.db import Database
    from leadwise.store.migrate import current_revision, head_revision

    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    db = Database.connect(settings.database_url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        try:
            if current_revision(db.engine) != head_revision():
                fail(
                    f"database {settings.database_url} is not at the latest schema: run `leadwise db upgrade`"
                )
            with db.read_session() as session:
                figures = reports.all_reports(session=session, reasons=settings.return_reasons, model=model)
            figures["model"] = _model_figures(db, settings, tracking_uri)
        except ValueError as exc:
            fail(f"--model: {exc}")
        except (OperationalError, SQLAlchemyError) as exc:
            fail(f"database {settings.database_url}: {getattr(exc, 'orig', exc)}")
    finally:
        db.dispose()
    for table in render(figures):
        console.print(table)
    for table in render_model(figures["model"]):
        console.print(table)
    for warning in figures["model"]["warnings"]:
        console.print(f"[bold red]warning:[/] {warning}", highlight=False)
    if log:
        _log(figures, settings, tracking_uri)


def _model_figures(db: Any, settings: Any, tracking_uri: str | None) -> dict[str, Any]:
    """The served model's report (``services.model_report``) for the champion in the registry."""
    from leadwise.learn.tracking import configure_tracking
    from leadwise.services.model_report import model_report
    from leadwise.services.models import ModelHolder

    configure_tracking(settings, tracking_uri)
    holder = ModelHolder(settings)
    holder.reload(force=True)  # none registered: calibration of the versions stored, no drift
    return model_report(db=db, models=holder, settings=settings)


def render_model(report: dict[str, Any]) -> list[Table]:
    rows = [{"key": version, "n": c["n"], "ece": c["ece"]} for version, c in report["calibration"].items()]
    tables = [_table(f"model calibration per version (served: {report['model_version'] or 'none'}, "
                     f"validation ECE {_fmt(report.get('validation_ece'))})", rows,
                     [("key", "key", ""), ("n", "outcomes", ""), ("ece", "ECE", "")])]  # fmt: skip
    drift = report.get("drift") or {}
    if drift.get("psi"):
        psi_rows = [{"key": feature, "psi": value} for feature, value in drift["psi"].items()]
        tables.append(_table(f"drift of the last {drift['leads']} served leads vs training (PSI)", psi_rows,
                             [("key", "key", ""), ("psi", "PSI", "")]))  # fmt: skip
    if "challenger" in report:
        tables.append(render_challenger(report["challenger"]))
    return tables


def render_challenger(shadow: dict[str, Any]) -> Table:
    """Champion and shadow challenger side by side: each model's ECE on the decisions the challenger was
    scored on (per challenger version) and the off-policy win rate per lead of ``best_fit`` by each."""
    ope = shadow.get("ope") or {}
    rows = []
    for model in ("champion", "challenger"):
        row: dict[str, Any] = {"key": model}
        for version, side in shadow["calibration"].items():
            row |= {"n": side[model]["n"], "ece": side[model]["ece"], "version": version}
        if model in ope:
            est = ope[model]
            row["ope"] = f"{est['estimate']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"
        rows.append(row)
    title = (f"shadow challenger {shadow['alias']!r} ({shadow.get('model_version') or 'not loaded'}) beside "
             "the champion: calibration on the same decisions, best_fit off-policy (DR, 95 %)")  # fmt: skip
    if ope.get("note"):
        title += f"; {ope['note']}"
    return _table(title, rows, [("key", "key", ""), ("version", "challenger version", ""), ("n", "outcomes", ""),
                                ("ece", "ECE", ""), ("ope", "win rate per lead", "")])  # fmt: skip


def _log(figures: dict[str, Any], settings: Any, tracking_uri: str | None) -> None:
    import matplotlib.pyplot as plt
    import mlflow

    from leadwise.learn.tracking import configure_tracking, ensure_experiment

    uri = configure_tracking(settings, tracking_uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(settings, REPORTS_EXPERIMENT))
    total = figures["conversion"]["total"]
    with mlflow.start_run(run_name="report") as run:
        metrics = {"leads": total["leads"], "closed": total["closed"], "won": total["won"],
                   "returns": figures["returns"]["total"]}  # fmt: skip
        if total["conversion_rate"] is not None:
            metrics["conversion_rate"] = total["conversion_rate"]
        monitoring = figures["model"]
        for version, c in monitoring["calibration"].items():
            if c["n"]:
                metrics[f"model.{version}.ece"] = c["ece"]
                metrics[f"model.{version}.outcomes"] = c["n"]
        for feature, value in (monitoring.get("drift") or {}).get("psi", {}).items():
            metrics[f"model.psi.{feature}"] = value
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for name, part in figures.items():
            mlflow.log_text(json.dumps(part, indent=2, default=str), f"{name}.json")
        for name, figure in _figures(figures).items():
            mlflow.log_figure(figure, name)
            plt.close(figure)
    console.print(f"logged MLflow run {run.info.run_id} in experiment '{REPORTS_EXPERIMENT}' at {uri}")
