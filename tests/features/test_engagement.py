"""Engagement features: counts and recency from touches strictly before the scoring moment.

Unit tests on ``engagement_features``; the leakage guard (no touch at or after a lead's engage date moves
its features); the lookups and the as-of totals agreeing with touches; and models trained without touchpoints
behaving exactly as before (touches ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadwise.data.crm import load_crm_dir
from leadwise.data.training_data import from_crm
from leadwise.features.builder import FeatureBuilder, Pairs
from leadwise.features.engagement import EngagementSpec, engagement_features
from leadwise.learn.models import LeadwiseModels
from leadwise.learn.training import TrainConfig, train_models
from leadwise.marketing.touchpoints import TOUCH_TYPES
from leadwise.services.models import LoadedModels
from leadwise.services.scoring import score_leads, touches_frame
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import Engagement, WorldConfig
from leadwise.simulate.world_files import load_truth, write_world

QUICK = TrainConfig(baselines=False, lgbm_params={"n_estimators": 120, "num_threads": 1})
TOLERANCE = 1e-9


def touches(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["lead_id", "timestamp", "channel", "touch_type"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = WorldConfig(seed=7, n_history=2500, n_stream=300, n_reps=12, engagement=Engagement(enabled=True))
    directory = tmp_path_factory.mktemp("engagement-world")
    write_world(generate_world(config), directory)
    return directory


@pytest.fixture(scope="module")
def models(world_dir: Path) -> LeadwiseModels:
    return train_models(from_crm(load_crm_dir(world_dir)), QUICK).models


# ------------------------------------------------------------------------------------------------- unit


def test_counts_recency_and_revealing_acts() -> None:
    spec = EngagementSpec(("email", "webinar"))
    found = touches(
        ("a", "2024-01-01 10:00", "email", "email_click"),
        ("a", "2024-01-25 09:00", "webinar", "webinar_attended"),
        ("a", "2024-01-30 12:00", "partner", "demo_request"),
        ("a", "2024-02-01 00:00", "email", "quote_request"),  # at the moment: does not count
        ("a", "2024-02-03 00:00", "email", "visit"),  # after it: does not count
        ("c", "2024-01-01 00:00", "email", "visit"),  # not a lead being scored
    )
    at = np.array(["2024-02-01", "2024-02-01"], dtype="datetime64[ns]")
    out = engagement_features(spec, ["a", "b"], at, found)
    assert set(out) == set(spec.feature_names)
    assert out["touch_total"].tolist() == [3.0, 0.0]
    assert out["touch_email_click"].tolist() == [1.0, 0.0]
    assert out["touch_quote_request"].tolist() == [0.0, 0.0]
    assert out["touch_channel_email"].tolist() == [1.0, 0.0]
    assert out["touch_channel_webinar"].tolist() == [1.0, 0.0]
    assert out["touch_channel_other"].tolist() == [1.0, 0.0]
    assert out["touch_days_since_last"][0] == pytest.approx(1.5)
    assert np.isnan(out["touch_days_since_last"][1])
    assert out["touch_last_7d"].tolist() == [2.0, 0.0]
    assert out["touch_last_30d"].tolist() == [2.0, 0.0]
    assert out["touch_revealing"].tolist() == [1.0, 0.0]


def test_spec_names_are_stable_and_safe() -> None:
    spec = EngagementSpec.from_touches(
        touches(("a", "2024-01-01", "Paid Search", "visit"), ("b", "2024-01-01", "Paid Search", "visit"),
                ("a", "2024-01-02", "e-mail", "visit"), ("a", "2024-01-02", "other", "visit"))
    )  # fmt: skip
    assert spec.channels == ("Paid Search", "e-mail", "other")
    assert spec.channel_columns == ["touch_channel_paid_search", "touch_channel_e_mail", "touch_channel_other_2"]
    assert len(set(spec.feature_names)) == len(spec.feature_names) == 1 + len(TOUCH_TYPES) + 3 + 1 + 4


def test_aware_timestamps_are_read_in_utc() -> None:
    spec = EngagementSpec(())
    aware = pd.DataFrame(
        {"lead_id": ["a"], "timestamp": [pd.Timestamp("2024-01-31 23:30", tz="America/New_York")],
         "channel": ["x"], "touch_type": ["visit"]}
    )  # fmt: skip
    # 23:30 in New York is 04:30 UTC on 1 February: after the scoring moment, so it does not count.
    out = engagement_features(spec, ["a"], np.array(["2024-02-01"], dtype="datetime64[ns]"), aware)
    assert out["touch_total"].tolist() == [0.0]


# -------------------------------------------------------------------------------------------- leakage


def test_touches_at_or_after_the_engage_date_never_move_a_leads_features(world_dir: Path) -> None:
    data = from_crm(load_crm_dir(world_dir))
    assert data.touches is not None and len(data.touches)
    builder = FeatureBuilder().fit(data)
    leads = data.frame[data.frame["engage_date"].notna()].reset_index(drop=True)
    original = builder.pair_features(leads, reps=builder.reps_[:3], touches=data.touches)

    # Every touch moved to (or after) its deal's engage date, with other channels and types, plus
    # extra touches right at the moment: none of it is known before the lead is scored.
    rng = np.random.default_rng(1)
    engaged = data.touches["lead_id"].map(leads.set_index("lead_id")["engage_date"])
    future = data.touches.assign(
        timestamp=engaged + pd.to_timedelta(rng.integers(0, 40, len(engaged)), unit="D"),
        channel=rng.choice(["referral", "partner", "brand_new"], len(engaged)),
        touch_type=rng.choice(["demo_request", "quote_request"], len(engaged)),
    )
    at_the_moment = leads[["lead_id"]].assign(
        timestamp=leads["engage_date"], channel="referral", touch_type="demo_request"
    )
    rewritten = pd.concat([future, at_the_moment], ignore_index=True)
    cold = builder.pair_features(leads, reps=builder.reps_[:3], touches=None)
    moved = builder.pair_features(leads, reps=builder.reps_[:3], touches=rewritten)
    pd.testing.assert_frame_equal(moved, cold)

    # The touches before the moment do reach the features: the comparison above can fail.
    touched = original["touch_total"].to_numpy() > 0
    assert touched.mean() > 0.5
    assert not np.allclose(original["touch_total"], cold["touch_total"])
    assert (original.loc[~touched, builder.engagement.feature_names].fillna(-1).to_numpy()
            == cold.loc[~touched, builder.engagement.feature_names].fillna(-1).to_numpy()).all()  # fmt: skip


# ------------------------------------------------------------------------------------- scoring paths


def test_lookups_and_as_of_totals_agree_with_touches(world_dir: Path, models: LeadwiseModels) -> None:
    truth = load_truth(world_dir)
    raw = truth.stream[["lead_id", "account", "product", "engage_date"]].head(200)
    prepared = models.prepare(raw)
    builder = models.builder
    assert builder._leads(prepared).now  # the stream comes after the history
    features = {}
    for now in (True, False):
        leads = builder._leads(prepared, now=now, touches=truth.touches)
        lead = builder._lead_columns(leads)
        pairs = builder._pair_columns(leads, Pairs.grid(leads.n, models.reps), lead)
        features[now] = np.column_stack([*lead.values()]), np.column_stack([*pairs.values()])
    for fast, slow in zip(features[True], features[False], strict=True):
        assert np.allclose(fast, slow, rtol=0, atol=TOLERANCE, equal_nan=True)
    # The touches matter to the scores (so the agreement above is not the agreement of two cold paths).
    touched = models.predict(raw, models.reps, touches=truth.touches)
    assert not np.allclose(touched.lead_score, models.predict(raw, models.reps).lead_score)


def test_service_reads_touches_from_each_lead(world_dir: Path, models: LeadwiseModels) -> None:
    truth = load_truth(world_dir)
    lead_id = truth.touches["lead_id"].iloc[0]
    row = truth.stream.set_index("lead_id").loc[lead_id]
    own = truth.touches[truth.touches["lead_id"] == lead_id]
    items = [
        {"timestamp": stamp.to_pydatetime(), "channel": channel, "touch_type": kind}
        for stamp, channel, kind in own[["timestamp", "channel", "touch_type"]].itertuples(index=False)
    ]
    lead = {"lead_id": lead_id, "account": row["account"], "product": row["product"], "engage_date": row["engage_date"]}
    loaded = LoadedModels(models=models, version="test", fingerprint=(), loaded_at=datetime.now(UTC))
    with_touches = score_leads(loaded=loaded, leads=[{**lead, "touches": items}], rep_names=models.reps)[0]
    without = score_leads(loaded=loaded, leads=[lead], rep_names=models.reps)[0]
    expected = models.predict(pd.DataFrame([lead]), models.reps, touches=own)
    assert with_touches.score == pytest.approx(float(expected.lead_score[0]), abs=TOLERANCE)
    assert with_touches.score != pytest.approx(without.score, abs=1e-6)
    # What the API sends: aware timestamps (here the same instants written in UTC+2).
    plus_two = timezone(timedelta(hours=2))
    aware = [{**item, "timestamp": (item["timestamp"] + timedelta(hours=2)).replace(tzinfo=plus_two)} for item in items]
    from_api = score_leads(loaded=loaded, leads=[{**lead, "touches": aware}], rep_names=models.reps)[0]
    assert from_api.score == pytest.approx(with_touches.score, abs=TOLERANCE)
    frame = touches_frame([{**lead, "touches": items}])
    assert frame is not None and len(frame) == len(own)
    assert touches_frame([lead]) is None


def test_models_trained_without_touchpoints_ignore_them(bundled_dir: Path, world_dir: Path) -> None:
    data = from_crm(load_crm_dir(bundled_dir))
    assert data.touches is None
    builder = FeatureBuilder().fit(data)
    assert builder.engagement is None
    assert not any(name.startswith("touch_") for name in builder.pair_feature_names)
    # A world trained with its touchpoints removed: the same columns as before engagement existed.
    world = load_crm_dir(world_dir)
    world.touches = None
    plain = train_models(from_crm(world), QUICK).models
    leads = load_truth(world_dir).stream[["lead_id", "account", "product", "engage_date"]].head(20)
    ignored = plain.predict(leads, plain.reps, touches=load_truth(world_dir).touches)
    baseline = plain.predict(leads, plain.reps)
    assert np.array_equal(ignored.lead_score, baseline.lead_score) and np.array_equal(ignored.fit, baseline.fit)
