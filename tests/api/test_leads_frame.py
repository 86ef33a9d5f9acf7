"""The columns the service hands to the models: the numeric columns as ``pd.to_numeric(errors="coerce")``
makes them, whether the lead carries plain numbers (built directly) or anything else (converted), and
the engage date as a naive UTC day. A frame built column by column is the oracle."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from leadwise.services.scoring import FRAME_COLUMNS, NUMERIC_COLUMNS, leads_columns


def reference(leads: list[dict[str, object]]) -> pd.DataFrame:
    """Build the frame column by column and convert afterwards: the definition the columns must match."""
    rows = []
    for lead in leads:
        row = {c: lead.get(c) for c in FRAME_COLUMNS}
        engage = row["engage_date"]
        stamp = pd.Timestamp(engage) if engage else pd.Timestamp.now(tz="UTC")  # type: ignore[arg-type]
        row["engage_date"] = (stamp.tz_convert(None) if stamp.tzinfo else stamp).normalize()
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    for column in NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


PLAIN = {"lead_id": "a", "account": "Acme Corporation", "product": "GTX Pro"}
FULL = {
    "lead_id": "b",
    "account": None,
    "product": "MG Special",
    "sector": "retail",
    "revenue": 12.5,
    "employees": 3.0,
    "year_established": 1990,
    "engage_date": datetime(2017, 6, 1, 15, 30, tzinfo=UTC),
}
TEXT = {"lead_id": "c", "product": "GTX Pro", "revenue": "1000", "year_established": "unknown"}
INTS = {
    "lead_id": "d",
    "product": "GTX Pro",
    "revenue": 5,
    "employees": np.float64(3),
    "year_established": 2001,
}


def test_leads_columns_numbers_and_days() -> None:
    columns = leads_columns([PLAIN, TEXT])
    assert columns["revenue"].dtype == np.float64 and columns["year_established"].dtype == np.float64
    assert np.isnan(columns["revenue"][0]) and columns["revenue"][1] == 1000.0
    assert np.isnan(columns["year_established"][1])  # not a number: missing, not an error
    assert leads_columns([INTS])["year_established"].tolist() == [2001.0]
    # Engaged today (naive, midnight) when the lead has no date; a dated lead keeps its calendar day.
    assert columns["engage_date"][0] == pd.Timestamp.now(tz="UTC").tz_convert(None).normalize().asm8
    assert leads_columns([FULL])["engage_date"][0] == pd.Timestamp("2017-06-01").asm8


def test_leads_columns_hold_the_frame_s_values() -> None:
    for leads in ([PLAIN], [FULL], [TEXT], [INTS], [PLAIN, FULL, TEXT, INTS]):
        frame, columns = reference(leads), leads_columns(leads)
        assert list(columns) == list(FRAME_COLUMNS)
        for name in FRAME_COLUMNS:
            expected = frame[name].to_numpy()
            got = np.asarray(columns[name])
            if name in NUMERIC_COLUMNS:  # floats, as the models read them
                assert got.dtype == np.float64 and np.array_equal(got, expected.astype(float), equal_nan=True), name
            elif name == "engage_date":
                assert got.dtype == "datetime64[ns]" and np.array_equal(got, expected.astype(got.dtype)), name
            else:
                assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in expected]
