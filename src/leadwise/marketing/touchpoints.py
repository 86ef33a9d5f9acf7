"""Reading and validating marketing touchpoints, and the outcomes they are attributed to.

``touchpoints.csv`` sits beside the four CRM files and is optional: the product works without it.
One row per touch::

    lead_id | opportunity_id, timestamp, channel, touch_type, [campaign], [cost]

The single-table form adds the journey's outcome to every row: ``converted`` (1/0, true/false,
won/lost) and optional ``revenue``; then no ``sales_pipeline.csv`` is needed.

Bad input raises :class:`TouchpointsError`, whose text is one line naming file, column and row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from leadwise.data.cleaning import CleaningReport, parse_dates, parse_numbers, read_csv_strict
from leadwise.data.errors import DataValidationError

TouchTypeName = Literal[
    "visit",
    "content_download",
    "demo_request",
    "webinar_attended",
    "quote_request",
    "email_click",
    "call",
]
TOUCH_TYPES: tuple[str, ...] = get_args(TouchTypeName)
ID_COLUMNS = ("lead_id", "opportunity_id")
REQUIRED_COLUMNS = ("timestamp", "channel", "touch_type")
TOUCHPOINT_COLUMNS = ("lead_id", "timestamp", "channel", "touch_type", "campaign", "cost")
# ``to_numpy(na_value=None)``: missing values as None. pandas-stubs type na_value as a scalar, but None is
# valid (pandas: "na_value : Any"), so it is passed as Any.
_NONE: Any = None
_TRUE = {"1", "true", "yes", "won", "y", "t"}
_FALSE = {"0", "false", "no", "lost", "n", "f"}


class TouchpointsError(DataValidationError):
    """Bad touchpoint or outcome data; ``str()`` is one line naming file, column and row."""


def _first_row(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def normalise_touch_type(values: pd.Series) -> pd.Series:
    # "Demo Request", "demo-request" and "demo_request" are the same act written by different tools.
    return values.str.strip().str.lower().str.replace(r"[\s\-]+", "_", regex=True)


def _reraise(error: DataValidationError) -> TouchpointsError:
    return TouchpointsError(error.detail, file=error.file, column=error.column, row=error.row)


def validate_touchpoints(frame: pd.DataFrame, *, file: str | Path = "touchpoints.csv") -> pd.DataFrame:
    """Check and normalise a touchpoints frame whose values may still be text.

    Returns a new frame with ``lead_id`` (str), ``timestamp`` (datetime64), ``channel`` (str),
    ``touch_type`` (one of :data:`TOUCH_TYPES`), ``campaign`` (str or missing), ``cost`` (float ≥ 0)
    and, in the single-table form, ``converted`` (bool) and ``revenue`` (float).
    """
    path = Path(file)
    id_column = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if id_column is None:
        raise TouchpointsError(
            f"needs a 'lead_id' or 'opportunity_id' column (columns found: {', '.join(map(str, frame.columns))})",
            file=path,
        )
    for column in REQUIRED_COLUMNS:
        if column not in frame.columns:
            raise TouchpointsError(
                f"required column '{column}' is missing (columns found: {', '.join(map(str, frame.columns))})",
                file=path,
            )
    if frame.empty:
        raise TouchpointsError("file has a header but no data rows", file=path)

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for column, target in ((id_column, "lead_id"), ("channel", "channel"), ("touch_type", "touch_type")):
        values = frame[column].astype("string").str.strip().to_numpy(dtype=object, na_value=_NONE)
        missing = pd.isna(values) | (values == "")
        if missing.any():
            raise TouchpointsError("value is missing", file=path, column=column, row=_first_row(missing))
        out[target] = values

    touch = normalise_touch_type(pd.Series(out["touch_type"]))
    bad = ~touch.isin(TOUCH_TYPES).to_numpy()
    if bad.any():
        row = _first_row(bad)
        raise TouchpointsError(
            f"'{frame['touch_type'].iloc[row - 1]}' is not a touch type (accepted: {', '.join(TOUCH_TYPES)})",
            file=path,
            column="touch_type",
            row=row,
        )
    out["touch_type"] = touch.to_numpy()

    try:
        if pd.api.types.is_datetime64_any_dtype(frame["timestamp"]):
            stamps = pd.Series(frame["timestamp"].to_numpy(dtype="datetime64[ns]"))
            missing = stamps.isna().to_numpy()
            if missing.any():
                raise TouchpointsError(
                    "value is missing", file=path, column="timestamp", row=_first_row(missing)
                )
        else:
            text = frame[["timestamp"]].astype("string").reset_index(drop=True)
            text["timestamp"] = text["timestamp"].str.strip().replace({"": pd.NA})
            missing = text["timestamp"].isna().to_numpy()
            if missing.any():
                raise TouchpointsError(
                    "value is missing", file=path, column="timestamp", row=_first_row(missing)
                )
            stamps = parse_dates(text.astype(object), "timestamp", path, CleaningReport())
        out["timestamp"] = stamps.to_numpy()

        out["campaign"] = (
            frame["campaign"]
            .astype("string")
            .str.strip()
            .replace({"": pd.NA})
            .to_numpy(dtype=object, na_value=_NONE)
            if "campaign" in frame.columns
            else None
        )
        out["cost"] = _non_negative(frame, "cost", path, default=0.0)
        if "converted" in frame.columns:
            out["converted"] = _booleans(frame, "converted", path)
            out["revenue"] = _non_negative(frame, "revenue", path, default=0.0)
    except TouchpointsError:
        raise
    except DataValidationError as error:
        raise _reraise(error) from None
    return out


def _non_negative(frame: pd.DataFrame, column: str, path: Path, *, default: float) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), default)
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float).reset_index(drop=True)
    else:
        text = frame[[column]].astype("string").reset_index(drop=True)
        text[column] = text[column].str.strip().replace({"": pd.NA})
        numbers = parse_numbers(text.astype(object), column, path)
    negative = (numbers < 0).to_numpy()
    if negative.any():
        row = _first_row(negative)
        raise TouchpointsError(f"{numbers.iloc[row - 1]} is negative", file=path, column=column, row=row)
    return numbers.fillna(default).to_numpy(dtype=float)


def _booleans(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower().to_numpy(dtype=object, na_value="")
    is_true = np.isin(text, list(_TRUE))
    bad = ~(is_true | np.isin(text, list(_FALSE)))
    if bad.any():
        row = _first_row(bad)
        raise TouchpointsError(
            f"'{values.iloc[row - 1]}' is not a yes/no value (e.g. 1/0, true/false, won/lost)",
            file=path,
            column=column,
            row=row,
        )
    return is_true


def read_touchpoints(path: str | Path) -> pd.DataFrame:
    """Read ``touchpoints.csv`` (or its single-table form) and validate it; see :func:`validate_touchpoints`."""
    path = Path(path)
    try:
        frame = read_csv_strict(path, ())
    except DataValidationError as error:
        raise _reraise(error) from None
    return validate_touchpoints(frame, file=path)


def outcomes_from_pipeline(frame: pd.DataFrame, *, file: str | Path = "sales_pipeline.csv") -> pd.DataFrame:
    """Outcomes from a ``sales_pipeline`` frame: Won converts, Lost does not, open deals are left out.

    Open deals (Engaging, Prospecting) are censored: their outcome is not known yet, so counting them
    as losses would punish the channels that feed the newest pipeline.
    """
    path = Path(file)
    for column in ("opportunity_id", "deal_stage"):
        if column not in frame.columns:
            raise TouchpointsError(f"required column '{column}' is missing", file=path)
    ids = frame["opportunity_id"].astype("string").str.strip()
    missing = ids.isna().to_numpy() | (ids == "").fillna(True).to_numpy()
    if missing.any():
        raise TouchpointsError(
            "value is missing", file=path, column="opportunity_id", row=_first_row(missing)
        )
    stage = frame["deal_stage"].astype("string").str.strip().str.lower()
    known = {"won", "lost", "engaging", "prospecting"}
    bad = ~stage.isin(known).fillna(False).to_numpy()
    if bad.any():
        row = _first_row(bad)
        raise TouchpointsError(
            f"'{frame['deal_stage'].iloc[row - 1]}' is not a deal stage (Won, Lost, Engaging, Prospecting)",
            file=path,
            column="deal_stage",
            row=row,
        )
    try:
        value = _non_negative(frame, "close_value", path, default=0.0)
    except DataValidationError as error:
        raise _reraise(error) from None
    closed = stage.isin(["won", "lost"]).to_numpy()
    converted = (stage == "won").to_numpy()
    out = pd.DataFrame(
        {
            "lead_id": ids.to_numpy(dtype=object),
            "converted": converted,
            "revenue": np.where(converted, value, 0.0),
        }
    )
    out = out[closed].drop_duplicates("lead_id", keep="last")
    return out.reset_index(drop=True)


def load_outcomes(pipeline_path: str | Path) -> pd.DataFrame:
    """Read ``sales_pipeline.csv`` and return closed outcomes: ``lead_id, converted, revenue``."""
    path = Path(pipeline_path)
    try:
        frame = read_csv_strict(path, ("opportunity_id", "deal_stage"))
    except DataValidationError as error:
        raise _reraise(error) from None
    return outcomes_from_pipeline(frame, file=path)


def outcomes_from_table(touchpoints: pd.DataFrame, *, file: str | Path = "touchpoints.csv") -> pd.DataFrame:
    """Outcomes carried by the single-table form (``converted`` and ``revenue`` on every touch row).

    A journey converts if any of its rows says so; its revenue is the largest value written, since
    the table repeats the deal's value on each touch.
    """
    if "converted" not in touchpoints.columns:
        raise TouchpointsError(
            "has no 'converted' column: give the sales pipeline (--pipeline) or use the single-table form",
            file=Path(file),
        )
    grouped = touchpoints.groupby("lead_id", sort=False).agg(
        converted=("converted", "max"), revenue=("revenue", "max")
    )
    grouped["revenue"] = np.where(grouped["converted"], grouped["revenue"], 0.0)
    return grouped.reset_index()
