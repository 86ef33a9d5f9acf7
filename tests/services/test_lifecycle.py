"""``services.lifecycle`` and the duplicate check of ``services.intake`` on SQLite and PostgreSQL: the
duplicate key's fingerprint is stored with each lead and kept up to date by updates, and every
lifecycle move keeps the store's invariants (rep counters, one live assignment per lead)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadwise.routing import Lead
from leadwise.routing.domain import DuplicateLead
from leadwise.services import decisions, flows
from leadwise.services.catalogue import EMPTY, Catalogue
from leadwise.services.checks import consistency_problems
from leadwise.services.lifecycle import update_lead
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

PG_URL = os.environ.get("LEADWISE_TEST_DATABASE_URL")
FLOW = """
[lifecycle]
reroute_when = { sector_in = ["medical"] }
unassign_when = { source_in = ["partner"] }

[[lifecycle.close_when]]
when = { source_in = ["won-offline"] }
result = "won"

[lifecycle.duplicates]
key = ["account", "product"]

[[steps]]
pool = "everyone"
strategy = "round_robin"
"""


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="LEADWISE_TEST_DATABASE_URL not set")),
    ]
)
def service(request, tmp_path: Path, postgres_schema) -> Iterator[tuple[Database, Settings, ModelHolder]]:
    def ready(url: str) -> tuple[Database, Settings, ModelHolder]:
        settings = Settings(database_url=url, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", serve_models=False)
        db = Database.connect(url)
        upgrade(db.engine)
        for name in ("Ann", "Bob"):
            create_rep(db=db, fields={"name": name, "capacity": 5})
        flows.publish(db=db, name="default", text=FLOW, fmt="toml")
        return db, settings, ModelHolder(settings)

    if request.param == "sqlite":
        db, settings, models = ready(f"sqlite:///{tmp_path / 'lifecycle.db'}")
        yield db, settings, models
        db.dispose()
        return
    with postgres_schema("lw_life") as url:
        db, settings, models = ready(url)
        yield db, settings, models
        db.dispose()


def _consistent(db: Database) -> None:
    with db.read_session() as session:
        assert consistency_problems(session=session) == []


def test_duplicates_are_found_in_the_stored_payload(service) -> None:
    db, settings, models = service
    first = decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S-1", account="Acme", product="GTX Pro"))
    with pytest.raises(DuplicateLead) as found:
        decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S-2", account="Acme", product="GTX Pro"))
    assert found.value.original == {"lead_id": "S-1", "assignment_id": first.assignment.id}
    other = decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S-3", account="Acme", product="GTK 500"))
    assert other.created
    together = decisions.route_leads(
        db=db, settings=settings, models=models,
        leads=[Lead(lead_id="S-4", account="Beta", product="X"), Lead(lead_id="S-5", account="Beta", product="X")],
    )
    assert not isinstance(together[0], Exception) and together[0].created
    assert isinstance(together[1], DuplicateLead) and together[1].original["lead_id"] == "S-4"
    # An update that changes a lead's key makes it the original of its new key, not of its old one.
    update_lead(db=db, settings=settings, models=models, external_id="S-4", changes={"account": "Delta"})
    assert decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S-6", account="Beta", product="X")).created
    with pytest.raises(DuplicateLead) as moved:
        decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S-7", account="Delta", product="X"))
    assert moved.value.original["lead_id"] == "S-4"
    _consistent(db)


def test_each_lifecycle_move_keeps_the_invariants(service) -> None:
    db, settings, models = service
    decisions.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="M-1"))

    def update(**changes: object) -> str:
        return update_lead(db=db, settings=settings, models=models, external_id="M-1", changes=changes).action

    assert update(sector="medical") == "rerouted"
    _consistent(db)
    assert update(source="partner") == "unassigned"
    _consistent(db)
    assert update(sector="retail") == "none" and update(sector="medical") == "rerouted"  # out of the manager queue
    _consistent(db)
    updated = update_lead(db=db, settings=settings, models=models, external_id="M-1", changes={"source": "won-offline"})
    assert updated.action == "closed" and updated.ended is not None and updated.ended.assignment.state == "won"
    assert updated.lead.status == "closed"
    _consistent(db)


def test_a_new_product_or_account_brings_its_own_catalogue_fields() -> None:
    known = Catalogue(series={"gtxpro": "GTX", "gtk500": "GTK"}, accounts={"Acme": {"sector": "retail", "office_location": "Kenya"}})
    lead = known.complete(Lead(lead_id="x", product="GTX Pro", account="Acme"))
    assert (lead.series, lead.sector, lead.office_location) == ("GTX", "retail", "Kenya")
    moved = known.update(lead, {"product": "GTK 500", "account": "Unknown Ltd"})
    assert (moved.series, moved.sector, moved.office_location) == ("GTK", None, None)
    # What the lead carried itself, or what the change sets, stays.
    own = known.update(Lead(lead_id="y", product="GTX Pro", series="Custom"), {"product": "GTK 500"})
    assert own.series == "Custom"
    assert known.update(lead, {"product": "GTK 500", "series": "Mine"}).series == "Mine"
    assert EMPTY.update(lead, {"sector": None}).sector is None
