"""An optional ``touchpoints.csv`` beside the four CRM files: validated, linked to deals, fed to training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.data.crm import load_crm_dir
from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import from_crm
from leadwise.learn.training import TrainConfig, train_models
from leadwise.settings import Settings

from ..conftest import read_raw

QUICK = TrainConfig(baselines=False, lgbm_params={"n_estimators": 80, "num_threads": 1})


def write_touches(crm_dir: Path, n: int = 400, id_column: str = "opportunity_id") -> pd.DataFrame:
    deals = read_raw(crm_dir, "sales_pipeline.csv")
    deals = deals[deals["engage_date"] != ""].head(n)
    engaged = pd.to_datetime(deals["engage_date"], format="mixed")
    touches = pd.DataFrame(
        {
            id_column: deals["opportunity_id"].to_numpy(),
            "timestamp": (engaged - pd.Timedelta(days=2)).dt.strftime("%Y-%m-%d").to_numpy(),
            "channel": ["webinar", "email"] * (len(deals) // 2) + ["email"] * (len(deals) % 2),
            "touch_type": ["Webinar Attended", "demo-request"] * (len(deals) // 2) + ["visit"] * (len(deals) % 2),
        }
    )
    touches.to_csv(crm_dir / "touchpoints.csv", index=False)
    return touches


def test_without_touchpoints_nothing_changes(bundled_dir: Path) -> None:
    history = load_crm_dir(bundled_dir)
    assert history.touches is None and from_crm(history).touches is None


@pytest.mark.parametrize("id_column", ["opportunity_id", "lead_id"])
def test_touches_link_to_deals_and_unknown_ones_are_reported(crm_dir: Path, id_column: str) -> None:
    written = write_touches(crm_dir, id_column=id_column)
    extra = pd.DataFrame([{id_column: "NOT-A-DEAL", "timestamp": "2017-01-01", "channel": "x", "touch_type": "visit"}])
    pd.concat([written, extra]).to_csv(crm_dir / "touchpoints.csv", index=False)
    history = load_crm_dir(crm_dir)
    assert history.touches is not None and len(history.touches) == len(written)
    assert set(history.touches["touch_type"]) == {"webinar_attended", "demo_request"}
    assert any("touches of deals not in sales_pipeline.csv" in str(fix) for fix in history.report.fixes)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.assign(touch_type=["visit", "coffee"] * (len(f) // 2)),
         "touchpoints.csv, column 'touch_type', row 2 (line 3): 'coffee' is not a touch type"),
        (lambda f: f.drop(columns=["channel"]), "touchpoints.csv: required column 'channel' is missing"),
        (lambda f: f.assign(timestamp=["2017-01-01", "soon"] * (len(f) // 2)),
         "touchpoints.csv, column 'timestamp', row 2 (line 3): 'soon' is not a date"),
    ],
)  # fmt: skip
def test_bad_touchpoints_are_one_line_errors(crm_dir: Path, change, expected: str) -> None:
    change(write_touches(crm_dir, n=10)).to_csv(crm_dir / "touchpoints.csv", index=False)
    with pytest.raises(DataValidationError) as error:
        load_crm_dir(crm_dir)
    assert str(error.value).startswith(expected)


def test_train_exits_2_on_bad_touchpoints(isolated_settings: Settings, crm_dir: Path) -> None:
    write_touches(crm_dir, n=10).assign(touch_type="coffee").to_csv(crm_dir / "touchpoints.csv", index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(crm_dir)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "touchpoints.csv, column 'touch_type', row 1" in lines[0]


def test_training_adds_engagement_features_when_touches_exist(crm_dir: Path) -> None:
    write_touches(crm_dir, n=3000)
    outcome = train_models(from_crm(load_crm_dir(crm_dir)), QUICK)
    builder = outcome.models.builder
    assert builder.engagement is not None
    assert {"touch_total", "touch_demo_request", "touch_channel_webinar"} <= set(builder.lead_feature_names)
    assert set(builder.lead_feature_names) <= set(builder.pair_feature_names)
    assert "touch_total" in outcome.importances["lead_score"].index
    assert outcome.fingerprint["touches"] == 3000
    assert outcome.validation_touches is not None
