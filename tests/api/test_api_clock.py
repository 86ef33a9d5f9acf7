"""A service on an accelerated clock (replays) stores and counts in that time and says so in /readyz."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from tests.api.conftest import make_env
from tests.test_timekeeping import START

from leadwise import timekeeping
from leadwise.store import repositories as repo
from leadwise.store.models import LeadRow


@pytest.fixture
def accelerated_env(tmp_path: Path, migrated_template: Path, wall: list[float]) -> Iterator[object]:
    generator = make_env(
        tmp_path, migrated_template, clock_start=START, clock_speed=3600.0, clock_anchor=wall[0]
    )
    yield next(generator)
    generator.close()
    timekeeping.use(timekeeping.SystemWallClock())


def test_the_service_stores_and_counts_in_the_accelerated_time(accelerated_env, wall: list[float]) -> None:
    env = accelerated_env
    assert "accelerated x3600" in env.client.get("/readyz").json()["clock"]
    wall[0] += 3  # three wall seconds: three hours later
    routed = env.client.post(
        "/v1/route", json={"lead_id": "T-1", "product": "GTX Pro"}, headers=env.h("integration")
    )
    assert routed.status_code == 201, routed.text
    with env.db.read_session() as session:
        lead = session.query(LeadRow).filter_by(external_id="T-1").one()
        assert lead.created_at.replace(tzinfo=UTC) == START + timedelta(hours=3)
        assert repo.leads_created_since(session=session, since=START + timedelta(hours=2)) == 1
        assert repo.leads_created_since(session=session, since=START + timedelta(hours=4)) == 0
