"""``leadwise train`` and ``leadwise score``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.status import Status
from rich.table import Table

from leadwise.cli.app import app, console, fail
from leadwise.data.errors import DataValidationError
from leadwise.settings import get_settings

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="A directory in the four-file CRM schema, or a single-table lead CSV (with --target)."),
]
TrackingOption = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")
]


def _load_training_data(
    data: Path | None, target: str | None, id_column: str | None, rep: str | None, value: str | None, time_column: str | None, exclude: list[str]
):
    from leadwise.data.crm import load_crm_dir
    from leadwise.data.table import TableSpec, load_lead_table
    from leadwise.data.training_data import from_crm, from_table

    source = data or get_settings().data_dir
    if target:
        spec = TableSpec(target, id_column, rep, value, time_column, tuple(exclude))
        return from_table(load_lead_table(source, spec))
    if source.is_file():
        fail(f"{source}: a single CSV file needs --target COLUMN (or pass a directory in the four-file CRM schema)")
    return from_crm(load_crm_dir(source))


@app.command()
def train(
    data: DataOption = None,
    config: Annotated[Path | None, typer.Option("--config", help="Run config (TOML or YAML), see training/configs/.")] = None,
    tracking_uri: TrackingOption = None,
    target: Annotated[str | None, typer.Option(help="Single-table mode: the outcome column (1/0, won/lost...).")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="Single-table mode: lead id column.")] = None,
    rep: Annotated[str | None, typer.Option(help="Single-table mode: column naming the rep who worked the lead.")] = None,
    value: Annotated[str | None, typer.Option(help="Single-table mode: deal value column.")] = None,
    time_column: Annotated[str | None, typer.Option("--time", help="Single-table mode: lead time column.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Single-table mode: columns that must not be features (repeatable).")] = None,
    promote: Annotated[
        bool | None, typer.Option("--promote/--no-promote", help="Force or forbid moving the champion alias (default: only when not worse).")
    ] = None,
    if_no_champion: Annotated[bool, typer.Option("--if-no-champion", help="Do nothing when a champion is already registered.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Train, evaluate and log the run, but register and promote nothing.")
    ] = False,
    run_name: Annotated[str | None, typer.Option("--run-name", help="MLflow run name (default: 'train DATA DATE').")] = None,
    weight_by_propensity: Annotated[
        bool, typer.Option("--weight-by-propensity", help="Weigh the fit model's rows by 1/propensity from DIR/decisions.csv (`leadwise export`).")
    ] = False,
    max_weight: Annotated[float, typer.Option("--max-weight", min=1.0, help="Cap of an inverse-propensity weight.")] = 20.0,
    budget: Annotated[
        str | None,
        typer.Option(
            help="CPU time for choosing the models by inner cross-validation: 120s, 2m, 0 for none "
            "(default: the run config's search_budget, else LEADWISE_TRAIN_BUDGET, 15s)."
        ),
    ] = None,
) -> None:
    """Train the lead score, rep-lead fit and deal value models; log them to MLflow; register and promote."""
    from leadwise.learn.registry import has_champion
    from leadwise.learn.tracking import PromotionDecision, configure_tracking, log_training_run
    from leadwise.learn.tracking import promote as promote_models
    from leadwise.learn.training import TrainConfig, train_models

    settings = get_settings()
    uri = configure_tracking(settings, tracking_uri)
    if if_no_champion and has_champion(settings):
        console.print(f"A '{settings.model_alias}' is registered in {uri}: nothing to train.")
        return
    started = time.perf_counter()
    try:
        run_config = TrainConfig.from_file(config) if config else TrainConfig(random_seed=settings.random_seed)
        if budget is not None:
            run_config = run_config.model_copy(update={"search_budget": parse_budget(budget)})
        elif "search_budget" not in run_config.model_fields_set:
            run_config = run_config.model_copy(update={"search_budget": settings.train_budget})
        with console.status("reading and validating the data...") as status:
            training_data = _load_training_data(data, target, id_column, rep, value, time_column, exclude or [])
            for fix in training_data.report.fixes:
                console.print(f"  [yellow]fixed[/] {fix}")
            console.print(f"[green]✓[/] read {len(training_data.frame):,} leads from {training_data.source}")

            def step(message: str) -> None:
                console.print(f"[green]✓[/] {message}")
                status.update(f"{message} ...")

            weights = _propensity_weights(data, max_weight) if weight_by_propensity else None
            with SearchBar(status) as bar:
                outcome = train_models(
                    training_data,
                    run_config,
                    progress=bar.line(step),
                    search_progress=bar.update,
                    row_weights=weights,
                )
            status.update("logging the run to MLflow and registering the models...")
            run_id, versions = log_training_run(
                outcome, training_data, run_config, settings, register=not dry_run, run_name=run_name
            )
            step(f"logged run {run_id} to {uri}")
            decision = (
                PromotionDecision(False, "dry run: nothing registered, the champion is unchanged", versions)
                if dry_run
                else promote_models(outcome, versions, settings, promote)
            )
    except DataValidationError as error:
        fail(str(error))
    _print_summary(outcome, versions, decision, time.perf_counter() - started)


def _propensity_weights(data: Path | None, max_weight: float) -> dict[str, float]:
    """lead id → min(1 / propensity, ``max_weight``) from the export's ``decisions.csv``."""
    from leadwise.data.cleaning import first_bad_row, parse_numbers, read_csv_strict
    from leadwise.services.export import DECISIONS_FILE

    if data is None or not (data / DECISIONS_FILE).is_file():
        fail(f"--weight-by-propensity needs {DECISIONS_FILE} in --data (written by `leadwise export`)")
    path = data / DECISIONS_FILE
    decisions = read_csv_strict(path, ("lead_id", "propensity"))
    propensity = parse_numbers(decisions, "propensity", path)
    bad = propensity.notna() & ((propensity <= 0) | (propensity > 1))
    if bad.any():
        raise DataValidationError(
            f"propensity {propensity[bad].iloc[0]} is not in (0, 1]", file=path, column="propensity", row=first_bad_row(bad)
        )
    weights = (1.0 / propensity).clip(upper=max_weight).fillna(1.0)
    return dict(zip(decisions["lead_id"].astype(str), weights.astype(float), strict=True))


