"""``leadwise export`` (the service's history as training data) and ``leadwise ope`` (candidate policies
evaluated off-line on it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from leadwise.cli.app import app, console, fail
from leadwise.errors import LeadwiseError
from leadwise.settings import get_settings

OPE_EXPERIMENT = "leadwise-ope"


@app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the four files and decisions.csv into.")],
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="overrides LEADWISE_DATABASE_URL", show_default=False)
    ] = None,
    base: Annotated[
        Path | None, typer.Option("--base", help="A four-file history to start from (the training data): the service's rows are appended.")
    ] = None,
) -> None:
    """Write the service's routed leads, outcomes and decisions (with propensities) in the four-file schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from leadwise.services.export import export_history
    from leadwise.store.db import Database
    from leadwise.store.migrate import current_revision, head_revision

    settings = get_settings()
    url = database_url or settings.database_url
    db = Database.connect(url, busy_timeout_ms=settings.db_busy_timeout_ms)
    try:
        if current_revision(db.engine) != head_revision():
            fail(f"database {url} is not at the latest schema: run `leadwise db upgrade`")
        summary = export_history(db=db, out=out, base=base)
    except LeadwiseError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database {url}: {getattr(exc, 'orig', exc)}")
    finally:
        db.dispose()
    base_note = f" after {summary.base_rows:,} rows of {base}" if base else ""
    console.print(
        f"[green]✓[/] wrote {summary.leads:,} routed leads ({summary.closed:,} closed){base_note} and "
        f"decisions.csv to {summary.out}"
        + (f"; {summary.without_propensity:,} decision(s) without a propensity" if summary.without_propensity else "")
        + (f"; custom fields of {summary.with_fields:,} lead(s) in lead_fields.csv" if summary.with_fields else "")
    )


@app.command("ope")
def ope(
    data: Annotated[Path, typer.Option("--data", help="A directory written by `leadwise export`.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the estimates (JSON).")] = Path("ope.json"),
    policies: Annotated[
        str, typer.Option("--policies", help="Comma-separated: best_fit, round_robin, random, best_fit@ALIAS.")
    ] = "best_fit,round_robin,random",
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help="MLflow tracking URI", show_default=False)] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Log the estimates to MLflow.")] = True,
) -> None:
    """Estimate each policy's win rate per lead from the logged decisions: IPS, self-normalised IPS and
    doubly robust, with 95 % bootstrap intervals (the headline is doubly robust)."""
    from leadwise.learn.tracking import configure_tracking
    from leadwise.services.offpolicy import evaluate_export

    settings = get_settings()
    uri = configure_tracking(settings, tracking_uri)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        estimates, inputs = evaluate_export(
            data=data, policies=names, settings=settings, tracking_uri=uri, n_resamples=resamples, seed=seed
        )
    except LeadwiseError as exc:
        fail(str(exc))
    document = {name: e.as_dict() for name, e in estimates.items()}
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    observed = float(inputs.log.reward.mean())
    table = Table(title=f"Off-policy estimates: win rate per lead ({len(inputs.log.action):,} logged decisions, observed {observed:.3f})")
    for column in ("policy", "DR [95 % CI]", "IPS", "SNIPS", "matched", "ESS"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, e in estimates.items():
        by = e.estimates
        table.add_row(
            name,
            f"{by['dr'].estimate:.3f} [{by['dr'].ci_low:.3f}, {by['dr'].ci_high:.3f}]",
            f"{by['ips'].estimate:.3f}",
            f"{by['snips'].estimate:.3f}",
            f"{e.matched:,}",
            f"{e.effective_sample_size:,.0f}",
        )
    console.print(table)
    if inputs.dropped:
        console.print(f"{inputs.dropped:,} decision(s) without an outcome or a propensity left out")
    console.print(f"wrote {out}")
    if log:
        import mlflow

        from leadwise.learn.tracking import ensure_experiment

        mlflow.set_experiment(experiment_id=ensure_experiment(settings, OPE_EXPERIMENT))
        with mlflow.start_run(run_name="ope") as run:
            mlflow.log_params({"data": str(data), "policies": ",".join(names), "resamples": resamples})
            mlflow.log_metrics({"logged_decisions": float(len(inputs.log.action)), "observed_win_rate": observed})
            for name, e in estimates.items():
                key = name.replace("@", "_at_")
                for method, estimate in e.estimates.items():
                    mlflow.log_metrics({f"{key}.{method}": estimate.estimate, f"{key}.{method}_ci_low": estimate.ci_low,
                                        f"{key}.{method}_ci_high": estimate.ci_high})  # fmt: skip
            mlflow.log_dict(document, "ope.json")
        console.print(f"logged MLflow run {run.info.run_id} in experiment '{OPE_EXPERIMENT}' at {uri}")
