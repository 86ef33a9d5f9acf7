"""The known dirt of the bundled data is fixed, and every fix is reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from leadwise.data.crm import load_crm_dir

from ..conftest import read_raw, write_pipeline


def fixes_by_column(history) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for fix in history.report.fixes:
        out.setdefault(fix.column, []).append(fix.description)
    return out


def test_bundled_dirt_is_fixed_and_reported(bundled_dir: Path) -> None:
    history = load_crm_dir(bundled_dir)
    deals = history.deals
    assert "GTXPro" not in set(deals["product"]) and (deals["product"] == "GTX Pro").sum() == 1480
    assert "technolgy" not in set(history.accounts["sector"]) and "technology" in set(history.accounts["sector"])
    fixes = fixes_by_column(history)
    assert "'GTXPro' corrected to 'GTX Pro'" in fixes["product"]
    assert "'technolgy' corrected to 'technology'" in fixes["sector"]
    assert any("M/D/YYYY" in text for text in fixes["engage_date"])
    counts = {(f.column, f.description): f.rows for f in history.report.fixes}
    assert counts[("product", "'GTXPro' corrected to 'GTX Pro'")] == 1480


def test_open_deals_are_not_labels_and_lost_values_are_not_kept_as_facts(bundled_dir: Path) -> None:
    deals = load_crm_dir(bundled_dir).deals
    open_deals = deals["deal_stage"].isin(["Engaging", "Prospecting"])
    assert deals.loc[open_deals, "won"].isna().all()
    assert set(deals.loc[~open_deals, "won"]) == {0.0, 1.0}
    assert deals.loc[open_deals, "account"].isna().sum() == 1425  # open deals without account are kept


def test_mixed_date_formats_and_spacing_variants(crm_dir: Path) -> None:
    pipeline = read_raw(crm_dir, "sales_pipeline.csv")
    pipeline.loc[0, "engage_date"] = "2016-10-20"  # ISO beside M/D/YYYY
    pipeline.loc[1, "product"] = "gtx  pro"  # case and spacing variant
    write_pipeline(crm_dir, pipeline)
    deals = load_crm_dir(crm_dir).deals
    assert deals.loc[0, "engage_date"] == pd.Timestamp("2016-10-20")
    assert deals.loc[1, "engage_date"] == pd.Timestamp("2016-10-25")
    assert deals.loc[1, "product"] == "GTX Pro"


def test_sector_far_from_any_known_name_is_kept(crm_dir: Path) -> None:
    accounts = read_raw(crm_dir, "accounts.csv")
    accounts.loc[0, "sector"] = "aerospace"
    accounts.to_csv(crm_dir / "accounts.csv", index=False)
    history = load_crm_dir(crm_dir)
    assert history.accounts.loc[0, "sector"] == "aerospace"
