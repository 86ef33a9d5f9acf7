"""The four-file CRM schema: read, validate, clean and join into one frame of deals (leads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadwise.data.cleaning import (
    KNOWN_COUNTRIES,
    KNOWN_SECTORS,
    CleaningReport,
    canonicalise,
    first_bad_row,
    parse_dates,
    parse_numbers,
    read_csv_strict,
    require_values,
)
from leadwise.data.errors import DataValidationError
from leadwise.data.schemas import DEALS_SCHEMA, validate_contract

PIPELINE_FILE, ACCOUNTS_FILE, PRODUCTS_FILE, TEAMS_FILE = (
    "sales_pipeline.csv",
    "accounts.csv",
    "products.csv",
    "sales_teams.csv",
)
TOUCHPOINTS_FILE = "touchpoints.csv"  # optional: marketing touches, linked to deals by opportunity_id
PIPELINE_COLUMNS = (
    "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date",
    "close_value",
)  # fmt: skip
ACCOUNT_COLUMNS = ("account", "sector", "year_established", "revenue", "employees", "office_location")
PRODUCT_COLUMNS = ("product", "series", "sales_price")
TEAM_COLUMNS = ("sales_agent", "manager", "regional_office")
DEAL_STAGES = ("Won", "Lost", "Engaging", "Prospecting")
OPEN_STAGES = ("Engaging", "Prospecting")
ACCOUNT_FIELDS = ("sector", "year_established", "revenue", "employees", "office_location", "subsidiary_of")


@dataclass
class CrmHistory:
    """Cleaned CRM history. ``deals`` has one row per opportunity with its account, product and rep
    joined in, and ``won`` = 1.0 / 0.0 for closed deals and NaN for open ones (not training labels)."""

    deals: pd.DataFrame
    accounts: pd.DataFrame
    products: pd.DataFrame
    teams: pd.DataFrame
    source: Path
    report: CleaningReport = field(default_factory=CleaningReport)
    # ``touchpoints.csv`` when the directory has one (``lead_id`` = the deal's opportunity_id), else None.
    touches: pd.DataFrame | None = None

    @property
    def closed(self) -> pd.DataFrame:
        return self.deals[self.deals["won"].notna()]


def _unique(frame: pd.DataFrame, column: str, file: Path) -> None:
    duplicated = frame[column].duplicated() & frame[column].notna()
    if duplicated.any():
        row = first_bad_row(duplicated)
        raise DataValidationError(
            f"duplicate value '{frame[column].iloc[row - 1]}'", file=file, column=column, row=row
        )


def _known(frame: pd.DataFrame, column: str, known: pd.Index, file: Path, where: str) -> None:
    unknown = frame[column].notna() & ~frame[column].isin(known)
    if unknown.any():
        row = first_bad_row(unknown)
        raise DataValidationError(
            f"unknown {column} '{frame[column].iloc[row - 1]}' (not in {where})",
            file=file,
            column=column,
            row=row,
        )


def read_products(path: Path, report: CleaningReport) -> pd.DataFrame:
    products = read_csv_strict(path, PRODUCT_COLUMNS)
    for column in PRODUCT_COLUMNS:
        require_values(products, column, path)
    _unique(products, "product", path)
    products["sales_price"] = parse_numbers(products, "sales_price", path)
    return products[list(PRODUCT_COLUMNS)]


def read_accounts(path: Path, report: CleaningReport) -> pd.DataFrame:
    accounts = read_csv_strict(path, ACCOUNT_COLUMNS)
    require_values(accounts, "account", path)
    _unique(accounts, "account", path)
    if "subsidiary_of" not in accounts.columns:
        accounts["subsidiary_of"] = np.nan
    for column in ("year_established", "revenue", "employees"):
        accounts[column] = parse_numbers(accounts, column, path)
    accounts["sector"] = canonicalise(accounts, "sector", KNOWN_SECTORS, path, report, fuzzy_cutoff=0.85)
    accounts["office_location"] = canonicalise(
        accounts, "office_location", KNOWN_COUNTRIES, path, report, fuzzy_cutoff=0.85
    )
    return accounts[["account", *ACCOUNT_FIELDS]]


def read_teams(path: Path, report: CleaningReport) -> pd.DataFrame:
    teams = read_csv_strict(path, TEAM_COLUMNS)
    require_values(teams, "sales_agent", path)
    _unique(teams, "sales_agent", path)
    return teams[list(TEAM_COLUMNS)]


def read_pipeline(
    path: Path, products: pd.DataFrame, accounts: pd.DataFrame, teams: pd.DataFrame, report: CleaningReport
) -> pd.DataFrame:
    pipeline = read_csv_strict(path, PIPELINE_COLUMNS)
    for column in ("opportunity_id", "sales_agent", "product", "deal_stage"):
        require_values(pipeline, column, path)
    _unique(pipeline, "opportunity_id", path)

    pipeline["product"] = canonicalise(pipeline, "product", list(products["product"]), path, report)
    _known(pipeline, "product", pd.Index(products["product"]), path, PRODUCTS_FILE)
    pipeline["account"] = canonicalise(pipeline, "account", list(accounts["account"]), path, report)
    _known(pipeline, "account", pd.Index(accounts["account"]), path, ACCOUNTS_FILE)
    pipeline["deal_stage"] = canonicalise(pipeline, "deal_stage", DEAL_STAGES, path, report)
    unknown_stage = ~pipeline["deal_stage"].isin(DEAL_STAGES)
    if unknown_stage.any():
        row = first_bad_row(unknown_stage)
        raise DataValidationError(
            f"unknown deal stage '{pipeline['deal_stage'].iloc[row - 1]}' (expected one of {', '.join(DEAL_STAGES)})",
            file=path,
            column="deal_stage",
            row=row,
        )

    closed = pipeline["deal_stage"].isin(["Won", "Lost"])
    pipeline["engage_date"] = parse_dates(pipeline, "engage_date", path, report)
    pipeline["close_date"] = parse_dates(pipeline, "close_date", path, report)
    pipeline["close_value"] = parse_numbers(pipeline, "close_value", path)
    require_values(pipeline, "engage_date", path, where=closed)
    require_values(pipeline, "close_date", path, where=closed)
    require_values(pipeline, "close_value", path, where=pipeline["deal_stage"].eq("Won"))
    backwards = closed & (pipeline["close_date"] < pipeline["engage_date"])
    if backwards.any():
        raise DataValidationError(
            "close_date is before engage_date", file=path, column="close_date", row=first_bad_row(backwards)
        )
    # An open deal has no outcome yet: whatever close fields it carries are not facts.
    pipeline.loc[~closed, ["close_date", "close_value"]] = np.nan

    unknown_agents = ~pipeline["sales_agent"].isin(teams["sales_agent"])
    report.add(
        path.name, "sales_agent", f"agents not in {TEAMS_FILE} kept with no team", unknown_agents.sum()
    )
    report.add(path.name, "account", "open deals without an account kept (no account history)",
               (pipeline["account"].isna() & ~closed).sum())  # fmt: skip
    return pipeline[list(PIPELINE_COLUMNS)]


def load_crm_dir(path: str | Path) -> CrmHistory:
    """Read the four CRM files from a directory, validated and cleaned (every fix in ``report``)."""
    directory = Path(path)
    if not directory.is_dir():
        raise DataValidationError(f"data directory '{directory}' does not exist", file=None)
    report = CleaningReport()
    products = read_products(directory / PRODUCTS_FILE, report)
    accounts = read_accounts(directory / ACCOUNTS_FILE, report)
    teams = read_teams(directory / TEAMS_FILE, report)
    pipeline = read_pipeline(directory / PIPELINE_FILE, products, accounts, teams, report)

    deals = (
        pipeline.rename(columns={"opportunity_id": "lead_id"})
        .merge(products, on="product", how="left")
        .merge(accounts, on="account", how="left")
        .merge(teams, on="sales_agent", how="left")
    )
    deals["won"] = deals["deal_stage"].map({"Won": 1.0, "Lost": 0.0})  # open stages map to NaN
    deals = validate_contract(deals, DEALS_SCHEMA, "deals")
    touches = read_deal_touches(directory / TOUCHPOINTS_FILE, deals, report)
    return CrmHistory(
        deals=deals, accounts=accounts, products=products, teams=teams, source=directory, report=report,
        touches=touches,
    )  # fmt: skip


def read_deal_touches(path: Path, deals: pd.DataFrame, report: CleaningReport) -> pd.DataFrame | None:
    """The optional touchpoints file, validated (one-line errors naming file, column and row), or None.

    Touches name a deal by ``opportunity_id`` (or ``lead_id``); touches of unknown deals are dropped and
    reported (they may belong to leads that never became opportunities).
    """
    if not path.is_file():
        return None
    from leadwise.marketing.touchpoints import read_touchpoints

    touches = read_touchpoints(path)
    known = touches["lead_id"].isin(deals["lead_id"].astype(str))
    report.add(path.name, "lead_id", "touches of deals not in sales_pipeline.csv dropped", (~known).sum())
    return touches.loc[known, ["lead_id", "timestamp", "channel", "touch_type"]].reset_index(drop=True)


def require_both_outcomes(labels: pd.Series, file: str, column: str) -> None:
    """Training needs won and lost examples; say which one is missing."""
    closed = labels.dropna()
    if closed.empty:
        raise DataValidationError("no closed deals: nothing to learn from", file=file, column=column)
    if closed.nunique() < 2:
        only = "won" if closed.iloc[0] == 1 else "lost"
        raise DataValidationError(
            f"every closed deal is {only}: training needs both won and lost outcomes",
            file=file,
            column=column,
        )
