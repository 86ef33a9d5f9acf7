"""The scoring-now path (lookups and float matrices) gives the frame path's numbers.

``LeadwiseModels.predict`` scores leads engaged after the whole history through dictionary lookups and
``lgb.Booster.predict`` on numpy; ``predict(..., fast=False)`` forces the general pandas path. Every
test here holds the two together on the bundled data: features, prepared columns, predictions, errors.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadwise.data.crm import load_crm_dir
from leadwise.data.errors import DataValidationError
from leadwise.data.table import TableSpec, load_lead_table
from leadwise.data.training_data import (
    CrmLookup,
    from_crm,
    from_table,
    prepare_crm_columns,
    prepare_crm_leads,
)
from leadwise.features.builder import REP, FeatureBuilder, model_array
from leadwise.features.history import TotalsLookup
from leadwise.learn.models import CalibratedBooster, LeadwiseModels
from leadwise.learn.training import TrainConfig, train_models
from leadwise.settings import BUNDLED_DATA_DIR

TOLERANCE = 1e-9
AFTER_HISTORY = pd.Timestamp("2018-03-01")  # the bundled history closes by the end of 2017
# A few trees keep training to seconds; the path under test does not depend on their number.
QUICK = TrainConfig(baselines=False, lgbm_params={"n_estimators": 120})


@pytest.fixture(scope="module")
def data():
    return from_crm(load_crm_dir(BUNDLED_DATA_DIR))


@pytest.fixture(scope="module")
def models(data) -> LeadwiseModels:
    return train_models(data, QUICK).models


@pytest.fixture(scope="module")
def reps(models: LeadwiseModels) -> list[str]:
    # 40 reps as the API sends them: the known ones, then names the history never saw.
    return [*models.reps, *[f"New Rep {i}" for i in range(40 - len(models.reps))]]


def odd_leads(data) -> pd.DataFrame:
    """Leads the lookups must treat exactly as the merges do."""
    known = data.reference.accounts["account"].iloc[0]
    rows = [
        {"lead_id": "known", "account": known, "product": "GTX Pro"},
        {"lead_id": "unknown account", "account": "Nobody Ltd", "product": "MG Special"},
        {"lead_id": "own fields", "account": "Brand New Co", "product": "gtx plus basic", "sector": "retail",
         "revenue": 812.5, "employees": 40, "year_established": 2010, "office_location": "Kenya"},
        {"lead_id": "overrides", "account": known, "product": "GTXPro", "sector": "finance", "revenue": "9000"},
        {"lead_id": "no account", "account": None, "product": "GTK 500"},
        {"lead_id": "odd values", "account": "Brand New Co", "product": "MG Advanced", "sector": "not a sector",
         "office_location": None, "revenue": np.nan, "subsidiary_of": known},
        {"lead_id": "band edge", "account": "Edge Co", "product": "GTX Basic",
         "revenue": data.reference.revenue_edges[0]},
    ]  # fmt: skip
    leads = pd.DataFrame(rows)
    leads["engage_date"] = AFTER_HISTORY
    return leads


def history_leads(data, n: int, seed: int = 0) -> pd.DataFrame:
    """Past deals sent again as new leads, engaged after the history."""
    leads = data.frame.sample(n, random_state=seed)[["lead_id", "account", "product"]].reset_index(drop=True)
    leads["engage_date"] = AFTER_HISTORY + pd.to_timedelta(np.arange(n) % 30, unit="D")
    return leads


def frames_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on the frame path fails: what still answers came from the lookup path."""

    def refuse(*args, **kwargs):
        raise AssertionError("the frame path ran")

    for name in ("lead_features", "pair_features"):
        monkeypatch.setattr(FeatureBuilder, name, refuse)
    monkeypatch.setattr(LeadwiseModels, "prepare", refuse)


