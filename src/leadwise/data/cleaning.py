"""Reading CSV files strictly and fixing the known dirt of CRM exports, reporting every fix."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from leadwise.data.errors import DataValidationError

# Sector names a CRM export uses; a value that is not one of them but close to one is a typo of it
# (the bundled data spells "technolgy"). Values far from all of them are kept as they are.
KNOWN_SECTORS = (
    "technology", "medical", "retail", "software", "finance", "marketing", "telecommunications",
    "entertainment", "services", "employment", "manufacturing", "education", "energy", "healthcare",
    "government", "insurance", "logistics", "media", "real estate", "hospitality", "automotive",
)  # fmt: skip
KNOWN_COUNTRIES = (
    "United States", "Philippines", "Kenya", "Japan", "Italy", "Norway", "Korea", "Jordan", "Brazil",
    "Germany", "Panama", "Belgium", "Romania", "Poland", "China", "France", "Spain", "United Kingdom",
    "Canada", "Mexico", "India", "Netherlands", "Sweden", "Switzerland", "Australia", "Portugal",
)  # fmt: skip

# Date layouts accepted, tried in order; ISO first so that an ISO date is never read as anything else.
DATE_FORMATS = (("ISO8601", "YYYY-MM-DD"), ("%m/%d/%Y", "M/D/YYYY"), ("%Y/%m/%d", "YYYY/MM/DD"))


@dataclass(frozen=True)
class Fix:
    """One kind of correction applied to the input, with how many rows it touched."""

    file: str
    column: str
    description: str
    rows: int

    def __str__(self) -> str:
        return f"{self.file} [{self.column}] {self.description} ({self.rows} rows)"


@dataclass
class CleaningReport:
    fixes: list[Fix] = field(default_factory=list)

    def add(self, file: str, column: str, description: str, rows: int) -> None:
        if rows:
            self.fixes.append(Fix(file, column, description, int(rows)))


def read_csv_strict(path: Path, required_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as text, with every required column present and at least one data row."""
    if not path.is_file():
        raise DataValidationError("file not found", file=path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataValidationError("file is empty (no header, no rows)", file=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataValidationError(f"not a readable CSV file: {error}", file=path) from None
    frame.columns = [str(column).strip() for column in frame.columns]
    missing = [column for column in required_columns if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"required column '{missing[0]}' is missing (columns found: {', '.join(frame.columns)})",
            file=path,
        )
    if frame.empty:
        raise DataValidationError("file has a header but no data rows", file=path)
    for column in frame.columns:
        # pandas-stubs type ``.str.strip()`` as Series[str], whose replace() only takes str values; NaN
        # (a missing value) is valid, so the strip is typed as a plain Series.
        frame[column] = cast(pd.Series, frame[column].str.strip()).replace("", np.nan)
    return frame


def first_bad_row(mask: pd.Series) -> int:
    """1-based data row of the first True in a boolean mask aligned to a freshly read frame."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def require_values(frame: pd.DataFrame, column: str, file: Path, where: pd.Series | None = None) -> None:
    missing = frame[column].isna()
    if where is not None:
        missing &= where
    if missing.any():
        raise DataValidationError("value is missing", file=file, column=column, row=first_bad_row(missing))


# Values that web forms and CRMs write where nothing was chosen ("Select" is a drop-down's unchanged
# first entry): they mean missing, and read as such in single-table leads, in training and in scoring.
PLACEHOLDERS = frozenset(
    {"select", "n/a", "na", "none", "null", "nil", "-", "--", "?", "unknown", "not specified", "not available"}
)


def blank_placeholders(values: pd.Series) -> pd.Series:
    """``values`` with every placeholder (``PLACEHOLDERS``, any case, surrounding spaces) as missing."""
    if values.dtype.kind in "fiub":  # numbers already: nothing to read
        return values
    words = values.astype("object").where(values.notna(), None).astype("string").str.strip().str.lower()
    return values.where(~words.isin(PLACEHOLDERS).fillna(False).astype(bool), np.nan)


# Currency signs, thousands separators and a trailing percent sign around a number written as text.
_NUMBER_DECORATION = re.compile(r"^[$€£¥]\s*|,|\s*%$")


def text_numbers(values: pd.Series) -> pd.Series:
    """Numbers written as text (``1,200``, ``$3,000.50``, ``45%``) as floats; NaN where a value is not one."""
    if values.dtype.kind in "fiub":
        return values.astype(float)
    text = values.astype("object").where(values.notna(), None).astype("string").str.strip()
    return pd.to_numeric(text.str.replace(_NUMBER_DECORATION, "", regex=True), errors="coerce").astype(float)


def parse_numbers(frame: pd.DataFrame, column: str, file: Path) -> pd.Series:
    """Numbers written as text (``text_numbers``); anything else is an error naming the row."""
    numbers = text_numbers(frame[column])
    bad = numbers.isna() & frame[column].notna()
    if bad.any():
        row = first_bad_row(bad)
        raise DataValidationError(
            f"'{frame[column].iloc[row - 1]}' is not a number", file=file, column=column, row=row
        )
    return numbers.astype(float)


def parse_dates(frame: pd.DataFrame, column: str, file: Path, report: CleaningReport) -> pd.Series:
    """Dates in any of ``DATE_FORMATS`` (mixed within a column is fine); reports the non-ISO ones."""
    text = frame[column]
    parsed = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for fmt, label in DATE_FORMATS:
        todo = parsed.isna() & text.notna()
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        parsed[todo] = attempt.astype("datetime64[ns]")
        if fmt != "ISO8601":
            report.add(file.name, column, f"dates written {label} read as {label}", attempt.notna().sum())
    bad = parsed.isna() & text.notna()
    if bad.any():
        row = first_bad_row(bad)
        accepted = ", ".join(label for _, label in DATE_FORMATS)
        raise DataValidationError(
            f"'{text.iloc[row - 1]}' is not a date (accepted: {accepted})", file=file, column=column, row=row
        )
    return parsed


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def canonicalise(
    frame: pd.DataFrame,
    column: str,
    vocabulary: list[str] | tuple[str, ...],
    file: Path,
    report: CleaningReport,
    *,
    fuzzy_cutoff: float | None = None,
) -> pd.Series:
    """Map spelling variants onto the vocabulary and report each mapping.

    A value matches a vocabulary entry when both are equal ignoring case, spaces and punctuation
    ("GTXPro" is "GTX Pro"); with ``fuzzy_cutoff`` a close typo also matches ("technolgy").
    Values that match nothing are returned unchanged: the caller decides whether that is an error.
    """
    by_squashed = {_squash(word): word for word in vocabulary}
    mapping: dict[str, str] = {}
    for value in frame[column].dropna().unique():
        if value in vocabulary:
            continue
        target = by_squashed.get(_squash(value))
        if target is None and fuzzy_cutoff is not None:
            close = difflib.get_close_matches(value.lower(), [w.lower() for w in vocabulary], 1, fuzzy_cutoff)
            if close:
                target = next(word for word in vocabulary if word.lower() == close[0])
        if target is not None:
            mapping[value] = target
    for value, target in mapping.items():
        report.add(file.name, column, f"'{value}' corrected to '{target}'", (frame[column] == value).sum())
    return frame[column].replace(mapping) if mapping else frame[column]
