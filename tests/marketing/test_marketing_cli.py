"""``leadwise attribution``: tables per model, files written, one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.simulate.journeys import simulate_journeys

runner = CliRunner(env={"COLUMNS": "200"})


def test_synthetic_run_prints_a_table_per_model(tmp_path: Path) -> None:
    out = tmp_path / "credit.csv"
    result = runner.invoke(
        app,
        ["attribution", "--synthetic", "2000", "--model", "first_touch,markov,shapley", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    for title in ("first_touch", "markov_1", "shapley", "planted effect", "cost / won"):
        assert title in result.output
    written = pd.read_csv(out)
    assert set(written["model"]) == {"first_touch", "markov_1", "shapley"}
    assert written.groupby("model")["conversions"].sum().nunique() == 1  # same total under every model


def test_files_with_pipeline_beside_them(tmp_path: Path) -> None:
    world = simulate_journeys(n=300, seed=1)
    world.touchpoints.to_csv(tmp_path / "touchpoints.csv", index=False)
    pipeline = world.outcomes.rename(columns={"lead_id": "opportunity_id", "revenue": "close_value"})
    pipeline["deal_stage"] = pipeline.pop("converted").map({True: "Won", False: "Lost"})
    pipeline.to_csv(tmp_path / "sales_pipeline.csv", index=False)
    out = tmp_path / "credit.json"
    result = runner.invoke(
        app,
        [
            "attribution",
            "--touchpoints",
            str(tmp_path / "touchpoints.csv"),
            "--model",
            "all",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "300 journeys" in result.output
    payload = json.loads(out.read_text())
    assert [m["model"] for m in payload][:3] == ["first_touch", "last_touch", "linear"]
    assert sum(row["conversions"] for row in payload[0]["channels"]) == int(world.outcomes["converted"].sum())


def test_single_table_form(tmp_path: Path) -> None:
    world = simulate_journeys(n=200, seed=2)
    world.single_table().to_csv(tmp_path / "journeys.csv", index=False)
    result = runner.invoke(
        app, ["attribution", "--touchpoints", str(tmp_path / "journeys.csv"), "--model", "linear"]
    )
    assert result.exit_code == 0, result.output
    assert "linear" in result.output


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "touchpoints.csv"
    path.write_text(
        "lead_id,timestamp,channel,touch_type,converted\nL1,2024-01-01,email,visit,1\nL2,2024-01-01,email,teleport,0\n"
    )
    result = runner.invoke(app, ["attribution", "--touchpoints", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: touchpoints.csv, column 'touch_type', row 2 (line 3): 'teleport' is not a touch type "
        "(accepted: visit, content_download, demo_request, webinar_attended, quote_request, email_click, call)"
    ]
    assert runner.invoke(app, ["attribution", "--synthetic", "10", "--model", "magic"]).exit_code == 2
    assert runner.invoke(app, ["attribution"]).exit_code == 2
    no_outcome = tmp_path / "t.csv"
    no_outcome.write_text("lead_id,timestamp,channel,touch_type\nL1,2024-01-01,email,visit\n")
    result = runner.invoke(app, ["attribution", "--touchpoints", str(no_outcome)])
    assert result.exit_code == 2 and "--pipeline" in result.output