def assert_same(fast, slow) -> None:
    assert fast.lead_ids == slow.lead_ids and fast.reps == slow.reps
    for name in ("lead_score", "fit", "deal_value"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.shape == b.shape, name
        assert np.allclose(a, b, rtol=0, atol=TOLERANCE), name


@pytest.mark.parametrize("dense", [True, False], ids=["dense lookups", "binary-search lookups"])
def test_feature_matrices_match_the_frames(data, reps: list[str], dense: bool, monkeypatch) -> None:
    if not dense:  # the bundled history is small: force the path large histories take
        monkeypatch.setattr(TotalsLookup, "DENSE_MAX_CELLS", 0)
    builder = FeatureBuilder(prior_strength=QUICK.prior_strength).fit(data)
    leads = pd.concat([odd_leads(data), history_leads(data, 60)], ignore_index=True)
    prepared = prepare_crm_leads(leads, data.reference)
    assert builder.scores_now(prepared)
    lead_frame = builder.lead_features(prepared)
    pair_frame = builder.pair_features(prepared, reps, lead_matrix=lead_frame)

    lead_array = builder.lead_array(prepared)
    pair_array = builder.pair_array(prepared, reps, lead_array)
    assert np.allclose(lead_array, model_array(lead_frame), rtol=0, atol=TOLERANCE, equal_nan=True)
    assert np.allclose(pair_array, model_array(pair_frame), rtol=0, atol=TOLERANCE, equal_nan=True)
    # The same from the plain columns the scoring path prepares.
    columns = prepare_crm_columns(leads, CrmLookup.of(data.reference))
    assert np.allclose(builder.lead_array(columns), lead_array, rtol=0, atol=TOLERANCE, equal_nan=True)
    assert all((lookup.dense_ is not None) == dense for lookup in builder._now_tables().totals.values())
    # The comparison can fail: leads and reps do get numbers of their own.
    assert not np.allclose(pair_array[: len(reps)], pair_array[len(reps) : 2 * len(reps)])
    assert not np.allclose(pair_array[:1], pair_array[1:2])


class OtherTotals(FeatureBuilder):
    """History math asking for key combinations the fitted totals do not hold, and an extra output."""

    def _lead_history_from(self, totals):
        out = super()._lead_history_from(totals)
        out["series_log_n"] = np.log1p(totals(["sector", "product"], ["n"])["n"])
        out["not a feature"] = out["prior_rate"]
        return out

    def _rep_history_from(self, totals, lead):
        out = super()._rep_history_from(totals, lead)
        out["rep_series_log_n"] = np.log1p(totals([REP, "sector", "product"], ["n", "wins"])["wins"])
        return out


def test_any_key_combination_is_looked_up_as_the_frames_sum_it(data, reps: list[str]) -> None:
    builder = OtherTotals().fit(data)
    prepared = prepare_crm_leads(pd.concat([odd_leads(data), history_leads(data, 40)]), data.reference)
    lead_frame = builder.lead_features(prepared)
    lead_array = builder.lead_array(prepared)
    assert np.allclose(lead_array, model_array(lead_frame), rtol=0, atol=TOLERANCE, equal_nan=True)
    pairs = model_array(builder.pair_features(prepared, reps, lead_matrix=lead_frame))
    assert np.allclose(builder.pair_array(prepared, reps, lead_array), pairs, rtol=0, atol=TOLERANCE, equal_nan=True)
    assert pairs[:, builder.pair_feature_names.index("rep_series_log_n")].max() > 0


def test_prepared_columns_match_prepare_crm_leads(data) -> None:
    leads = odd_leads(data)
    leads.loc[1, "engage_date"] = pd.NaT  # scored today
    frame = prepare_crm_leads(leads, data.reference)
    columns = prepare_crm_columns(leads, CrmLookup.of(data.reference))
    by_name = prepare_crm_columns({c: leads[c].to_numpy() for c in leads.columns}, CrmLookup.of(data.reference))
    assert by_name.keys() == columns.keys()
    for name, values in by_name.items():
        assert np.array_equal(values, columns[name], equal_nan=values.dtype.kind in "fM") or all(
            (pd.isna(a) and pd.isna(b)) or a == b for a, b in zip(values, columns[name], strict=True)
        ), name
    for name, values in columns.items():
        expected = frame[name].to_numpy()
        if values.dtype.kind in "fM":
            assert np.array_equal(values, expected.astype(values.dtype), equal_nan=True), name
        else:
            assert [None if pd.isna(v) else v for v in values] == [None if pd.isna(v) else v for v in expected], name
    assert columns["size_band"][-1] == "small"  # a revenue on the lower edge is in the lower band (pd.cut)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda data: odd_leads(data).head(1), id="one lead"),
        pytest.param(odd_leads, id="unknown accounts, own fields, missing values"),
        pytest.param(lambda data: history_leads(data, 100), id="100 leads"),
        pytest.param(lambda data: history_leads(data, 5).drop(columns=["engage_date"]), id="no engage date"),
        pytest.param(lambda data: history_leads(data, 3).drop(columns=["lead_id"]), id="no lead id"),
        pytest.param(
            lambda data: history_leads(data, 3).assign(engage_date=lambda f: f["engage_date"].dt.strftime("%Y-%m-%d")),
            id="dates as text",
        ),
    ],
)
def test_predictions_match_the_frame_path(data, models: LeadwiseModels, reps: list[str], make, monkeypatch) -> None:
    leads = make(data)
    slow, slow_no_reps = models.predict(leads, reps, fast=False), models.predict(leads, reps=[], fast=False)
    frames_forbidden(monkeypatch)
    assert_same(models.predict(leads, reps), slow)
    assert_same(models.predict(leads, reps=[]), slow_no_reps)
    # The same leads as columns by name (what the scoring service passes): no frame at all.
    columns = {name: leads[name].tolist() for name in leads.columns}
    assert_same(models.predict(columns, reps), slow)


