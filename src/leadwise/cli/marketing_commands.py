"""Marketing commands: ``attribution``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from leadwise.cli.app import app, console, fail

if TYPE_CHECKING:
    import pandas as pd

    from leadwise.marketing.attribution import AttributionResult
    from leadwise.marketing.journeys import Journeys


def _journeys_from_files(touchpoints: Path, pipeline: Path | None) -> Journeys:
    from leadwise.marketing.journeys import build_journeys
    from leadwise.marketing.touchpoints import load_outcomes, outcomes_from_table, read_touchpoints

    touches = read_touchpoints(touchpoints)
    if pipeline is None and "converted" not in touches.columns:
        beside = touchpoints.parent / "sales_pipeline.csv"
        pipeline = beside if beside.is_file() else None
    if pipeline is not None:
        outcomes = load_outcomes(pipeline)
    else:
        outcomes = outcomes_from_table(touches, file=touchpoints)
    return build_journeys(touches, outcomes)


def _render(result: AttributionResult, planted: pd.Series | None) -> Table:
    kind = "exact" if result.exact else "SAMPLED"
    title = f"{result.model}" + (f" ({kind}: {result.note})" if result.note else "")
    table = Table(title=title, title_justify="left")
    columns = ["channel", "conversions", "share", "revenue", "journeys", "conv. rate", "cost", "cost / won"]
    if planted is not None:
        columns.append("planted effect")
    for column in columns:
        table.add_column(column, justify="left" if column == "channel" else "right")
    frame = result.table.sort_values("conversions", ascending=False)
    for channel, row in frame.iterrows():
        cells = [
            str(channel),
            f"{row.conversions:,.1f}",
            f"{row.share:.1%}",
            f"{row.revenue:,.0f}",
            f"{int(row.journeys):,}",
            f"{row.conversion_rate:.1%}",
            f"{row.cost:,.0f}",
            "-" if row.cost_per_won != row.cost_per_won else f"{row.cost_per_won:,.0f}",
        ]
        if planted is not None:
            cells.append(f"{planted.get(channel, float('nan')):+.2f}")
        table.add_row(*cells)
    return table


def _write(results: dict[str, AttributionResult], out: Path) -> None:
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps([r.to_dict() for r in results.values()], indent=2))
        return
    frames = [
        r.table.reset_index().assign(model=name, exact=r.exact)[
            ["model", "exact", *r.table.reset_index().columns]
        ]
        for name, r in results.items()
    ]
    pd.concat(frames, ignore_index=True).to_csv(out, index=False)


@app.command("attribution")
def attribution(
    touchpoints: Annotated[
        Path | None, typer.Option("--touchpoints", help="touchpoints.csv (or its single-table form)")
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            "--pipeline", help="sales_pipeline.csv with the outcomes (default: the one beside touchpoints)"
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="comma list (first_touch, last_touch, linear, u_shaped, w_shaped, "
            "time_decay, markov, markov_2, ..., shapley) or 'all'",
        ),
    ] = "all",
    half_life_days: Annotated[float, typer.Option("--half-life-days", help="time-decay half-life")] = 7.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="write every model's table (.csv or .json)")
    ] = None,
    synthetic: Annotated[
        int | None,
        typer.Option("--synthetic", help="run on N generated journeys with planted channel effects"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="seed of --synthetic")] = 42,
) -> None:
    """Credit per channel for conversions and revenue under heuristic and data-driven models."""
    from leadwise.marketing.attribution import AttributionConfig, attribute, parse_models
    from leadwise.marketing.touchpoints import TouchpointsError

    if (touchpoints is None) == (synthetic is None):
        fail("give exactly one of --touchpoints FILE or --synthetic N")
    try:
        models = parse_models(model)
        config = AttributionConfig(half_life_days=half_life_days)
    except ValueError as error:
        fail(str(error))
    planted = None
    try:
        if synthetic is not None:
            if synthetic < 1:
                fail("--synthetic needs a positive number of journeys")
            from leadwise.marketing.journeys import build_journeys
            from leadwise.simulate.journeys import simulate_journeys

            world = simulate_journeys(n=synthetic, seed=seed)
            journeys = build_journeys(world.touchpoints, world.outcomes)
            planted = world.truth["effect"]
        else:
            assert touchpoints is not None
            journeys = _journeys_from_files(touchpoints, pipeline)
        results = attribute(journeys, models, config)
    except TouchpointsError as error:
        fail(str(error))
    console.print(
        f"{journeys.n_journeys:,} journeys, {journeys.n_touches:,} touches, {journeys.n_channels} channels, "
        f"{int(journeys.converted.sum()):,} won"
        + (
            f"; {journeys.dropped_without_outcome:,} journeys without a closed deal left out"
            if journeys.dropped_without_outcome
            else ""
        )
    )
    for result in results.values():
        console.print(_render(result, planted))
    if out is not None:
        _write(results, out)
        console.print(f"wrote {out}")
