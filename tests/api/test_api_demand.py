"""Capacity prices planned for the demand the service expects: an admin's ``[demand]`` in the flow,
else its own log, else the model's history; every ``optimised`` decision says which."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from leadwise.learn.demand_history import SOURCE, DemandHistory
from leadwise.routing import Scores
from leadwise.routing.demand import HOURS_PER_WEEK
from leadwise.services.demand import flow_demand, plan
from leadwise.services.flows import active_flow_version
from leadwise.services.prices import BOOK, PriceBook
from leadwise.store import repositories as repo

OPTIMISED = """
[[steps]]
pool = "everyone"
strategy = "optimised"
"""


def publish(env, source: str):
    return env.client.post("/v1/flows", json={"source": source, "format": "toml"}, headers=env.h("admin"))


def _book_after(env, leads: int, *, worker: str | None = None) -> PriceBook:
    """A price book that saw ``leads`` leads on which the expert (capacity 2, like everyone) is best."""
    book = PriceBook(worker=worker)
    ids = tuple(str(env.reps[name]) for name in ("Ann", "Bob", "Expert"))
    scores = Scores(model_version="m", rep_ids=ids, p_win=np.array([0.3, 0.3, 0.9]), deal_value=1000.0)
    for _ in range(leads):
        book.observe(scores)
    return book


def test_a_typo_in_demand_is_a_422_naming_the_line(env) -> None:
    bad = publish(env, "[demand]\nexpected_lead = 500\n" + OPTIMISED)
    assert bad.status_code == 422
    assert "line 2: demand.expected_lead" in bad.json()["detail"]
    assert "demand.expected_leads" in publish(env, "[demand]\nexpected_leads = 0\n" + OPTIMISED).json()["detail"]
    assert publish(env, '[demand]\nexpected_leads = 500\nhorizon = "7d"\n' + OPTIMISED).status_code == 201


def test_the_flow_s_expected_leads_make_the_scarce_expert_expensive(env) -> None:
    assert publish(env, "[demand]\nexpected_leads = 600\n" + OPTIMISED).status_code == 201
    many = _book_after(env, 30)
    assert many.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=active_flow_version(env.db))
    ann, _, expert = (str(env.reps[n]) for n in ("Ann", "Bob", "Expert"))
    assert many.prices is not None and many.prices[expert] > many.prices[ann] >= 0
    assert "600 leads of flow version 2's [demand]" in (many.explain() or "")

    # Two leads to come, for the expert's two seats: nothing is scarce, nothing has a price.
    assert publish(env, "[demand]\nexpected_leads = 2\n" + OPTIMISED).status_code == 201
    few = _book_after(env, 30)
    assert few.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=active_flow_version(env.db))
    assert few.prices is not None and max(few.prices.values()) == 0


def _history(*, leads: int = 60, per_hour: float = 50.0, closed_days: float = 3.0) -> DemandHistory:
    """A history kept with the model: GTX Pro leads (the expert's best), ``per_hour`` arriving, deals that
    closed after ``closed_days`` (a tenth still open, younger)."""
    return DemandHistory(
        leads=[{"lead_id": f"H-{i}", "product": "GTX Pro"} for i in range(leads)],
        arrivals_per_hour=[per_hour] * HOURS_PER_WEEK,
        arrivals_observed=5000,
        closed_days=[closed_days] * 90,
        open_days=[1.0] * 10,
    )


def test_without_demand_or_log_the_model_history_plans_the_cold_start(env) -> None:
    assert publish(env, OPTIMISED).status_code == 201
    flow = active_flow_version(env.db)
    now = datetime.now(UTC)
    assert plan(db=env.db, settings=env.settings, flow=flow, now=now, history=None) is None
    history = _history()
    cold = plan(db=env.db, settings=env.settings, flow=flow, now=now, history=history)
    assert cold is not None and cold.open_demand is None
    assert cold.arrivals.source == SOURCE and float(cold.arrivals.per_hour.mean()) == 50.0
    # How long a lead stays open: the history's deals (3 days), not the setting (a week).
    assert cold.open_horizon == timedelta(days=3) and cold.horizon_source.startswith(SOURCE)
    assert "training history" in cold.describe() and "90 closed and 10 open deals" in cold.describe()
    # Without the served models' history, and no own log, there is no plan: the last 24 h stand in.
    book = _book_after(env, 30)
    assert book.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=flow, models=None)
    assert "no demand model" in book.demand_note


def test_the_history_s_scored_leads_price_capacity_before_the_service_saw_a_lead(env, world_models) -> None:
    assert publish(env, OPTIMISED).status_code == 201
    flow = active_flow_version(env.db)
    expert = str(env.reps["Expert"])
    # No lead seen and no history: nothing to solve on.
    env.models.install(world_models)
    assert not PriceBook().resolve_if_due(
        db=env.db, objective="wins", settings=env.settings, flow=flow, models=env.models.current
    )
    env.models.install(replace(world_models, demand_history=_history()))
    cold = PriceBook(window=100)
    assert cold.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=flow, models=env.models.current)
    assert cold.prices is not None and cold.prices[expert] > 0 and cold.sample_size == 60
    assert "lead mix: 0 of the service's own leads and 60 from the training history" in (cold.explain() or "")
    assert "arrivals from the training history kept with the model" in (cold.explain() or "")

    # Its own leads take the history's place in the window as they come.
    ids = tuple(str(env.reps[name]) for name in ("Ann", "Bob", "Expert"))
    for _ in range(60):
        cold.observe(Scores(model_version="m", rep_ids=ids, p_win=np.array([0.3, 0.3, 0.9]), deal_value=1.0))
    assert cold.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=flow, models=env.models.current)
    assert cold.sample_size == 100 and "60 of the service's own leads and 40 from the training history" in cold.demand_note

    # A worker that saw its first lead solves on the history at once and publishes; the routed decision
    # says where its prices' demand came from.
    leader = _book_after(env, 1, worker="leader")
    assert leader.sync(db=env.db, objective="wins", settings=env.settings, flow=flow, models=env.models.current)
    assert leader.leading and leader.sample_size == 61
    served: PriceBook = env.client.app.state.prices
    assert served.sync(db=env.db, objective="wins", settings=env.settings, flow=flow, models=env.models.current)
    routed = env.client.post(
        "/v1/route", json={"lead_id": "C-1", "product": "GTX Pro"}, headers=env.h("integration")
    ).json()
    notes = " ".join(routed["explanation"]["explanation"]["notes"])
    assert routed["strategy"] == "optimised" and "from the training history kept with the model" in notes


def test_demand_counts_down_from_publication_and_ends_with_its_horizon(env) -> None:
    assert publish(env, '[demand]\nexpected_leads = 10\nhorizon = "2d"\n' + OPTIMISED).status_code == 201
    flow = active_flow_version(env.db)
    assert flow.published_at is not None
    published = flow.published_at if flow.published_at.tzinfo else flow.published_at.replace(tzinfo=UTC)
    assert flow_demand(flow, routed_since_published=4, now=published + timedelta(days=1))[0] == 6
    assert flow_demand(flow, routed_since_published=40, now=published + timedelta(days=1))[0] == 0
    assert flow_demand(flow, routed_since_published=4, now=published + timedelta(days=3)) == (None, None)


def test_an_optimised_decision_says_what_its_prices_were_solved_on(env, world_models) -> None:
    env.models.install(world_models)
    assert publish(env, "[demand]\nexpected_leads = 600\n" + OPTIMISED).status_code == 201
    book: PriceBook = env.client.app.state.prices
    ids = tuple(str(env.reps[name]) for name in ("Ann", "Bob", "Expert"))
    for _ in range(30):
        book.observe(Scores(model_version="m", rep_ids=ids, p_win=np.array([0.3, 0.3, 0.9]), deal_value=1.0))
    assert book.resolve_if_due(db=env.db, objective="wins", settings=env.settings, flow=active_flow_version(env.db))
    routed = env.client.post(
        "/v1/route", json={"lead_id": "D-1", "product": "GTX Pro"}, headers=env.h("integration")
    ).json()
    notes = routed["explanation"]["explanation"]["notes"]
    assert routed["strategy"] == "optimised"
    assert any("capacity prices solved at" in n and "[demand]" in n for n in notes)
    assert env.client.get("/readyz").json()["capacity_prices"]["demand"].startswith("demand: ")


def test_every_worker_routes_on_the_prices_one_elected_worker_solved(env) -> None:
    assert publish(env, "[demand]\nexpected_leads = 600\n" + OPTIMISED).status_code == 201
    flow = active_flow_version(env.db)
    first, second = _book_after(env, 30, worker="w1"), _book_after(env, 30, worker="w2")
    sync = dict(db=env.db, objective="wins", settings=env.settings, flow=flow)

    assert first.sync(**sync) and first.leading and first.prices is not None
    # The second worker has a sample too, but the lease is taken: it adopts, it does not solve.
    assert second.sync(**sync) and not second.leading
    assert second.prices == first.prices and second.solved_by == "w1" and second.solved_at == first.solved_at
    assert "by worker w1" in (second.explain() or "")
    assert not second.sync(**sync)  # nothing new published: nothing changes

    # The holder stops (its lease runs out): a worker without traffic does not take over (it has nothing
    # to solve on); the next worker that sees leads does, from the last published prices.
    with env.db.write_session() as session:
        row = repo.stored_prices(session=session, name=BOOK)
        assert row is not None and row.holder == "w1"
        row.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    idle = PriceBook(worker="idle")
    assert idle.sync(**sync) and not idle.leading and idle.prices == first.prices
    with env.db.read_session() as session:
        assert repo.stored_prices(session=session, name=BOOK).holder == "w1"
    for _ in range(200):  # enough new leads for the pricer's schedule to re-solve
        second.observe(
            Scores(model_version="m", rep_ids=tuple(second.prices), p_win=np.array([0.3, 0.3, 0.9]))
        )
    assert second.sync(**sync) and second.leading and second.solved_by == "w2"
    # The old holder, back, finds it lost the lease and can no longer publish.
    assert first.sync(**sync) and not first.leading and first.solved_by == "w2"
    with env.db.write_session() as session:
        assert not repo.store_prices(
            session=session,
            name=BOOK,
            holder="w1",
            prices={},
            solved_at=datetime.now(UTC),
            sample_size=0,
            note="",
        )