def parse_budget(text: str) -> float:
    """``120s``, ``2m``, ``1.5m``, ``90`` (seconds) or ``0`` as seconds; anything else fails the command."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", text.lower())
    if match is None:
        fail(f"--budget {text!r}: give a duration such as 120s, 2m or 0")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]


class SearchBar:
    """A progress bar per searched model, in place of the spinner while the search runs."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SearchBar:
        return self

    def __exit__(self, *_: object) -> None:
        self._stop()

    def line(self, step: Callable[[str], None]) -> Callable[[str], None]:
        """``step`` after the bar is put away (a line printed under a live bar would be overwritten)."""

        def print_line(message: str) -> None:
            self._stop()
            step(message)

        return print_line

    def update(self, model: str, share: float, message: str) -> None:
        if self.progress is None:
            self.status.stop()
            self.progress = Progress(
                TextColumn("searching {task.fields[model]}"), BarColumn(), TaskProgressColumn(),
                TimeElapsedColumn(), TextColumn("{task.description}"), console=console, transient=True,
            )  # fmt: skip
            self.progress.start()
        if model not in self.tasks:
            self.tasks[model] = self.progress.add_task(message, total=1.0, model=model)
        self.progress.update(self.tasks[model], completed=share, description=message)

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress, self.tasks = None, {}
            self.status.start()


