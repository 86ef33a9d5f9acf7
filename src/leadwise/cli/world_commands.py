"""``leadwise synth`` (write a synthetic world) and ``leadwise evaluate`` (measure the models against its
truth); the work is ``leadwise.simulate``'s, these commands parse, call and print."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from leadwise.cli.app import app, console, fail
from leadwise.settings import get_settings
from leadwise.simulate import world_evaluation as evaluation
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import load_truth, write_world


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Directory to write the world to (created if needed).")],
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the config's, 42).")] = None,
    history: Annotated[int | None, typer.Option(help="History rows in sales_pipeline.csv.")] = None,
    stream: Annotated[int | None, typer.Option(help="Fresh leads in truth/stream.csv.")] = None,
    reps: Annotated[int | None, typer.Option(help="Sales reps.")] = None,
    accounts: Annotated[int | None, typer.Option(help="Accounts.")] = None,
    config: Annotated[
        Path | None, typer.Option(help="World config, TOML or YAML (see training/worlds/).")
    ] = None,
) -> None:
    """Write a synthetic CRM world with known true win probabilities (a sandbox and a test bench)."""
    try:
        base = WorldConfig.from_file(config) if config is not None else WorldConfig()
    except FileNotFoundError:
        fail(f"{config}: no such file")
    except (ValidationError, ValueError) as error:
        fail(f"{config}: {_first_error(error)}")
    overrides = {
        "seed": seed,
        "n_history": history,
        "n_stream": stream,
        "n_reps": reps,
        "n_accounts": accounts,
    }
    try:
        world_config = WorldConfig.model_validate(
            base.model_dump() | {key: value for key, value in overrides.items() if value is not None}
        )
    except ValidationError as error:
        field = str(error.errors()[0]["loc"][0])
        option = {
            "n_history": "--history",
            "n_stream": "--stream",
            "n_reps": "--reps",
            "n_accounts": "--accounts",
        }
        fail(f"{option.get(field, '--' + field)}: {error.errors()[0]['msg']}")
    started = time.perf_counter()
    world = generate_world(world_config)
    write_world(world, out)
    closed, won = world.outcome_counts()
    console.print(
        f"wrote {out}: {len(world.pipeline):,} deals ({closed:,} closed, "
        f"{won / max(closed, 1):.0%} won), "
        f"{len(world.accounts):,} accounts, {len(world.teams)} reps, {len(world.stream):,} stream leads "
        f"in {time.perf_counter() - started:.1f}s (seed {world_config.seed})"
    )


@app.command()
def evaluate(
    world: Annotated[Path, typer.Option(help="A directory written by `leadwise synth`.")],
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default from settings).")
    ] = None,
    history_sizes: Annotated[
        str, typer.Option(help="Comma-separated history sizes for the lift curve; '' to skip it.")
    ] = "1000,5000,20000,100000",
    champion: Annotated[
        bool, typer.Option(help="Evaluate the registered champion instead of training.")
    ] = False,
    log: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    train_config: Annotated[
        Path | None, typer.Option(help="Training config (TOML/YAML) to evaluate instead of the default.")
    ] = None,
) -> None:
    """Train on a world (or take the champion) and measure the models against the world's true P(win)."""
    settings = get_settings()
    try:
        sizes = [int(part) for part in history_sizes.split(",") if part.strip()]
    except ValueError:
        fail(f"--history-sizes: expected comma-separated integers, got '{history_sizes}'")
    if any(size < 100 for size in sizes):
        fail("--history-sizes: every size must be at least 100")
    try:
        truth = load_truth(world)
        history = evaluation.load_history(world)
        config = evaluation.evaluation_train_config(train_config)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    world_config = truth.config

    if champion:
        from leadwise.learn.registry import load_champion

        models = load_champion(settings, tracking_uri)
        if models is None:
            fail(
                f"no model registered under alias '{settings.model_alias}' at {tracking_uri or settings.tracking_uri}"
            )
    else:
        console.print(f"training on {world} ({len(history.closed):,} closed deals)")
        models = evaluation.train(history, config)
    seed = settings.random_seed
    scored = evaluation.score_against_truth(models, history, truth, seed)
    reference = evaluation.score_against_truth(
        evaluation.fit_reference_model_on(history), history, truth, seed
    )
    gain = None
    if evaluation.has_engagement(history, truth) and not champion:
        console.print("training again without the touchpoints (what the engagement features add)")
        gain = evaluation.engagement_gain(history, truth, config, seed=seed, scored=scored.report)

    curve: dict[str, list[float]] = {}
    if sizes:
        curve = evaluation.lift_curve(world_config, sizes, config, on_point=_print_lift_point)
    _print_table(evaluation.target_checks(scored.report, reference.report), world_config, curve, sizes)
    if gain is not None:
        console.print(
            f"lead score AUC with engagement features {gain.with_engagement:.3f}, without "
            f"{gain.without_engagement:.3f} (gain {gain.gain:+.3f}; Bayes {gain.bayes:.3f})"
        )
    if log:
        run_id, uri = evaluation.log_evaluation_run(
            settings, tracking_uri, world, world_config, scored, reference.report, sizes, curve, gain
        )
        console.print(
            f"logged MLflow run {run_id} in experiment '{evaluation.EVALUATION_EXPERIMENT}' at {uri}"
        )


# ----------------------------------------------------------------------------------------------- output


def _print_lift_point(size: int, lift: float, reference_lift: float) -> None:
    console.print(
        f"  history {size:>9,}: captured lift {lift:.3f} (true-form reference {reference_lift:.3f})"
    )


def _print_table(
    checks: list[evaluation.TargetCheck],
    config: WorldConfig,
    curve: dict[str, list[float]],
    sizes: list[int],
) -> None:
    table = Table(
        title=f"Models vs truth (seed {config.seed}, {config.n_history:,} history rows, {config.n_reps} reps)"
    )
    for column in ("metric", "leadwise", "true-form reference", "ceiling / baseline", "target", "met"):
        table.add_column(column, justify="left" if column in ("metric", "target") else "right")
    for check in checks:
        mark = "" if check.met is None else ("[green]yes[/]" if check.met else "[red]no[/]")
        table.add_row(
            check.metric, f"{check.leadwise:.3f}", f"{check.reference:.3f}", check.ceiling, check.target, mark
        )
    console.print(table)
    if curve:
        lifts = ", ".join(
            f"{size:,}: {lift:.3f}"
            for size, lift in zip(sizes, curve[evaluation.LEADWISE_CURVE], strict=True)
        )
        console.print(f"captured lift by history size: {lifts}")


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0]
