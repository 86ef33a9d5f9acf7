"""``services.decisions.route_leads``: leads that arrive together are routed in one scoring call and one
transaction, with the decisions and the stored state of routing them one after another."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from leadwise.errors import Conflict
from leadwise.routing import Lead
from leadwise.routing.flows import BUNDLED_FLOWS_DIR
from leadwise.services import decisions as service
from leadwise.services.checks import consistency_problems
from leadwise.services.flows import ensure_default_flow
from leadwise.services.models import ModelHolder
from leadwise.services.persist import Routed
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import AssignmentRow, LeadRow


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with four reps of capacity 2 and the bundled default flow, its score thresholds
    set for the world's scores (which spread far wider than the bundled data's 0.58 to 0.65)."""
    path = tmp_path_factory.mktemp("together") / "template.db"
    flow = path.with_name("default.toml")
    bundled = (BUNDLED_FLOWS_DIR / "default.toml").read_text()
    flow.write_text(bundled.replace("score_percentile_below = 5", "score_below = 0.25").replace("score_percentile_at_least = 60", "score_at_least = 0.8"))
    settings = Settings(database_url=f"sqlite:///{path}", flow_file=flow)
    db = Database.connect(settings.database_url)
    upgrade(db.engine)
    for name in ("Ann", "Bob", "Cleo", "Expert"):
        create_rep(db=db, fields={"name": name, "capacity": 2, "pools": ["default"]})
    ensure_default_flow(db=db, settings=settings)
    db.dispose()
    return path


