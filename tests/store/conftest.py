from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("LEADWISE_TEST_DATABASE_URL")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql", marks=pytest.mark.skipif(not PG_URL, reason="LEADWISE_TEST_DATABASE_URL not set")
        ),
    ]
)
def url(request, tmp_path, postgres_schema) -> Iterator[str]:
    """An empty database of each dialect (PostgreSQL: a throw-away schema, when configured)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with postgres_schema("lw_m") as url:
        yield url
