"""The one scoring path gives the numbers of the code it replaced, and its two ways of reading totals agree.

``data/reference.npz`` holds the features and predictions that 90a7b44 (a frame path and a lookup path)
computed for the leads of ``reference_leads`` (recipe: ``data/freeze_reference.py``). Training here is
the same, so the models are too: features and predictions must match to float tolerance. Leads engaged
after the whole history read the history's totals from lookups, others as of their engage date; the
tests force each way on the same leads and compare.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.features.reference_leads import N_REPS, QUICK, history_leads, inside_history_leads, odd_leads

from leadwise.data.crm import load_crm_dir
from leadwise.data.errors import DataValidationError
from leadwise.data.table import TableSpec, load_lead_table
from leadwise.data.training_data import CrmLookup, from_crm, from_table, prepare_crm_columns
from leadwise.features.builder import REP, FeatureBuilder, Pairs, model_array
from leadwise.features.history import TotalsLookup
from leadwise.learn.models import CalibratedBooster, LeadwiseModels
from leadwise.learn.training import TrainConfig, train_models
from leadwise.settings import BUNDLED_DATA_DIR

TOLERANCE = 1e-9
REFERENCE = Path(__file__).with_name("data") / "reference.npz"
CASES = {"odd": odd_leads, "history": lambda data: history_leads(data, 20), "inside": lambda data: inside_history_leads(data, 20)}  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as frozen:
        return dict(frozen)


@pytest.fixture(scope="module")
def data():
    return from_crm(load_crm_dir(BUNDLED_DATA_DIR))


@pytest.fixture(scope="module")
def models(data) -> LeadwiseModels:
    return train_models(data, QUICK).models


@pytest.fixture(scope="module")
def reps(models: LeadwiseModels, reference) -> list[str]:
    reps = [*models.reps, *[f"New Rep {i}" for i in range(N_REPS - len(models.reps))]]
    assert reps == reference["reps"].tolist()
    return reps


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=TOLERANCE, equal_nan=True))


def assert_same(a, b) -> None:
    assert a.lead_ids == b.lead_ids and a.reps == b.reps
    for name in ("lead_score", "fit", "deal_value"):
        assert close(getattr(a, name), getattr(b, name)), name


def both_ways(builder: FeatureBuilder, prepared, reps, touches=None) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """The lead and pair features with the totals from lookups (True) and as of each engage date (False)."""
    out = {}
    for now in (True, False):
        leads = builder._leads(prepared, now=now, touches=touches)
        lead = builder._lead_columns(leads)
        pairs = builder._pair_columns(leads, Pairs.grid(leads.n, reps), lead)
        out[now] = (np.column_stack(list(lead.values())), np.column_stack(list(pairs.values())))
    return out


def test_feature_names_are_those_of_the_reference(models: LeadwiseModels, reference) -> None:
    assert models.builder.lead_feature_names == reference["lead_feature_names"].tolist()
    assert models.builder.pair_feature_names == reference["pair_feature_names"].tolist()


@pytest.mark.parametrize("case", CASES)
def test_predictions_and_features_match_the_reference(data, models, reps, reference, case: str) -> None:
    leads = CASES[case](data)
    predicted = models.predict(leads, reps)
    assert close(predicted.lead_score, reference[f"{case}_lead_score"])
    assert close(predicted.fit, reference[f"{case}_fit"])
    assert close(predicted.deal_value, reference[f"{case}_deal_value"])
    prepared = models.prepare(leads)
    lead_matrix = models.builder.lead_matrix(prepared)
    assert close(lead_matrix, reference[f"{case}_lead_features"])
    assert close(models.builder.pair_matrix(prepared, reps, lead_matrix), reference[f"{case}_pair_features"])
    # The same leads as columns by name (what the scoring service passes).
    assert_same(models.predict({name: leads[name].tolist() for name in leads.columns}, reps), predicted)
    # The comparison can fail: leads and reps get numbers of their own.
    assert np.ptp(predicted.lead_score) > 0.01 and np.ptp(predicted.fit[0]) > 0.01


def test_training_features_match_the_reference(data, models: LeadwiseModels, reference) -> None:
    closed = data.closed.sort_values("engage_date").tail(200)
    lead_frame = models.builder.lead_features(closed)
    assert close(model_array(lead_frame), reference["training_lead_features"])
    pairs = models.builder.pair_features(closed, lead_matrix=lead_frame)
    assert close(model_array(pairs), reference["training_pair_features"])
    assert close(models.lead_model.predict_win(lead_frame), reference["training_lead_score"])
    assert isinstance(lead_frame["product"].dtype, pd.CategoricalDtype)  # what LightGBM was fitted on


@pytest.mark.parametrize("dense", [True, False], ids=["dense lookups", "binary-search lookups"])
def test_lookups_give_the_as_of_totals(data, reps: list[str], dense: bool, monkeypatch) -> None:
    if not dense:  # the bundled history is small: force the path large histories take
        monkeypatch.setattr(TotalsLookup, "DENSE_MAX_CELLS", 0)
    builder = FeatureBuilder(prior_strength=QUICK.prior_strength, glm_strength=QUICK.glm_strength).fit(data)
    leads = pd.concat([odd_leads(data), history_leads(data, 60)], ignore_index=True)
    prepared = prepare_crm_columns(leads, CrmLookup.of(data.reference))
    assert builder._leads(prepared).now  # engaged after the history: predict reads the lookups
    ways = both_ways(builder, prepared, reps)
    assert close(ways[True][0], ways[False][0]) and close(ways[True][1], ways[False][1])
    assert all((lookup.dense_ is not None) == dense for lookup in builder._lookups.totals.values())
    # Inside the history the as-of totals apply.
    inside = prepare_crm_columns(inside_history_leads(data, 5), CrmLookup.of(data.reference))
    assert not builder._leads(inside).now


class OneMoreFeature(FeatureBuilder):
    """A feature added in one place, asking for key combinations the fitted totals do not hold."""

    def _lead_history_from(self, totals, glm_logit=None):
        out = super()._lead_history_from(totals, glm_logit)
        out["sector_product_log_n"] = np.log1p(totals(["sector", "product"], ["n"])["n"])
        return out

    def _rep_history_from(self, totals, lead):
        out = super()._rep_history_from(totals, lead)
        out["rep_sector_product_wins"] = totals([REP, "sector", "product"], ["n", "wins"])["wins"]
        return out


def test_a_feature_added_once_reaches_training_and_serving(data, reps: list[str]) -> None:
    builder = OneMoreFeature().fit(data)
    assert "sector_product_log_n" in builder.lead_feature_names
    pair_only = builder.pair_feature_names[len(builder.lead_feature_names) :]
    assert "rep_sector_product_wins" in pair_only
    training = builder.pair_features(data.closed.tail(300))
    assert training["sector_product_log_n"].max() > 0 and training["rep_sector_product_wins"].max() > 0
    prepared = prepare_crm_columns(pd.concat([odd_leads(data), history_leads(data, 40)]), CrmLookup.of(data.reference))
    ways = both_ways(builder, prepared, reps)
    assert close(ways[True][0], ways[False][0]) and close(ways[True][1], ways[False][1])
    assert ways[True][1][:, pair_only.index("rep_sector_product_wins")].max() > 0


def test_prepared_columns_from_a_frame_or_by_name(data) -> None:
    leads = odd_leads(data)
    leads.loc[1, "engage_date"] = pd.NaT  # scored today
    lookup = CrmLookup.of(data.reference)
    columns = prepare_crm_columns(leads, lookup)
    by_name = prepare_crm_columns({c: leads[c].to_numpy() for c in leads.columns}, lookup)
    assert by_name.keys() == columns.keys()
    for name, values in by_name.items():
        assert [None if pd.isna(v) else v for v in values] == [None if pd.isna(v) else v for v in columns[name]], name
    assert columns["engage_date"][1] == np.datetime64(pd.Timestamp.now().normalize().asm8)
    assert columns["size_band"][-1] == "small"  # a revenue on the lower edge is in the lower band (pd.cut)
    assert columns["sector"][2] == "retail" and columns["revenue"][3] == 9000.0  # the lead's own fields win
    assert columns["product"][2] == "GTX Plus Basic" and np.isnan(columns["is_subsidiary"][4])


@pytest.mark.parametrize(
    ("change", "same_as"),
    [
        pytest.param(lambda f: f.drop(columns=["engage_date"]), lambda f: f.assign(engage_date=pd.Timestamp.now().normalize()), id="no engage date"),
        pytest.param(lambda f: f.drop(columns=["lead_id"]), lambda f: f.assign(lead_id=["1", "2", "3"]), id="no lead id"),
        pytest.param(lambda f: f.assign(engage_date=f["engage_date"].dt.strftime("%Y-%m-%d")), lambda f: f, id="dates as text"),
    ],
)  # fmt: skip
def test_lead_forms_score_alike(data, models: LeadwiseModels, reps: list[str], change, same_as) -> None:
    leads = history_leads(data, 3)
    assert_same(models.predict(change(leads), reps), models.predict(same_as(leads), reps))


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
    with pytest.raises(DataValidationError) as frame:
        models.predict(leads)
    with pytest.raises(DataValidationError) as columns:
        models.predict({name: leads[name].tolist() for name in leads.columns})
    assert str(frame.value) == str(columns.value) and message in str(frame.value)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_is_scikit_learn_s(models: LeadwiseModels, data, method: str) -> None:
    train = data.closed.sort_values("engage_date").head(3000)
    X = models.builder.lead_features(train)
    booster = CalibratedBooster({"n_estimators": 40}, method=method).fit(X, train["won"].to_numpy(int))
    p = booster.predict_win(model_array(X))
    assert close(booster.predict_win(X), p) and 0 <= p.min() < p.max() <= 1
    # The fitted CalibratedClassifierCV's own (public, slower) predict_proba on the margins is the oracle.
    margin = booster.scorer_.decision_function(model_array(X))
    assert close(p, booster.calibrated_.predict_proba(margin[:, None])[:, 1])
    # Both calibrations keep the booster's order: the probability never falls as the margin rises.
    assert (np.diff(p[np.argsort(margin, kind="stable")]) >= -1e-12).all()


def test_lookups_are_rebuilt_after_pickling_not_stored(data, models: LeadwiseModels, reps: list[str]) -> None:
    leads = history_leads(data, 4)
    before = models.predict(leads, reps)
    copy = pickle.loads(pickle.dumps(models))
    assert "_lookups" not in copy.builder.__dict__ and "_crm_lookup_cache" not in copy.__dict__
    assert_same(copy.predict(leads, reps), before)


def test_single_table_models(tmp_path: Path) -> None:
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
    unseen = pd.concat([leads.head(1)] * 2, ignore_index=True).assign(source=["a source never seen", None])
    predicted = models.predict(unseen, ["ann", "bob", "cy", "dee"])
    # An unseen category and a missing one are the same NaN code; an unknown rep has no rep_id code.
    assert close(predicted.lead_score[:1], predicted.lead_score[1:]) and close(predicted.fit[0], predicted.fit[1])
    prepared = models.prepare(leads)
    pairs = models.builder.pair_matrix(prepared, ["ann", "dee"], models.builder.lead_matrix(prepared))
    assert np.isnan(pairs[1::2, -1]).all() and (pairs[0::2, -1] == 0).all()
    # The frame the models were fitted on and the matrix served are the same numbers.
    frame = models.builder.pair_features(prepared, ["ann", "dee"])
    assert close(model_array(frame), pairs)
    assert close(models.predict(leads, ["ann", "dee"]).fit.reshape(-1), models.fit_model.predict_win(frame))
