"""A plain single-table lead CSV: one target column, optional id/rep/value/time, every other column a feature."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leadwise.data.cleaning import (
    DATE_FORMATS,
    CleaningReport,
    blank_placeholders,
    first_bad_row,
    parse_dates,
    parse_numbers,
    read_csv_strict,
    text_numbers,
)
from leadwise.data.errors import DataValidationError

TRUE_WORDS = {"1", "1.0", "true", "yes", "y", "won", "win", "converted", "closed won"}
FALSE_WORDS = {"0", "0.0", "false", "no", "n", "lost", "loss", "not converted", "closed lost"}
# A text column with more distinct values than this, most of them unique, is an identifier or free
# text, not a category: LightGBM would memorise it.
MAX_CATEGORY_LEVELS = 200
# A column where fewer rows than this (and than 1 % of them) differ from its most common value (missing
# counting as a value) says almost nothing: a split on it would rest on a handful of leads.
NEAR_CONSTANT_ROWS = 10
# An integer column with a distinct value on every one of at least this many rows is a row number or a
# record id (a "Lead Number"), not a quantity: it can only teach the models the order the file was kept in.
IDENTIFIER_MIN_ROWS = 100


@dataclass(frozen=True)
class TableSpec:
    target: str
    id: str | None = None
    rep: str | None = None
    value: str | None = None
    time: str | None = None
    exclude: tuple[str, ...] = ()

    def named_columns(self) -> list[str]:
        return [c for c in (self.target, self.id, self.rep, self.value, self.time) if c]


@dataclass
class LeadTable:
    """A single-table history mapped onto the names leadwise uses everywhere: ``lead_id``, ``won``
    (1.0 / 0.0 / NaN for rows without an outcome), ``sales_agent``, ``close_value``, ``engage_date``."""

    frame: pd.DataFrame
    numeric_features: list[str]
    categorical_features: list[str]
    date_features: list[str]
    spec: TableSpec
    source: Path
    report: CleaningReport = field(default_factory=CleaningReport)


def parse_target(frame: pd.DataFrame, column: str, file: Path) -> pd.Series:
    words = frame[column].str.lower()
    labels = pd.Series(np.nan, index=frame.index)
    labels[words.isin(TRUE_WORDS)] = 1.0
    labels[words.isin(FALSE_WORDS)] = 0.0
    unknown = labels.isna() & words.notna()
    if unknown.any():
        row = first_bad_row(unknown)
        raise DataValidationError(
            f"'{frame[column].iloc[row - 1]}' is not an outcome (use 1/0, true/false, yes/no or won/lost; "
            "leave empty for leads without an outcome yet)",
            file=file,
            column=column,
            row=row,
        )
    return labels


def infer_feature_type(values: pd.Series) -> str:
    """'numeric', 'date' or 'categorical' from the text of a column (placeholders already missing);
    'identifier' for ID-like text or integers, 'empty', or 'near-constant' for a column of one value."""
    present = values.dropna()
    if present.empty:
        return "empty"
    counts = values.value_counts(dropna=False)
    if len(values) - counts.iloc[0] < min(NEAR_CONSTANT_ROWS, 0.01 * len(values)):
        return "near-constant"
    numbers = text_numbers(present)
    if numbers.notna().all():
        distinct_integers = bool((numbers == np.round(numbers)).all()) and numbers.is_unique
        if distinct_integers and len(present) == len(values) >= IDENTIFIER_MIN_ROWS:
            return "identifier"
        return "numeric"
    for fmt, _ in DATE_FORMATS:
        if pd.to_datetime(present, format=fmt, errors="coerce").notna().all():
            return "date"
    levels = present.nunique()
    if levels > MAX_CATEGORY_LEVELS and levels > 0.5 * len(present):
        return "identifier"
    return "categorical"


_LEFT_OUT = {
    "empty": "left out as a feature (empty: no values once placeholders are read as missing)",
    "near-constant": "left out as a feature (near-constant: nearly every row holds the same value)",
    "identifier": "left out as a feature (identifier: no repeated values to learn from)",
}


def load_lead_table(path: str | Path, spec: TableSpec) -> LeadTable:
    file = Path(path)
    frame = read_csv_strict(file, tuple(spec.named_columns()))
    report = CleaningReport()
    unknown_excludes = [c for c in spec.exclude if c not in frame.columns]
    if unknown_excludes:
        raise DataValidationError(
            f"--exclude names column '{unknown_excludes[0]}', which is not in the file", file=file
        )

    out = pd.DataFrame(index=frame.index)
    out["won"] = parse_target(frame, spec.target, file)
    if spec.id:
        ids = frame[spec.id]
        missing = ids.isna()
        if missing.any():
            raise DataValidationError("id is missing", file=file, column=spec.id, row=first_bad_row(missing))
        duplicated = ids.duplicated()
        if duplicated.any():
            row = first_bad_row(duplicated)
            raise DataValidationError(
                f"duplicate id '{ids.iloc[row - 1]}'", file=file, column=spec.id, row=row
            )
        out["lead_id"] = ids.astype(str)
    else:
        out["lead_id"] = (frame.index + 1).astype(str)  # the data row number
    if spec.rep:
        missing = frame[spec.rep].isna()
        if missing.any():
            raise DataValidationError(
                "rep is missing", file=file, column=spec.rep, row=first_bad_row(missing)
            )
        out["sales_agent"] = frame[spec.rep]
    if spec.value:
        out["close_value"] = parse_numbers(frame, spec.value, file)
    if spec.time:
        out["engage_date"] = parse_dates(frame, spec.time, file, report)
        missing = out["engage_date"].isna()
        if missing.any():
            raise DataValidationError(
                "time is missing", file=file, column=spec.time, row=first_bad_row(missing)
            )

    numeric, categorical, dates = [], [], []
    for column in frame.columns:
        if column in spec.named_columns() or column in spec.exclude:
            continue
        blanked = blank_placeholders(frame[column])
        report.add(file.name, column, "placeholders ('Select', 'N/A', 'unknown', '-'...) read as missing",
                   int((blanked.isna() & frame[column].notna()).sum()))  # fmt: skip
        frame[column] = blanked
        kind = infer_feature_type(frame[column])
        name = f"f_{column}"  # prefixed so that a feature can never clash with leadwise's own columns
        if kind == "numeric":
            out[name] = parse_numbers(frame, column, file)
            numeric.append(name)
        elif kind == "date":
            # A date feature becomes days since the epoch: comparable across rows, usable by any model.
            parsed = parse_dates(frame, column, file, report)
            out[name] = (parsed - pd.Timestamp("1970-01-01")).dt.days.astype(float)
            dates.append(name)
        elif kind == "categorical":
            out[name] = frame[column]
            categorical.append(name)
        else:
            report.add(file.name, column, _LEFT_OUT[kind], len(frame))
    if not numeric + categorical + dates:
        raise DataValidationError(
            "no feature columns left once target, id, rep, value, time and --exclude are taken", file=file
        )
    return LeadTable(out, numeric + dates, categorical, dates, spec, file, report)