@pytest.fixture
def store(tmp_path: Path, template: Path, world_models) -> Callable[[str], tuple[Database, Settings, ModelHolder]]:
    """A copy of the template database by name, with the world's models served (see ``tests/conftest.py``:
    GTX leads are warm and Expert wins them; MG Special is cold, so the default flow nurtures it; an
    unknown product such as "Broken" is refused)."""

    def make(name: str) -> tuple[Database, Settings, ModelHolder]:
        shutil.copy(template, tmp_path / name)
        settings = Settings(database_url=f"sqlite:///{tmp_path / name}", tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
        holder = ModelHolder(settings)
        holder.install(world_models)
        return Database.connect(settings.database_url), settings, holder

    return make


def _leads() -> list[Lead]:
    products = ["GTX Pro", "MG Special", "GTX Basic", "GTX Plus Pro", "GTK 500", "GTX Pro", "GTX Basic"]
    products += ["GTX Plus Basic", "GTX Pro", "GTX Basic", "GTX Pro"]
    return [Lead(lead_id=f"L{k}", account="Acme Corporation", product=p) for k, p in enumerate(products)]


def _decision(routed: Routed) -> tuple[object, ...]:
    a = routed.assignment
    return (routed.lead.external_id, routed.rep_name, a.queue, a.state, a.rule, a.strategy, a.p_win)


def _stored(db: Database) -> list[tuple[object, ...]]:
    with db.read_session() as session:
        rows = session.query(LeadRow.external_id, LeadRow.status, AssignmentRow.rep_id, AssignmentRow.state)
        rows = rows.join(AssignmentRow, AssignmentRow.lead_id == LeadRow.id).order_by(LeadRow.external_id)
        loads = [(r.name, r.open_leads, r.assigned_today) for r in repo.list_reps(session=session)]
        return [tuple(r) for r in rows] + loads


def test_together_decides_and_stores_what_one_by_one_does(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_db, settings, models = store("one.db")
    together_db, _, together_models = store("together.db")
    leads = _leads()  # 11 leads for 4 reps of capacity 2: the last ones find everybody full

    one = [service.route_lead(db=one_db, settings=settings, models=models, lead=lead) for lead in leads]
    # All in the one shared transaction: falling back to routing each alone would hide a wrong load.
    monkeypatch.setattr(service, "route_lead", lambda **_: pytest.fail("a lead was routed alone"))
    together = service.route_leads(db=together_db, settings=settings, models=together_models, leads=leads)

    assert all(isinstance(r, Routed) for r in together)
    assert [_decision(r) for r in together] == [_decision(r) for r in one]  # type: ignore[arg-type]
    assert {r.assignment.queue for r in one} >= {"nurture", "manager"}  # the flow's queues were exercised
    assert sum(r.assignment.rep_id is not None for r in one) == 8  # and every rep filled up
    assert _stored(together_db) == _stored(one_db)
    with together_db.read_session() as session:
        assert consistency_problems(session=session) == []


def test_an_id_twice_in_a_batch_or_stored_before_gets_the_stored_decision(store) -> None:
    db, settings, models = store("dup.db")
    first = service.route_lead(db=db, settings=settings, models=models, lead=_leads()[0])
    a, b = (Lead(lead_id=x, product="GTX Pro") for x in ("A", "B"))

    results = service.route_leads(db=db, settings=settings, models=models, leads=[a, b, a, _leads()[0]])

    assert [r.created for r in results] == [True, True, False, False]  # type: ignore[union-attr]
    assert results[2].assignment.id == results[0].assignment.id  # type: ignore[union-attr]
    assert results[3].assignment.id == first.assignment.id  # type: ignore[union-attr]
    with db.read_session() as session:
        assert session.query(LeadRow).count() == 3
        assert session.query(AssignmentRow).count() == 3


def test_a_lead_the_model_refuses_is_routed_rules_only_and_the_others_keep_their_scores(store) -> None:
    db, settings, models = store("broken.db")
    leads = [Lead(lead_id="ok1", product="GTX Pro"), Lead(lead_id="bad", product="Broken")]
    leads.append(Lead(lead_id="ok2", product="GTX Basic"))

    ok1, bad, ok2 = service.route_leads(db=db, settings=settings, models=models, leads=leads)

    assert ok1.assignment.p_win is not None and ok2.assignment.p_win is not None  # type: ignore[union-attr]
    assert bad.assignment.p_win is None  # type: ignore[union-attr]
    notes = bad.assignment.explanation["explanation"]["notes"]  # type: ignore[union-attr]
    assert any("unknown product 'Broken'" in n and "rules-only" in n for n in notes)


def test_when_the_shared_transaction_fails_each_lead_is_routed_alone(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings, models = store("fail.db")
    stored = service.route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id="S", product="GTX Pro"))
    # A concurrent writer's insert that the idempotency check missed (a race on PostgreSQL): the shared
    # transaction hits the unique lead id and rolls back whole.
    lookup = repo.lead_id_by_external_id
    monkeypatch.setattr(
        repo, "lead_id_by_external_id", lambda *, session, external_id: None if external_id == "S" else lookup(session=session, external_id=external_id)
    )
    alone, route_lead = [], service.route_lead
    monkeypatch.setattr(service, "route_lead", lambda **kw: alone.append(kw["lead"].lead_id) or route_lead(**kw))
    leads = [Lead(lead_id="N1", product="GTX Pro"), Lead(lead_id="S", product="GTX Pro")]
    leads.append(Lead(lead_id="N2", product="GTX Basic"))

    n1, s, n2 = service.route_leads(db=db, settings=settings, models=models, leads=leads)

    assert alone == ["N1", "S", "N2"]
    assert (n1.created, s.created, n2.created) == (True, False, True)  # type: ignore[union-attr]
    assert s.assignment.id == stored.assignment.id  # type: ignore[union-attr]
    with db.read_session() as session:
        assert session.query(LeadRow).count() == 3
        assert consistency_problems(session=session) == []


def test_an_error_of_one_lead_is_that_lead_s_answer_only(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings, models = store("error.db")
    real = service._route_new

    def refuse_lead_x(unit, ctx, **kw):  # type: ignore[no-untyped-def]
        if kw["lead"].lead_id == "X":
            raise Conflict("lead 'X' is stored without a decision")
        return real(unit, ctx, **kw)

    monkeypatch.setattr(service, "_route_new", refuse_lead_x)
    leads = [Lead(lead_id=k, product="GTX Pro") for k in ("P", "X", "Q")]

    p, x, q = service.route_leads(db=db, settings=settings, models=models, leads=leads)

    assert isinstance(x, Conflict)
    assert p.created and q.created  # type: ignore[union-attr]
    with db.read_session() as session:
        assert sorted(session.scalars(session.query(LeadRow.external_id).statement)) == ["P", "Q"]
