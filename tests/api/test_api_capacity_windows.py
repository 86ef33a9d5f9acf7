"""Capacity windows through the HTTP API: a rep's ``capacity_windows`` created, patched, listed and
validated (a 422 naming the field), honoured by routing on the service's clock (a rolling window emptying,
a day counted in the rep's time zone), and a flow pool's caps (a full pool falls through, then refills)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.api.conftest import make_env
from tests.api.test_api_flows import assert_consistent, publish, route
from tests.test_timekeeping import START

from leadwise import timekeeping

ROUND_ROBIN = """
[[steps]]
pool = "everyone"
strategy = "round_robin"
"""

WINDOWS = [
    {"kind": "rolling", "hours": 3, "limit": 2},
    {"kind": "period", "period": "day", "limit": 3},
]


@pytest.fixture
def timed_env(tmp_path: Path, migrated_template: Path, wall: list[float]) -> Iterator[object]:
    """Ann, Bob and Expert (capacity 50 open leads each) on a clock that starts on Monday START (09:00
    UTC, 18:00 in Tokyo) and runs an hour per wall second, which the test moves by hand."""
    generator = make_env(
        tmp_path, migrated_template, capacity=50, clock_start=START, clock_speed=3600.0, clock_anchor=wall[0]
    )
    yield next(generator)
    generator.close()
    timekeeping.use(timekeeping.SystemWallClock())


def _patch(env, rep: int, **changes) -> dict:
    patched = env.client.patch(f"/v1/reps/{rep}", json=changes, headers=env.h("admin"))
    assert patched.status_code == 200, patched.text
    return patched.json()


def _excluded(answer: dict) -> dict[str, str]:
    return {e["rep_id"]: e["reason"] for e in answer["explanation"]["explanation"]["excluded"]}


def _route_many(env, prefix: str, n: int) -> list[dict]:
    answers = [route(env, f"{prefix}-{k}") for k in range(n)]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers if a.status_code != 201]
    return [a.json() for a in answers]


def test_windows_are_stored_listed_and_patched(env) -> None:
    created = env.client.post(
        "/v1/reps",
        json={"name": "Windowed", "capacity": 10, "max_per_day": 4, "capacity_windows": WINDOWS},
        headers=env.h("admin"),
    )
    assert created.status_code == 201, created.text
    rep = created.json()
    assert rep["capacity_windows"] == WINDOWS and rep["max_per_day"] == 4
    listed = {r["name"]: r for r in env.client.get("/v1/reps", headers=env.h("manager")).json()["data"]}
    assert listed["Windowed"]["capacity_windows"] == WINDOWS
    assert listed["Ann"]["capacity_windows"] == []  # no window unless given
    monthly = [{"kind": "period", "period": "month", "limit": 40}, {"kind": "open", "limit": 3}]
    assert _patch(env, rep["id"], capacity_windows=monthly)["capacity_windows"] == monthly
    assert _patch(env, rep["id"], capacity=12)["capacity_windows"] == monthly  # untouched unless sent
    assert _patch(env, rep["id"], capacity_windows=[])["capacity_windows"] == []


@pytest.mark.parametrize(
    ("window", "loc", "words"),
    [
        ({"kind": "rolling", "limit": 3}, ["body", "capacity_windows", 0], "a rolling window needs one of 'hours' or 'days'"),
        ({"kind": "period", "period": "year", "limit": 3}, ["body", "capacity_windows", 0, "period"], "'hour', 'day', 'week' or 'month'"),
        ({"kind": "open", "limit": -2}, ["body", "capacity_windows", 0, "limit"], "greater than or equal to 0"),
        ({"kind": "sliding", "limit": 2}, ["body", "capacity_windows", 0, "kind"], "'open', 'period' or 'rolling'"),
        ({"kind": "rolling", "hours": 2, "limit": 1, "weeks": 1}, ["body", "capacity_windows", 0, "weeks"], "Extra inputs"),
    ],
)
def test_a_bad_window_is_a_422_naming_the_field_and_changes_nothing(env, window, loc, words) -> None:
    ann = env.reps["Ann"]
    _patch(env, ann, capacity_windows=WINDOWS)
    bad = env.client.patch(f"/v1/reps/{ann}", json={"capacity_windows": [window]}, headers=env.h("admin"))
    assert bad.status_code == 422, bad.text
    problem = bad.json()["detail"][0]
    assert problem["loc"] == loc and words in problem["msg"], problem
    assert env.client.get(f"/v1/reps/{ann}", headers=env.h("admin")).json()["capacity_windows"] == WINDOWS
    created = env.client.post("/v1/reps", json={"name": "Nope", "capacity_windows": [window]}, headers=env.h("admin"))
    assert created.status_code == 422 and created.json()["detail"][0]["loc"] == loc


def test_routing_honours_a_rolling_window_and_a_day_in_the_rep_s_time_zone(timed_env, wall) -> None:
    env = timed_env
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    _patch(env, env.reps["Expert"], active=False)
    _patch(env, ann, hours={"timezone": "Asia/Tokyo"}, capacity_windows=WINDOWS)
    publish(env, ROUND_ROBIN)

    # Monday 09:00 UTC: at most 2 in any 3 hours; the rest go to Bob, saying why.
    first = _route_many(env, "mon", 6)
    assert [a["rep_id"] for a in first].count(ann) == 2
    assert _excluded(first[-1])[str(ann)] == "capacity: 2/2 leads in the rolling 3 h window"

    # 13:00 UTC (22:00 in Tokyo): the rolling window has emptied; Tokyo's day holds one more.
    wall[0] += 4
    later = _route_many(env, "late", 4)
    assert [a["rep_id"] for a in later].count(ann) == 1
    assert _excluded(later[-1])[str(ann)] == "capacity: 3/3 today"

    # 17:00 UTC, still Monday in UTC but 02:00 on Tuesday in Tokyo: Ann's new day (a UTC day would still
    # hold her at 3/3), and the rolling window is empty again.
    wall[0] += 4
    tuesday = _route_many(env, "tue", 4)
    assert [a["rep_id"] for a in tuesday].count(ann) == 2
    assert _excluded(tuesday[-1])[str(ann)] == "capacity: 2/2 leads in the rolling 3 h window"
    assert all(a["rep_id"] in (ann, bob) for a in first + later + tuesday)
    assert_consistent(env)


POOL_CAPS = """
[pools.inbound]
reps = ["{ann}", "{bob}"]
capacity_windows = [{{ kind = "period", period = "hour", limit = 2 }}, {{ kind = "open", limit = 3 }}]

