"""Bad CRM data ends with one line naming file, column and row; good data loads cleaned."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadwise.data.crm import load_crm_dir
from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import from_crm

from ..conftest import read_raw, write_pipeline


def damage(directory: Path, name: str, change) -> None:
    frame = read_raw(directory, name)
    frame = change(frame)
    frame.to_csv(directory / name, index=False)


def set_cell(column: str, row: int, value: str):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row - 1, column] = value
        return frame

    return change


def expect_error(directory: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        load_crm_dir(directory)
    message = str(caught.value)
    assert "\n" not in message
    return caught.value


def test_missing_file_is_named(crm_dir: Path) -> None:
    (crm_dir / "products.csv").unlink()
    error = expect_error(crm_dir)
    assert error.file == "products.csv" and "file not found" in str(error)


def test_missing_column_is_named(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", lambda f: f.drop(columns=["engage_date"]))
    error = expect_error(crm_dir)
    assert str(error).startswith("sales_pipeline.csv: required column 'engage_date' is missing")


def test_empty_file(crm_dir: Path) -> None:
    (crm_dir / "accounts.csv").write_text("")
    assert str(expect_error(crm_dir)) == "accounts.csv: file is empty (no header, no rows)"


def test_header_without_rows(crm_dir: Path) -> None:
    (crm_dir / "sales_teams.csv").write_text("sales_agent,manager,regional_office\n")
    assert str(expect_error(crm_dir)) == "sales_teams.csv: file has a header but no data rows"


def test_wrong_type_names_file_column_and_row(crm_dir: Path) -> None:
    damage(crm_dir, "accounts.csv", set_cell("revenue", 5, "lots"))
    error = expect_error(crm_dir)
    assert (error.file, error.column, error.row) == ("accounts.csv", "revenue", 5)
    assert str(error) == "accounts.csv, column 'revenue', row 5 (line 6): 'lots' is not a number"


def test_bad_date(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("engage_date", 3, "31/31/2017"))
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("engage_date", 3)
    assert "'31/31/2017' is not a date" in str(error)


def test_unknown_product(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("product", 7, "Hyperdrive 9000"))
    error = expect_error(crm_dir)
    assert str(error) == (
        "sales_pipeline.csv, column 'product', row 7 (line 8): unknown product 'Hyperdrive 9000' (not in products.csv)"
    )


def test_unknown_account(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("account", 2, "Nobody Inc"))
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("account", 2) and "not in accounts.csv" in str(error)


def test_unknown_deal_stage(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("deal_stage", 4, "Maybe"))
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("deal_stage", 4) and "unknown deal stage 'Maybe'" in str(error)


def test_duplicate_opportunity_id(crm_dir: Path) -> None:
    pipeline = read_raw(crm_dir, "sales_pipeline.csv")
    pipeline.loc[9, "opportunity_id"] = pipeline.loc[0, "opportunity_id"]
    write_pipeline(crm_dir, pipeline)
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("opportunity_id", 10) and "duplicate value" in str(error)


def test_won_deal_without_close_date(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("close_date", 1, ""))
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("close_date", 1) and "value is missing" in str(error)


def test_close_before_engage(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", set_cell("close_date", 1, "2010-01-01"))
    error = expect_error(crm_dir)
    assert (error.column, error.row) == ("close_date", 1) and "before engage_date" in str(error)


def test_single_class_is_refused_for_training(crm_dir: Path) -> None:
    damage(crm_dir, "sales_pipeline.csv", lambda f: f[f["deal_stage"] != "Lost"])
    data = from_crm(load_crm_dir(crm_dir))
    with pytest.raises(DataValidationError) as caught:
        data.require_both_outcomes()
    assert str(caught.value) == (
        "sales_pipeline.csv, column 'deal_stage': every closed deal is won: training needs both won and lost outcomes"
    )


def test_data_directory_missing(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="does not exist"):
        load_crm_dir(tmp_path / "nowhere")