def _print_summary(outcome, versions, decision, seconds: float) -> None:
    timed = outcome.split.get("kind") == "time-ordered"
    held_out = "later deals than any the models learnt from" if timed else "held-out deals"
    refitted = "; the served models then learnt from them too" if outcome.split.get("refit_all_rows") else ""
    table = Table(title=f"Validation ({held_out}{refitted})")
    table.add_column("model")
    table.add_column("ROC AUC / MAE", justify="right")
    table.add_column("PR AUC", justify="right")
    table.add_column("log loss", justify="right")
    table.add_column("Brier", justify="right")
    table.add_column("ECE", justify="right")
    table.add_column("lift@10%", justify="right")
    for name, report in outcome.reports.items():
        rows = [(name, report.metrics), *((f"  baseline: {b}", m) for b, m in report.baselines.items())]
        for label, m in rows:
            if "roc_auc" in m:
                table.add_row(label, *(f"{m[k]:.3f}" for k in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10")))
            else:
                table.add_row(label, f"{m['mae']:,.0f}", "", "", "", "", "")
    console.print(table)
    for report in outcome.reports.values():
        style = "green" if report.beats_baselines else "bold red"
        console.print(f"[{style}]{report.verdict}[/]")
    for name, search in outcome.selection.items():
        calibrations = ", ".join(f"{method} {loss:.4f}" for method, loss in search.calibration_log_loss.items())
        console.print(
            f"{name}: {search.chosen} chosen by {search.folds}-fold inner CV from {len(search.trials)} trials in "
            f"{search.seconds:.0f} s of CPU (budget {search.budget_seconds:.0f} s): inner-CV log loss {search.log_loss:.4f}, "
            f"ECE {search.ece:.3f}; calibration {search.calibration} (log loss {calibrations})"
        )
        for candidate, why in search.skipped.items():
            console.print(f"  [yellow]{candidate} not tried[/]: {why}")
    registered = ", ".join(f"{kind} v{version}" for kind, version in versions.items())
    console.print(f"registered: {registered or 'nothing'}")
    console.print(f"[bold]{decision.reason}[/]")
    console.print(f"done in {seconds:.1f} s")


@app.command()
def score(
    leads: Annotated[Path, typer.Option("--leads", help="CSV of leads to score.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the scores (CSV).")],
    data: Annotated[Path | None, typer.Option("--data", help="A CRM directory whose accounts.csv completes the leads' accounts.")] = None,
    touchpoints: Annotated[
        Path | None, typer.Option("--touchpoints", help="The leads' marketing touches (touchpoints.csv schema), for models trained with touchpoints.")
    ] = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Score leads with the champion models: one row per lead and rep (lead id, rep, p_win, expected value).

    CRM leads are identified by ``lead_id`` or ``opportunity_id``; an unknown column is an error naming it."""
    from leadwise.data.cleaning import CleaningReport, read_csv_strict
    from leadwise.data.crm import ACCOUNTS_FILE, read_accounts
    from leadwise.data.training_data import crm_leads_to_score
    from leadwise.learn.registry import load_champion

    settings = get_settings()
    models = load_champion(settings, tracking_uri)
    if models is None:
        fail(f"no model has the alias '{settings.model_alias}' in {tracking_uri or settings.tracking_uri}: run `leadwise train` first")
    try:
        raw = read_csv_strict(leads, ())
        if models.kind == "crm":
            raw, unused = crm_leads_to_score(raw, file=leads.name)
            if unused:
                console.print(f"{leads.name}: column(s) {', '.join(unused)} not used for scoring")
        if data is not None and models.reference is not None:
            models.reference = models.reference.with_accounts(read_accounts(data / ACCOUNTS_FILE, CleaningReport()))
        touches = None
        if touchpoints is not None:
            from leadwise.marketing.touchpoints import read_touchpoints

            touches = read_touchpoints(touchpoints)
            if models.builder.engagement is None:
                console.print(f"[yellow]models {models.version} were trained without touchpoints: {touchpoints} is ignored[/]")
        prediction = models.predict(raw, file=leads.name, touches=touches)
    except DataValidationError as error:
        fail(str(error))
    if prediction.fit.shape[1]:
        n_leads, n_reps = prediction.fit.shape
        frame = pd.DataFrame(
            {
                "lead_id": [lead for lead in prediction.lead_ids for _ in range(n_reps)],
                "lead_score": prediction.lead_score.repeat(n_reps),
                "deal_value": prediction.deal_value.repeat(n_reps),
                "rep": prediction.reps * n_leads,
                "p_win": prediction.fit.reshape(-1),
                "expected_value": prediction.expected_value.reshape(-1),
            }
        )
    else:
        frame = pd.DataFrame({"lead_id": prediction.lead_ids, "lead_score": prediction.lead_score})
    frame.to_csv(out, index=False, float_format="%.6g")
    console.print(f"scored {len(prediction.lead_ids):,} leads × {len(prediction.reps)} reps with models {models.version} → {out}")
