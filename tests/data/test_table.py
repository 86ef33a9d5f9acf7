"""A plain single-table lead CSV: columns typed automatically, outcomes parsed, errors located."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadwise.data.errors import DataValidationError
from leadwise.data.table import TableSpec, load_lead_table


def write(tmp_path: Path, rows: dict) -> Path:
    path = tmp_path / "leads.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_columns_are_typed_and_outcomes_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "id": ["a", "b", "c", "d"],
            "converted": ["yes", "no", "", "Won"],
            "employees": ["10", "1,200", "30", ""],
            "source": ["web", "event", "web", "partner"],
            "signup": ["2024-01-02", "2024-02-03", "2024-03-04", "2024-04-05"],
            "owner": ["ann", "bob", "ann", "bob"],
        },
    )
    table = load_lead_table(path, TableSpec(target="converted", id="id", rep="owner"))
    assert table.frame["won"].tolist()[:2] == [1.0, 0.0] and pd.isna(table.frame["won"][2])
    assert table.frame["won"][3] == 1.0
    assert table.numeric_features == ["f_employees", "f_signup"] and table.date_features == ["f_signup"]
    assert table.categorical_features == ["f_source"]
    assert table.frame["f_employees"].tolist()[:2] == [10.0, 1200.0]
    assert table.frame["sales_agent"].tolist() == ["ann", "bob", "ann", "bob"]


def test_unknown_outcome_word_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, {"converted": ["1", "0", "perhaps"], "x": ["1", "2", "3"]})
    with pytest.raises(DataValidationError) as caught:
        load_lead_table(path, TableSpec(target="converted"))
    assert str(caught.value).startswith("leads.csv, column 'converted', row 3 (line 4): 'perhaps' is not an outcome")


def test_missing_target_column(tmp_path: Path) -> None:
    path = write(tmp_path, {"x": ["1"]})
    with pytest.raises(DataValidationError, match="required column 'won' is missing"):
        load_lead_table(path, TableSpec(target="won"))


def test_excluded_and_identifier_columns_are_not_features(tmp_path: Path) -> None:
    n = 400
    path = write(
        tmp_path,
        {
            "won": ["1", "0"] * (n // 2),
            "email": [f"user{i}@example.com" for i in range(n)],
            "score_from_vendor": ["0.5"] * n,
            "region": ["north", "south"] * (n // 2),
        },
    )
    table = load_lead_table(path, TableSpec(target="won", exclude=("score_from_vendor",)))
    assert table.categorical_features == ["f_region"] and table.numeric_features == []
    assert any(fix.column == "email" for fix in table.report.fixes)


def test_placeholders_text_numbers_near_constant_and_id_columns(tmp_path: Path) -> None:
    n = 200
    path = write(
        tmp_path,
        {
            "won": ["1", "0"] * (n // 2),
            "lead_number": [str(660_000 + i) for i in range(n)],  # distinct integers: a record id
            "source": (["Select", "web", "N/A", "event", " unknown ", "-"] * n)[:n],
            "budget": (["$1,200", "45%", "Select", "300"] * n)[:n],  # numbers as text, a placeholder
            "magazine": ["No"] * (n - 1) + ["Yes"],  # one row differs: nearly constant
            "flag": ["No"] * (n - 20) + ["Yes"] * 20,  # 20 rows differ: kept
        },
    )
    table = load_lead_table(path, TableSpec(target="won"))
    assert table.numeric_features == ["f_budget"] and table.categorical_features == ["f_source", "f_flag"]
    budget = table.frame["f_budget"]
    assert budget[[0, 1, 3]].tolist() == [1200.0, 45.0, 300.0] and pd.isna(budget[2])
    assert set(table.frame["f_source"].dropna()) == {"web", "event"}
    left_out = {fix.column: fix.description for fix in table.report.fixes}
    assert "identifier" in left_out["lead_number"] and "near-constant" in left_out["magazine"]
    assert "placeholders" in left_out["source"] and "placeholders" in left_out["budget"]