[pools.everyone]

[[steps]]
name = "inbound first"
pool = "inbound"
strategy = "round_robin"

[[steps]]
name = "overflow"
pool = "everyone"
strategy = "round_robin"
"""


def _steps(answers: list[dict]) -> list[str]:
    return [a["explanation"]["explanation"]["step"] for a in answers]


def test_a_pool_cap_sends_the_overflow_to_the_next_step_until_the_pool_frees(timed_env, wall) -> None:
    env = timed_env
    ann, bob, expert = env.reps["Ann"], env.reps["Bob"], env.reps["Expert"]
    # 09:15: the parsed-flow cache is keyed by (row id, created_at); another test's flow 2 was published
    # at 09:00 on the same frozen clock.
    wall[0] += 0.25
    publish(env, POOL_CAPS.format(ann=ann, bob=bob))

    hour_one = _route_many(env, "h1", 4)
    assert _steps(hour_one) == ["inbound first", "inbound first", "overflow", "overflow"]
    tried = hour_one[2]["explanation"]["explanation"]["steps_tried"][0]["note"]
    assert tried == "pool 'inbound' is full (capacity: 2/2 this hour): fell through"

    # The next hour the pool takes 1 more: its open cap (3) is the one that holds now.
    wall[0] += 1
    hour_two = _route_many(env, "h2", 3)
    assert _steps(hour_two) == ["inbound first", "overflow", "overflow"]
    assert "capacity: 3/3 open" in hour_two[1]["explanation"]["explanation"]["steps_tried"][0]["note"]

    # A pool lead closed frees an open seat at once.
    inbound = next(a for a in hour_one if a["explanation"]["explanation"]["step"] == "inbound first")
    closed = env.client.post(
        f"/v1/assignments/{inbound['id']}/outcome", json={"result": "lost"}, headers=env.h("manager")
    )
    assert closed.status_code in (200, 201), closed.text
    assert _steps([route(env, "h2-after-close").json()]) == ["inbound first"]
    inbound_reps = {a["rep_id"] for a in hour_one + hour_two if a["explanation"]["explanation"]["step"] == "inbound first"}
    assert inbound_reps <= {ann, bob} and expert in {a["rep_id"] for a in hour_one + hour_two}
    assert_consistent(env)


def test_a_bad_pool_window_in_a_flow_is_a_422_naming_the_line(env) -> None:
    source = POOL_CAPS.format(ann=1, bob=2).replace('period = "hour"', 'period = "decade"')
    bad = env.client.post("/v1/flows", json={"source": source}, headers=env.h("admin"))
    assert bad.status_code == 422, bad.text
    assert "line 4: pools.inbound.capacity_windows[0].period" in bad.json()["detail"]


def test_the_price_book_prices_a_rep_s_scarce_window(timed_env) -> None:
    """The expert wins most; only a window (2 leads in any 24 hours, or 3 a month) makes it scarce."""
    from types import SimpleNamespace

    import numpy as np

    from leadwise.learn.demand_history import DemandHistory
    from leadwise.routing import Scores
    from leadwise.routing.demand import HOURS_PER_WEEK
    from leadwise.services.flows import active_flow_version
    from leadwise.services.prices import PriceBook

    env = timed_env
    publish(env, ROUND_ROBIN.replace("round_robin", "optimised"))
    ann, expert = str(env.reps["Ann"]), str(env.reps["Expert"])
    ids = tuple(str(env.reps[name]) for name in ("Ann", "Bob", "Expert"))

    def priced(**solve) -> dict[str, float]:
        book = PriceBook()
        for _ in range(30):
            book.observe(Scores(model_version="m", rep_ids=ids, p_win=np.array([0.3, 0.3, 0.9])))
        assert book.resolve_if_due(db=env.db, objective="wins", **solve)
        assert book.prices is not None
        return book.prices

    assert max(priced().values()) == 0  # 50 open seats each for the 30 leads of the day: nothing scarce
    _patch(env, env.reps["Expert"], capacity_windows=[{"kind": "rolling", "hours": 24, "limit": 2}])
    no_model = priced()  # no demand model: the sample's 30 leads a day
    assert no_model[expert] > no_model[ann] >= 0
    _patch(env, env.reps["Expert"], capacity_windows=[{"kind": "period", "period": "month", "limit": 3}])
    # The history kept with the model says 5 leads an hour (until the month ends); it has no lead sample.
    history = DemandHistory(
        leads=[], arrivals_per_hour=[5.0] * HOURS_PER_WEEK, arrivals_observed=10_000, closed_days=[], open_days=[]
    )
    models = SimpleNamespace(version="m", models=SimpleNamespace(demand_history=history))
    planned = priced(settings=env.settings, flow=active_flow_version(env.db), models=models)
    assert planned[expert] > planned[ann] >= 0


def test_a_rep_stored_with_a_capacity_above_a_windows_limit_still_routes(env) -> None:
    """The API caps a rep's capacity at 100,000; a rep stored above it another way (an import, an older
    version) once made every route a 500 (its open-lead window failed validation): it routes."""
    from leadwise.services.reps import create_rep
    from leadwise.store.db import Database

    db = Database.connect(env.settings.database_url)
    huge = create_rep(db=db, fields={"name": "Huge", "capacity": 1_000_000, "max_per_day": 200_000}).id
    db.dispose()
    publish(env, f'[pools.big]\nreps = ["{huge}"]\n\n[[steps]]\npool = "big"\nstrategy = "round_robin"\n')
    r = route(env, "big-1")
    assert r.status_code == 201, r.text
    assert r.json()["rep_name"] == "Huge"