def test_forbidding_frames_is_seen(data, models: LeadwiseModels, monkeypatch) -> None:
    """The guard used above does stop the frame path (so those tests do compare two paths)."""
    frames_forbidden(monkeypatch)
    with pytest.raises(AssertionError, match="the frame path ran"):
        models.predict(odd_leads(data), fast=False)


def test_leads_inside_the_history_take_the_frame_path(data, models: LeadwiseModels, reps: list[str]) -> None:
    leads = history_leads(data, 20)
    leads.loc[3, "engage_date"] = pd.Timestamp("2017-06-01")  # one lead inside the history is enough
    prepared = prepare_crm_leads(leads, data.reference)
    assert not models.builder.scores_now(prepared)
    with pytest.raises(ValueError, match="after the whole history"):
        models.builder.lead_array(prepared)
    assert_same(models.predict(leads, reps), models.predict(leads, reps, fast=False))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(product=["GTX Pro", "Hoverboard"]), "unknown product 'Hoverboard'"),
        (lambda f: f.assign(revenue=["12", "a lot"]), "'a lot' is not a number"),
        (lambda f: f.assign(engage_date=["2018-01-02", "someday"]), "'someday' is not a date"),
        (lambda f: f.drop(columns=["product"]), "required column 'product' is missing"),
    ],
)
def test_bad_leads_fail_with_the_same_message(data, models: LeadwiseModels, change, message: str) -> None:
    leads = change(history_leads(data, 2))
    with pytest.raises(DataValidationError) as fast:
        models.predict(leads)
    with pytest.raises(DataValidationError) as slow:
        models.predict(leads, fast=False)
    with pytest.raises(DataValidationError) as columns:
        models.predict({name: leads[name].tolist() for name in leads.columns})
    assert str(fast.value) == str(slow.value) == str(columns.value) and message in str(fast.value)


def test_isotonic_calibration_matches(models: LeadwiseModels, data) -> None:
    builder = models.builder
    train = data.closed.sort_values("engage_date").head(3000)
    X = builder.lead_features(train)
    booster = CalibratedBooster({"n_estimators": 40}, method="isotonic").fit(X, train["won"].to_numpy(int))
    assert booster.takes_arrays
    assert np.allclose(booster.predict_win_array(model_array(X)), booster.predict_win(X), rtol=0, atol=TOLERANCE)


def test_lookups_are_rebuilt_after_pickling_not_stored(data, models: LeadwiseModels, reps: list[str]) -> None:
    leads = history_leads(data, 4)
    before = models.predict(leads, reps)
    copy = pickle.loads(pickle.dumps(models))
    assert "_now_lookups" not in copy.builder.__dict__ and "_now_scoring_cache" not in copy.__dict__
    assert_same(copy.predict(leads, reps), before)


def test_single_table_models_match(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    n = 1200
    path = tmp_path / "leads.csv"
    pd.DataFrame(
        {"lead": [f"L{i}" for i in range(n)], "employees": rng.integers(5, 5000, n),
         "source": rng.choice(["web", "event", "partner"], n), "owner": rng.choice(["ann", "bob", "cy"], n),
         "won": rng.choice(["yes", "no"], n)}
    ).to_csv(path, index=False)  # fmt: skip
    table = from_table(load_lead_table(path, TableSpec(target="won", id="lead", rep="owner")))
    models = train_models(table, TrainConfig(baselines=False, lgbm_params={"n_estimators": 30})).models
    leads = pd.read_csv(path).head(50)
    leads.loc[0, "source"] = "a source never seen"
    leads.loc[1, "employees"] = np.nan
    expected = {n: models.predict(leads, ["ann", "bob", "cy", "dee"][:n], fast=False) for n in (4, 0)}
    # Single-table leads are prepared as frames (no history: every lead scores now); features are not.
    for name in ("lead_features", "pair_features"):
        monkeypatch.setattr(FeatureBuilder, name, lambda *a, **k: pytest.fail("the frame path ran"))
    for n, slow in expected.items():
        assert_same(models.predict(leads, ["ann", "bob", "cy", "dee"][:n]), slow)
