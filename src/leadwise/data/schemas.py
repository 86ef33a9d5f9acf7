"""Data contracts (pandera) for frames handed between modules: an internal bug fails loudly here."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

DEALS_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": pa.Column(str, unique=True),
        "sales_agent": pa.Column(str),
        "product": pa.Column(str),
        "series": pa.Column(str),
        "sales_price": pa.Column(float, pa.Check.ge(0)),
        "account": pa.Column(str, nullable=True),
        "sector": pa.Column(str, nullable=True),
        "revenue": pa.Column(float, nullable=True),
        "employees": pa.Column(float, nullable=True),
        "deal_stage": pa.Column(str, pa.Check.isin(["Won", "Lost", "Engaging", "Prospecting"])),
        "engage_date": pa.Column("datetime64[ns]", nullable=True),
        "close_date": pa.Column("datetime64[ns]", nullable=True),
        "close_value": pa.Column(float, nullable=True),
        "won": pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=True),
    },
    name="deals",
    strict=False,
)

TRAINING_FRAME_SCHEMA = pa.DataFrameSchema(
    {
        "lead_id": pa.Column(str, unique=True),
        "won": pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=True),
    },
    name="training frame",
    strict=False,
)


def validate_contract(frame: pd.DataFrame, schema: pa.DataFrameSchema, name: str) -> pd.DataFrame:
    """Validate an internal frame; a violation here is a leadwise bug, not a user error."""
    try:
        return schema.validate(frame)
    except pa.errors.SchemaError as error:
        raise AssertionError(f"internal data contract '{name}' violated: {error}") from error
