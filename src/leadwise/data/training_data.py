"""One shape for what the models learn from, whichever form the history came in.

``TrainingData.frame`` always has ``lead_id`` and ``won`` (NaN = no outcome yet), and when the source
has them ``sales_agent``, ``engage_date``, ``close_date`` and ``close_value``. The same preparation
turns new leads into that shape at scoring time, so training and serving cannot drift apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadwise.data.cleaning import DATE_FORMATS, CleaningReport, blank_placeholders, text_numbers
from leadwise.data.crm import (
    ACCOUNT_FIELDS,
    PIPELINE_COLUMNS,
    PRODUCT_COLUMNS,
    CrmHistory,
    require_both_outcomes,
)
from leadwise.data.errors import DataValidationError
from leadwise.data.schemas import TRAINING_FRAME_SCHEMA, validate_contract
from leadwise.data.table import LeadTable

CRM_NUMERIC = ["sales_price", "revenue", "employees", "account_age", "engage_month", "is_subsidiary"]
CRM_CATEGORICAL = ["product", "series", "sector", "office_location"]
# Segments whose past record (overall and per rep) becomes a feature. ``size_band`` is account revenue
# in tertiles of the accounts table.
CRM_SEGMENT_KEYS = ["account", "sector", "product", "series", "size_band"]
SIZE_BANDS = ["small", "mid", "large"]
# Leads: a DataFrame, or plain columns of equal length by name (``prepare_crm_columns``).
Columns = Mapping[str, Any] | pd.DataFrame


@dataclass
class CrmReference:
    """What scoring needs from the training data to complete a lead that names only its account."""

    accounts: pd.DataFrame
    products: pd.DataFrame
    teams: pd.DataFrame
    revenue_edges: tuple[float, float]

    def with_accounts(self, accounts: pd.DataFrame) -> CrmReference:
        return CrmReference(accounts, self.products, self.teams, self.revenue_edges)


@dataclass
class TrainingData:
    kind: Literal["crm", "table"]
    frame: pd.DataFrame
    numeric_features: list[str]
    categorical_features: list[str]
    segment_keys: list[str]
    source: Path
    report: CleaningReport = field(default_factory=CleaningReport)
    reference: CrmReference | None = None
    rep_attributes: pd.DataFrame | None = None  # one row per rep, indexed by sales_agent
    label_file: str = "sales_pipeline.csv"
    label_column: str = "deal_stage"
    # Single-table form: how to read a new lead's columns (id, rep, and each feature with its type).
    table_columns: dict[str, Any] = field(default_factory=dict)
    # Marketing touches (``lead_id, timestamp, channel, touch_type``) or None: engagement features then.
    touches: pd.DataFrame | None = None

    @property
    def has_time(self) -> bool:
        return "engage_date" in self.frame

    @property
    def has_rep(self) -> bool:
        return "sales_agent" in self.frame

    @property
    def has_value(self) -> bool:
        return "close_value" in self.frame

    @property
    def closed(self) -> pd.DataFrame:
        return self.frame[self.frame["won"].notna()]

    def require_both_outcomes(self) -> None:
        require_both_outcomes(self.frame["won"], self.label_file, self.label_column)


def derive_crm_features(columns: Columns, reference: CrmReference) -> dict[str, np.ndarray]:
    """The features computed from a lead's own fields (all known when it is engaged): the training
    history's deals and the leads scored later get them from this one definition.

    ``columns``: ``engage_date``, ``revenue``, ``year_established``, ``account``, ``subsidiary_of``.
    """
    engaged = np.asarray(columns["engage_date"], dtype="datetime64[ns]")
    undated = np.isnat(engaged)
    revenue = np.asarray(columns["revenue"], dtype=float)
    # pd.cut's right-closed bands: (-inf, low] small, (low, high] mid, (high, inf] large.
    low, high = reference.revenue_edges
    bins = np.array([-np.inf, low, high, np.inf])
    bands = np.searchsorted(bins, revenue, side="left")
    year = engaged.astype("datetime64[Y]").astype(np.int64) + 1970
    month = engaged.astype("datetime64[M]").astype(np.int64) % 12 + 1
    account_missing = np.array([_missing(account) for account in _listed(columns["account"])], dtype=bool)
    has_parent = np.array([not _missing(parent) for parent in _listed(columns["subsidiary_of"])], dtype=float)
    return {
        "size_band": np.array([SIZE_BANDS[b - 1] if 0 < b < len(bins) else np.nan for b in bands], dtype=object),
        "account_age": np.where(undated, np.nan, year - np.asarray(columns["year_established"], dtype=float)),
        "engage_month": np.where(undated, np.nan, month.astype(float)),
        "is_subsidiary": np.where(account_missing, np.nan, has_parent),
    }


def _listed(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def from_crm(history: CrmHistory) -> TrainingData:
    low, high = np.nanquantile(history.accounts["revenue"], [1 / 3, 2 / 3])
    reference = CrmReference(history.accounts, history.products, history.teams, (float(low), float(high)))
    frame = history.deals.assign(**derive_crm_features(history.deals, reference))
    frame = validate_contract(frame, TRAINING_FRAME_SCHEMA, "training frame")
    rep_attributes = history.teams.set_index("sales_agent")[["regional_office", "manager"]]
    return TrainingData(
        kind="crm",
        frame=frame,
        numeric_features=list(CRM_NUMERIC),
        categorical_features=list(CRM_CATEGORICAL),
        segment_keys=list(CRM_SEGMENT_KEYS),
        source=history.source,
        report=history.report,
        reference=reference,
        rep_attributes=rep_attributes,
        touches=history.touches,
    )


def from_table(table: LeadTable) -> TrainingData:
    frame = validate_contract(table.frame, TRAINING_FRAME_SCHEMA, "training frame")
    return TrainingData(
        kind="table",
        frame=frame,
        numeric_features=list(table.numeric_features),
        categorical_features=list(table.categorical_features),
        segment_keys=[],
        source=table.source,
        report=table.report,
        label_file=table.source.name,
        label_column=table.spec.target,
        table_columns={
            "id": table.spec.id,
            "rep": table.spec.rep,
            "features": {
                **{c: "date" if c in table.date_features else "numeric" for c in table.numeric_features},
                **dict.fromkeys(table.categorical_features, "categorical"),
            },
        },
    )


@dataclass(frozen=True)
class CrmLookup:
    """A ``CrmReference`` as dictionaries: leads are completed by lookups (``prepare_crm_columns``)."""

    reference: CrmReference
    products: dict[Any, tuple[Any, Any]]  # product -> (series, sales_price)
    squashed: dict[str, Any]  # name lower-cased without spaces -> product
    accounts: dict[Any, tuple[Any, ...]]  # account -> its ACCOUNT_FIELDS

    @classmethod
    def of(cls, reference: CrmReference) -> CrmLookup:
        """Refuses a reference whose names do not each stand for one product or one account."""
        products, accounts = reference.products, reference.accounts
        low, high = reference.revenue_edges
        if list(products.columns) != list(PRODUCT_COLUMNS) or not {"account", *ACCOUNT_FIELDS} <= set(accounts.columns):
            raise ValueError("the reference needs the products and accounts tables' columns")
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"the revenue bands' edges {low}, {high} do not increase")
        for table, named in (("products", products["product"]), ("accounts", accounts["account"])):
            if named.isna().any() or not named.is_unique:
                raise DataValidationError(f"the {table} table names a {table[:-1]} twice or not at all")
        names = products["product"].tolist()
        fields = accounts[list(ACCOUNT_FIELDS)].astype("object").itertuples(index=False, name=None)
        return cls(
            reference=reference,
            products=dict(zip(names, zip(products["series"].tolist(), products["sales_price"].tolist(), strict=True), strict=True)),
            squashed={name.lower().replace(" ", ""): name for name in names},
            accounts=dict(zip(accounts["account"].tolist(), fields, strict=True)),
        )


# The columns a CRM lead to score may have: what completes or describes it, and its id under either
# name (``opportunity_id`` is the pipeline file's own). The pipeline's other columns are known and unused
# (a lead being scored has no stage, close date or value yet; its rep is what scoring ranks).
CRM_LEAD_COLUMNS = ("lead_id", "opportunity_id", "account", "product", "engage_date", *ACCOUNT_FIELDS)
UNUSED_PIPELINE_COLUMNS = tuple(c for c in PIPELINE_COLUMNS if c not in CRM_LEAD_COLUMNS) + PRODUCT_COLUMNS[1:]


def crm_leads_to_score(raw: pd.DataFrame, *, file: str) -> tuple[pd.DataFrame, list[str]]:
    """A CSV of CRM leads checked before scoring: a column that reads as a misspelt known one (``acount``)
    is a ``DataValidationError`` naming it and the known name, since scoring without it would be wrong
    silently; ``opportunity_id`` serves as the lead id. Returns the leads and the columns scoring does
    not use (the pipeline's outcome columns, anything else unknown), to name them."""
    known = (*CRM_LEAD_COLUMNS, *UNUSED_PIPELINE_COLUMNS)
    for column in raw.columns:
        if column not in known and (close := difflib.get_close_matches(str(column), known, n=1, cutoff=0.8)):
            raise DataValidationError(f"unknown column (did you mean '{close[0]}'?)", file=file, column=str(column))
    if "lead_id" not in raw.columns and "opportunity_id" in raw.columns:
        raw = raw.rename(columns={"opportunity_id": "lead_id"})
    unused = [str(c) for c in raw.columns if c not in CRM_LEAD_COLUMNS or c == "opportunity_id"]
    return raw.drop(columns=unused), unused


def prepare_crm_columns(
    leads: pd.DataFrame | Mapping[str, Sequence[Any]], lookup: CrmLookup, *, file: str = "leads"
) -> dict[str, np.ndarray]:
    """Complete raw CRM leads (``lead_id``, ``product``, ``account`` or the account fields, optional
    ``engage_date``) with product and account data, then derive the features: the columns the features
    read (and ``lead_id``).

    A lead naming an account known to the reference takes its firmographics from there; fields the lead
    carries itself win over the reference, so a new account can be scored from its own fields. ``leads``
    is a frame with unique column names, or columns of equal length by name (the scoring service builds
    those: a frame of one row costs more than the lookups).
    """
    if isinstance(leads, pd.DataFrame):
        if not leads.columns.is_unique:
            raise DataValidationError("the leads name a column twice", file=file)
        # One conversion for every column: cheaper than a Series per column, the same Python values.
        cells = leads.to_numpy(dtype=object)
        given: dict[str, Any] = {name: cells[:, k].tolist() for k, name in enumerate(leads.columns)}
    else:
        given = dict(leads)
    if "product" not in given:
        raise DataValidationError("required column 'product' is missing", file=file)
    n = len(leads) if isinstance(leads, pd.DataFrame) else len(given["product"])

    def column(name: str) -> list[Any]:
        values = given.get(name)
        if values is None:
            return [np.nan] * n
        return values.tolist() if isinstance(values, np.ndarray) else list(values)

    lead_ids = [str(i + 1) for i in range(n)]
    if "lead_id" in given:
        lead_ids = column("lead_id")
        if not all(type(lead_id) is str for lead_id in lead_ids):
            lead_ids = pd.Series(lead_ids, dtype=object).astype(str).tolist()
    products = []
    for row, value in enumerate(column("product"), start=1):
        product = lookup.squashed.get(str(value).lower().replace(" ", ""), value)
        if product not in lookup.products:
            raise DataValidationError(f"unknown product '{product}'", file=file, column="product", row=row)
        products.append(product)
    accounts = column("account")
    known = [lookup.accounts.get(account) for account in accounts]
    # A lead's own account fields win over the reference's (a new account scored from its own fields).
    fields: dict[str, np.ndarray] = {}
    for position, name in enumerate(ACCOUNT_FIELDS):
        values = [
            value if not _missing(value) else np.nan if reference is None else reference[position]
            for value, reference in zip(column(name), known, strict=True)
        ]
        numeric = name in ("year_established", "revenue", "employees")
        fields[name] = _numbers(values, name, file) if numeric else np.array(values, dtype=object)
    engaged = _engage_times(leads, n, file)
    columns = {
        "lead_id": np.array(lead_ids, dtype=object),
        "product": np.array(products, dtype=object),
        "series": np.array([lookup.products[p][0] for p in products], dtype=object),
        "sales_price": np.array([lookup.products[p][1] for p in products], dtype=float),
        "account": np.array(accounts, dtype=object),
        **fields,
        "engage_date": engaged,
    }
    return {**columns, **derive_crm_features(columns, lookup.reference)}


def _engage_times(leads: pd.DataFrame | Mapping[str, Sequence[Any]], n: int, file: str) -> np.ndarray:
    """``_lead_times`` of ``n`` leads as datetime64[ns]; in numpy when the column already holds naive
    datetimes within the nanosecond range (the scoring service's case), else through ``_lead_times``."""
    if "engage_date" in leads:
        given = leads["engage_date"]
        values = given.to_numpy() if isinstance(given, pd.Series) else np.asarray(given)
        if values.dtype.kind == "M":
            known = values[~np.isnat(values)]
            if len(known) and known.min() >= np.datetime64("1678-01-01") and known.max() < np.datetime64("2262-01-01"):
                times = values.astype("datetime64[ns]")
                times[np.isnat(times)] = pd.Timestamp.now().normalize().asm8.astype("datetime64[ns]")
                return times
        frame = pd.DataFrame({"engage_date": given.tolist() if isinstance(given, pd.Series) else list(given)})
    else:
        frame = pd.DataFrame(index=range(n))
    return _lead_times(frame, file).to_numpy(dtype="datetime64[ns]")


def _missing(value: Any) -> bool:
    missing = pd.isna(value)
    return bool(missing) if isinstance(missing, bool | np.bool_) else False


def _numbers(values: list[Any], column: str, file: str) -> np.ndarray:
    """``pd.to_numeric(errors="coerce")``, with an error naming the first value that is not a number."""
    if all(value is None or isinstance(value, float | np.floating) for value in values):
        numbers = np.array([np.nan if value is None else float(value) for value in values])
    else:
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    for row, (number, value) in enumerate(zip(numbers, values, strict=True), start=1):
        if np.isnan(number) and not _missing(value):
            raise DataValidationError(f"'{value}' is not a number", file=file, column=column, row=row)
    return numbers


def prepare_table_leads(
    leads: pd.DataFrame, data_columns: Mapping[str, Any], *, file: str = "leads"
) -> pd.DataFrame:
    """Single-table leads: the feature columns named as in training (``f_`` + original name)."""
    out = pd.DataFrame(index=range(len(leads)))
    raw = leads.reset_index(drop=True)
    out["lead_id"] = (
        raw[data_columns["id"]].astype(str) if data_columns.get("id") in raw else (out.index + 1).astype(str)
    )
    if data_columns.get("rep") and data_columns["rep"] in raw:
        out["sales_agent"] = raw[data_columns["rep"]].astype(str)
    for name, kind in data_columns["features"].items():
        original = name.removeprefix("f_")
        if original not in raw:
            raise DataValidationError(f"required feature column '{original}' is missing", file=file)
        column = blank_placeholders(raw[original])
        if kind == "numeric":
            numbers = text_numbers(column)
            bad = numbers.isna() & column.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
                raise DataValidationError(
                    f"'{column.iloc[row - 1]}' is not a number", file=file, column=original, row=row
                )
            out[name] = numbers.astype(float)
        elif kind == "date":
            parsed = _parse_any_date(column.astype("object"))
            out[name] = (parsed - pd.Timestamp("1970-01-01")).dt.days.astype(float)
        else:
            out[name] = column.astype("object").where(column.notna(), np.nan)
    return out


def _parse_any_date(text: pd.Series) -> pd.Series:
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt, _ in DATE_FORMATS:
        todo = parsed.isna() & text.notna()
        if todo.any():
            parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce").astype("datetime64[ns]")
    return parsed


def _lead_times(leads: pd.DataFrame, file: str) -> pd.Series:
    """The moment each lead is scored: its ``engage_date``, or now when it has none."""
    if "engage_date" not in leads or leads["engage_date"].isna().all():
        return pd.Series(pd.Timestamp.now().normalize(), index=leads.index, dtype="datetime64[ns]")
    values = leads["engage_date"]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.astype("datetime64[ns]")
    else:
        parsed = _parse_any_date(values.astype("object"))
        bad = parsed.isna() & values.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise DataValidationError(
                f"'{values.iloc[row - 1]}' is not a date", file=file, column="engage_date", row=row
            )
    return parsed.fillna(pd.Timestamp.now().normalize())
