from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text

from leadwise.store.db import Database

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


def insert_closed_lead(db: Database, now: datetime) -> None:
    """Raw rows a migration must keep: lead 1, closed, with assignment 1 won (outcome 1) and
    assignment 2 still offered."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO leads (id, external_id, payload, status, blind, created_at, updated_at) "
                "VALUES (1, 'L', '{}', 'closed', false, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (id, lead_id, state, source, explanation, alternatives, created_at) "
                "VALUES (1, 1, 'won', 'route', '{}', '[]', :t), (2, 1, 'offered', 'route', '{}', '[]', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text("INSERT INTO outcomes (id, assignment_id, lead_id, result, recorded_at) VALUES (1, 1, 1, 'won', :t)"),
            {"t": now},
        )


def insert_rep_with_offer(db: Database, now: datetime) -> None:
    """Raw rows a migration of ``reps`` must keep: rep 1 (Ann) with an offer of lead 1; a migration that
    copied ``reps`` on SQLite would trip the foreign key of that offer."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reps (name, capacity, open_leads, out_of_office, sectors, products, series, "
                "seniority, weight, territories, accounts_owned, pools, active, created_at, updated_at, "
                "assigned_today, assigned_week) VALUES ('Ann', 5, 0, '[]', '[]', '[]', '[]', 'mid', 1.0, "
                "'[]', '[]', '[]', true, :t, :t, 0, 0)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO leads (id, external_id, payload, status, blind, created_at, updated_at) "
                "VALUES (1, 'L', '{}', 'assigned', false, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (lead_id, rep_id, state, source, explanation, alternatives, created_at) "
                "VALUES (1, 1, 'offered', 'route', '{}', '[]', :t)"
            ),
            {"t": now},
        )
