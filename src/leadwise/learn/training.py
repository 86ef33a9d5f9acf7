"""Training steps, pure: split → features → fit the three models → validate against baselines.

Nothing here touches MLflow or the disk; ``leadwise.learn.tracking`` logs what this returns.
"""

from __future__ import annotations

import hashlib
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sklearn.model_selection import train_test_split

from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import TrainingData
from leadwise.features.builder import MIN_CATEGORY_ROWS, OTHER_CATEGORY, FeatureBuilder
from leadwise.learn.baselines import baseline_models
from leadwise.learn.demand_history import DemandHistory
from leadwise.learn.metrics import classification_metrics, regression_metrics
from leadwise.learn.models import CalibratedBooster, LeadwiseModels, ValueRegressor, WinModel, score_reference
from leadwise.learn.selection import CANDIDATES, SearchProgress, SelectedClassifier, SelectionReport

# A model "beats" a baseline only by more than this much ROC AUC: smaller gaps are noise at these sizes.
BEATS_MARGIN = 0.005
FIT_OFFSETS = ("glm_pair_logit", "rep_fit_logit")


class TrainConfig(BaseModel):
    """A training run's knobs; a run config file (TOML or YAML) holds the same fields."""

    model_config = ConfigDict(extra="forbid")

    validation_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    calibration_fraction: float = Field(0.2, gt=0.0, lt=0.5)
    calibration_method: str = Field("sigmoid", pattern="^(sigmoid|isotonic)$")
    # Shrinkage: a rep's record (overall and per segment) acts as if this many deals at the prior rate had
    # been seen; "auto" estimates it for the overall record by empirical Bayes from how much the history's
    # reps differ (training deals only; 10 per segment), so a new rep's first deals move it as they should.
    prior_strength: Annotated[float, Field(ge=0.0)] | Literal["auto"] = "auto"
    # Segment and account rates act as if this many deals at the prior rate had been seen.
    rep_prior_strength: float = Field(3.0, ge=0.0)
    # The additive logit feature's inverse L2 strength (scikit-learn's C); "auto" chooses it by 3-fold log
    # loss on the training deals, as a penalty per deal (each snapshot's C in step with its deals).
    glm_strength: Annotated[float, Field(gt=0.0)] | Literal["auto"] = "auto"
    lgbm_params: dict[str, Any] = Field(default_factory=dict)
    random_seed: int = 42
    baselines: bool = True
    # The earliest training deals have almost no history before them, so their history features say
    # little; fitting on them teaches the models to trust history less than it deserves once it is
    # full. They still count as history for every later deal; they are only not fitted on.
    history_burn_in: float = Field(0.25, ge=0.0, lt=0.9)
    # Baselines are fitted on at most this many rows: their figures settle long before a million rows,
    # and a one-hot logistic regression on all of them would cost more than the model it is compared to.
    baseline_max_rows: int = Field(50_000, ge=1_000)
    # Model selection by inner cross-validation (``leadwise.learn.selection``), in seconds for the whole
    # run (shared by the models searched); 0 keeps the fixed ``lgbm_params`` calibrated on the latest
    # slice. The CLI's default is ``Settings.train_budget``.
    search_budget: float = Field(0.0, ge=0.0, le=86_400.0)
    search_folds: int = Field(5, ge=2, le=10)
    search_candidates: tuple[str, ...] = CANDIDATES
    # Once validated, the models are boosted again on the training and validation rows together (for the
    # rounds early stopping kept, with their out-of-sample calibration), so the served models learn from
    # the latest deals, which the validation held out. The validation metrics are those of the models
    # before this refit. False serves the validated models as they are.
    refit_all_rows: bool = True

    @field_validator("search_candidates")
    @classmethod
    def _known_candidates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in CANDIDATES]
        if unknown or not value:
            raise ValueError(f"candidates are {', '.join(CANDIDATES)} (got {', '.join(value) or 'none'})")
        return value

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        file = Path(path)
        if not file.is_file():
            raise DataValidationError("config file not found", file=file)
        try:
            text = file.read_text()
            raw = tomllib.loads(text) if file.suffix == ".toml" else yaml.safe_load(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
            raise DataValidationError(f"not a valid config file: {error}", file=file) from None
        try:
            return cls.model_validate((raw or {}).get("training", raw or {}))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise DataValidationError(f"training.{where}: {first['msg']}", file=file) from None


@dataclass
class ModelReport:
    """Validation of one model next to its baselines, and a plain verdict."""

    name: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    verdict: str = ""
    beats_baselines: bool = True


@dataclass
class TrainingOutcome:
    models: LeadwiseModels
    reports: dict[str, ModelReport]
    fingerprint: dict[str, Any]
    split: dict[str, Any]
    validation: dict[str, pd.DataFrame]  # per model: y_true and prediction on the validation rows
    importances: dict[str, pd.Series]
    validation_leads: pd.DataFrame  # the validation rows as a caller would send them, with outcomes
    input_example: pd.DataFrame  # a few raw leads, logged with each MLflow model
    validation_touches: pd.DataFrame | None = None  # the touchpoints, when the history had them
    selection: dict[str, SelectionReport] = field(default_factory=dict)  # per searched model
    demand_history: DemandHistory | None = None  # kept with the registered model (capacity prices' cold start)

    @property
    def metrics(self) -> dict[str, float]:
        """Flat ``model.metric`` dictionary (the names MLflow shows)."""
        flat = {}
        for name, report in self.reports.items():
            flat.update({f"{name}.{metric}": value for metric, value in report.metrics.items()})
            for baseline, metrics in report.baselines.items():
                flat.update(
                    {f"{name}.baseline.{baseline}.{metric}": value for metric, value in metrics.items()}
                )
        return flat


Progress = Callable[[str], None]


def data_fingerprint(data: TrainingData) -> dict[str, Any]:
    """Rows, outcome counts, date range and a content hash: enough to tell two trainings' data apart."""
    frame = data.frame
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    fingerprint: dict[str, Any] = {
        "source": str(data.source),
        "kind": data.kind,
        "rows": int(len(frame)),
        "closed_rows": int(frame["won"].notna().sum()),
        "won_rows": int((frame["won"] == 1).sum()),
        "sha256": digest,
    }
    if data.has_time:
        fingerprint["date_min"] = str(frame["engage_date"].min().date())
        fingerprint["date_max"] = str(frame["engage_date"].max().date())
    if data.has_rep:
        fingerprint["reps"] = int(frame["sales_agent"].nunique())
    if data.touches is not None:
        fingerprint["touches"] = int(len(data.touches))
    return fingerprint


def time_ordered_split(
    closed: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Earlier deals to learn from, the latest ``fraction`` to validate on; stratified when untimed."""
    if "engage_date" in closed:
        ordered = closed.sort_values(["engage_date", "lead_id"], kind="stable")
        cut = int(round(len(ordered) * (1 - fraction)))
        return ordered.iloc[:cut], ordered.iloc[cut:], "time-ordered"
    train, valid = train_test_split(closed, test_size=fraction, stratify=closed["won"], random_state=seed)
    return train, valid, "stratified"


def _compare(name: str, metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> ModelReport:
    auc = metrics["roc_auc"]
    best_name, best = max(
        ((b, m["roc_auc"]) for b, m in baselines.items() if not np.isnan(m["roc_auc"])),
        key=lambda item: item[1],
        default=("prior", 0.5),
    )
    if auc <= 0.5 + BEATS_MARGIN:
        verdict = f"{name}: ROC AUC {auc:.3f} is no better than chance; its scores carry no usable signal on this data"
        beats = False
    elif auc < best + BEATS_MARGIN:
        verdict = f"{name}: ROC AUC {auc:.3f} does NOT beat the {best_name} baseline ({best:.3f})"
        beats = False
    else:
        verdict = f"{name}: ROC AUC {auc:.3f} beats every baseline (best: {best_name} {best:.3f})"
        beats = True
    return ModelReport(name, metrics, baselines, verdict, beats)


def _fit_baselines(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    max_rows: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    results = {}
    if len(X_train) > max_rows:
        rows = np.random.default_rng(seed).choice(len(X_train), max_rows, replace=False)
        X_train, y_train = X_train.iloc[rows], y_train[rows]
    for name, model in baseline_models(numeric, categorical).items():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Bins whose width are too small")
            model.fit(X_train, y_train)
        results[name] = classification_metrics(y_valid, model.predict_proba(X_valid)[:, 1])
    return results


# (model name, share of its search budget used, what is running)
SearchObserver = Callable[[str, float, str], None]


def train_models(
    data: TrainingData,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    row_weights: Mapping[str, float] | None = None,
    search_progress: SearchObserver | None = None,
) -> TrainingOutcome:
    """Fit the lead score, the rep-lead fit and the deal value models, and validate them.

    With ``config.search_budget`` the lead score (and, without history offsets, the fit model) is
    chosen by inner cross-validation on the training rows (``SelectedClassifier``). ``row_weights``
    (lead id → weight, 1 for a lead not in it) weighs the rep-lead fit model's training rows: inverse
    propensities make the service's own greedy decisions count as a design that tried every rep
    (``leadwise train --weight-by-propensity``)."""
    config = config or TrainConfig()
    say = progress or (lambda _message: None)
    data.require_both_outcomes()
    closed = data.closed
    train, valid, split_kind = time_ordered_split(closed, config.validation_fraction, config.random_seed)
    for part, label in ((train, "training"), (valid, "validation")):
        if train["won"].nunique() < 2 or part["won"].nunique() < 2:
            raise DataValidationError(
                f"the {label} rows hold only one outcome; more won and lost deals are needed",
                file=data.label_file, column=data.label_column,
            )  # fmt: skip
    if split_kind == "stratified":
        # Untimed rows: shuffle once so the calibration tail is a random slice, not file order.
        train = train.sample(frac=1.0, random_state=config.random_seed)
    if split_kind == "time-ordered" and data.kind == "crm":
        burn_in = int(len(train) * config.history_burn_in)
        train = train.iloc[burn_in:]
        say(f"split {len(train)} training / {len(valid)} validation deals ({split_kind}; {burn_in} earliest used as history only)")
    else:
        say(f"split {len(train)} training / {len(valid)} validation deals ({split_kind})")

    validation_start = valid["engage_date"].min() if split_kind == "time-ordered" else None
    builder = FeatureBuilder(config.prior_strength, config.rep_prior_strength, config.glm_strength).fit(
        data, strength_until=validation_start
    )
    if builder.use_history_:
        how = "by empirical Bayes from the training deals" if config.prior_strength == "auto" else "fixed"
        say(f"a rep's record counts {builder.rep_strength('all'):.0f} deals at the prior ({how}); "
            f"per segment {builder.rep_strength(builder.segment_keys_[0]):.0f}")  # fmt: skip
        if builder.glm_.strength_ is not None and builder.glm_.Cs_:
            say(f"the additive logit's inverse L2 strength chosen by 3-fold log loss on the training deals: "
                f"C = {builder.glm_.Cs_[-1]:.3g} on every deal, in step with the deals at earlier snapshots")  # fmt: skip
    touches = data.touches if builder.engagement is not None else None
    lead_train, lead_valid = builder.lead_features(train, touches), builder.lead_features(valid, touches)
    engaged = (
        f" ({len(builder.engagement.feature_names)} from {len(touches):,} touches)"
        if builder.engagement is not None and touches is not None
        else ""
    )
    say(f"built {lead_train.shape[1]} lead features{engaged}")
    for column, rare in builder.pooled_.items():
        say(f"pooled {len(rare)} rare categories of {column.removeprefix('f_')} (under {MIN_CATEGORY_ROWS} rows each) as '{OTHER_CATEGORY}'")
    y_train, y_valid = train["won"].to_numpy(int), valid["won"].to_numpy(int)

    def booster(offsets: tuple[str, ...] = ()) -> CalibratedBooster:
        return CalibratedBooster(
            config.lgbm_params, config.calibration_fraction, config.calibration_method, config.random_seed, offsets
        )

    # The fit model starts from history offsets when the data has history: it keeps the booster built
    # for them. Otherwise both classifiers are searched and share the budget.
    searched = ["lead_score"] + (["rep_fit"] if data.has_rep and not builder.use_history_ else [])
    selection: dict[str, SelectionReport] = {}

    def classifier(
        name: str,
        X: pd.DataFrame,
        y: np.ndarray,
        offsets: tuple[str, ...] = (),
        sample_weight: np.ndarray | None = None,
    ) -> WinModel:
        if not config.search_budget or name not in searched:
            return booster(offsets).fit(X, y, sample_weight=sample_weight)
        chosen = SelectedClassifier(
            config.search_budget / len(searched),
            config.search_folds,
            config.random_seed,
            time_ordered=split_kind == "time-ordered",
            candidates=config.search_candidates,
        )
        observe: SearchProgress | None = None
        if search_progress is not None:
            observer = search_progress

            def observe(share: float, message: str) -> None:
                observer(name, share, message)

        chosen.fit(X, y, sample_weight=sample_weight, progress=observe)
        selection[name] = chosen.report_
        report = chosen.report_
        say(f"{name}: chose {report.chosen} by {report.folds}-fold inner CV ({len(report.trials)} trials, "
            f"{report.seconds:.0f} s), {report.calibration} calibration, inner-CV ECE {report.ece:.3f}")  # fmt: skip
        return chosen

    reports: dict[str, ModelReport] = {}
    validation: dict[str, pd.DataFrame] = {}
    sampling = (config.baseline_max_rows, config.random_seed)
    lead_model = classifier("lead_score", lead_train, y_train)
    p_lead = lead_model.predict_win(lead_valid)
    numeric = [c for c in lead_train.columns if c not in builder.categorical_]
    lead_baselines = (
        _fit_baselines(lead_train, y_train, lead_valid, y_valid, numeric, builder.categorical_, *sampling)
        if config.baselines
        else {}
    )
    reports["lead_score"] = _compare("lead_score", classification_metrics(y_valid, p_lead), lead_baselines)
    validation["lead_score"] = pd.DataFrame({"y_true": y_valid, "p": p_lead})
    say("fitted the lead score model")

    fit_model = None
    importances = {"lead_score": lead_model.feature_importance()}
    if data.has_rep:
        pair_train = builder.pair_features(train, lead_matrix=lead_train)
        pair_valid = builder.pair_features(valid, lead_matrix=lead_valid)
        # Boosting starts from the joint additive estimate (the point-in-time rates' one where the
        # snapshots have nothing yet) and learns what it misses.
        weights = _weights_of(train, row_weights)
        if weights is not None:
            say(f"weighted {int((weights != 1.0).sum()):,} training rows by inverse propensity")
        fit_model = classifier("rep_fit", pair_train, y_train, FIT_OFFSETS, sample_weight=weights)
        p_fit = fit_model.predict_win(pair_valid)
        pair_categorical = [c for c in pair_train.columns if isinstance(pair_train[c].dtype, pd.CategoricalDtype)]
        pair_numeric = [c for c in pair_train.columns if c not in pair_categorical]
        fit_baselines = (
            _fit_baselines(pair_train, y_train, pair_valid, y_valid, pair_numeric, pair_categorical, *sampling)
            if config.baselines
            else {}
        )
        reports["rep_fit"] = _compare("rep_fit", classification_metrics(y_valid, p_fit), fit_baselines)
        validation["rep_fit"] = pd.DataFrame({"y_true": y_valid, "p": p_fit})
        importances["rep_fit"] = fit_model.feature_importance()
        say(f"fitted the rep-lead fit model on {pair_train.shape[1]} pair features")
    else:
        say("no rep column: the rep-lead fit model is skipped (lead score only)")

    value_model = None
    if data.has_value:
        won_train = (train["won"] == 1).to_numpy()
        won_valid = (valid["won"] == 1).to_numpy()
        price = "sales_price" if "sales_price" in lead_train else None
        value_model = ValueRegressor(
            config.lgbm_params, config.calibration_fraction, config.random_seed, price
        )
        value_model.fit(lead_train[won_train], train["close_value"].to_numpy()[won_train])
        actual = valid["close_value"].to_numpy()[won_valid]
        predicted = value_model.predict(lead_valid[won_valid])
        metrics = regression_metrics(actual, predicted)
        baselines = {
            "train_mean": regression_metrics(
                actual, np.full(len(actual), train["close_value"][won_train].mean())
            )
        }
        if "sales_price" in valid:
            baselines["list_price"] = regression_metrics(actual, valid["sales_price"].to_numpy()[won_valid])
        best_name, best = min(((b, m["mae"]) for b, m in baselines.items()), key=lambda item: item[1])
        beats = metrics["mae"] < best
        verdict = f"deal_value: MAE {metrics['mae']:,.0f} {'beats' if beats else 'does NOT beat'} the {best_name} baseline ({best:,.0f})"
        reports["deal_value"] = ModelReport("deal_value", metrics, baselines, verdict, beats)
        validation["deal_value"] = pd.DataFrame({"y_true": actual, "predicted": predicted})
        importances["deal_value"] = value_model.feature_importance()
        say("fitted the deal value model")

    fitted = train  # the rows the served models learnt from
    if config.refit_all_rows:
        fitted = pd.concat([train, valid])
        y_rows = np.concatenate([y_train, y_valid])
        lead_rows = _stacked(lead_train, lead_valid)
        lead_model = lead_model.refit(lead_rows, y_rows)
        importances["lead_score"] = lead_model.feature_importance()
        if fit_model is not None:
            pair_rows = _stacked(pair_train, pair_valid)
            fit_model = fit_model.refit(pair_rows, y_rows, _weights_of(fitted, row_weights))
            importances["rep_fit"] = fit_model.feature_importance()
        if value_model is not None:
            won_rows = (fitted["won"] == 1).to_numpy()
            value_model = value_model.refit(lead_rows[won_rows], fitted["close_value"].to_numpy()[won_rows])
            importances["deal_value"] = value_model.feature_importance()
        say(f"refitted the validated models on the {len(fitted):,} training and validation deals")
    models = LeadwiseModels(
        builder, lead_model, fit_model, value_model, data.kind, data.reference, data.table_columns,
        refit_all_rows=config.refit_all_rows,
        fitted_through=fitted["engage_date"].max() if split_kind == "time-ordered" else None,
        # The served model's scores of the latest leads: the mix nearest to what will arrive next.
        lead_score_reference=score_reference(lead_model.predict_win(lead_valid)),
    )  # fmt: skip
    split = {
        "kind": split_kind,
        "train_rows": len(train),
        "validation_rows": len(valid),
    }
    if data.has_time:
        split["validation_from"] = str(valid["engage_date"].min().date())
    split["refit_all_rows"] = config.refit_all_rows  # the served models learnt from the validation rows too
    if builder.use_history_:  # in MLflow beside the split: what the rep records were shrunk with
        split |= {"rep_strength.all": round(builder.rep_strength("all"), 1)}
        if builder.glm_.Cs_:  # the additive logit's C on every deal (the snapshot serving reads)
            split |= {"glm_C": round(builder.glm_.Cs_[-1], 5)}
    validation_leads = raw_leads(data, valid)
    example = caller_columns(data, validation_leads.head(3)).copy()
    if "engage_date" in example:
        example["engage_date"] = example["engage_date"].dt.strftime("%Y-%m-%d")
    # The lead mix for the capacity prices' cold start: fresh leads, so without their engage dates.
    history_leads = caller_columns(data, raw_leads(data, data.frame)).drop(columns=["engage_date"], errors="ignore")
    demand_history = DemandHistory.from_frame(data.frame, history_leads, seed=config.random_seed)
    return TrainingOutcome(
        models,
        reports,
        data_fingerprint(data),
        split,
        validation,
        importances,
        validation_leads,
        example.reset_index(drop=True),
        data.touches,
        selection,
        demand_history,
    )


def _weights_of(rows: pd.DataFrame, row_weights: Mapping[str, float] | None) -> np.ndarray | None:
    """Each row's weight from ``row_weights`` (lead id → weight; 1 for a lead not in it); None without."""
    if row_weights is None:
        return None
    return rows["lead_id"].astype(str).map(row_weights).fillna(1.0).to_numpy(dtype=float)


def _stacked(first: pd.DataFrame, then: pd.DataFrame) -> pd.DataFrame:
    """Two feature frames of the same builder, one after the other, keeping each column's dtype (a
    category column whose parts saw different categories would otherwise fall back to text)."""
    stacked = pd.concat([first, then])
    for column in first.columns:
        if isinstance(first[column].dtype, pd.CategoricalDtype) and stacked[column].dtype != first[column].dtype:
            stacked[column] = stacked[column].astype(first[column].dtype)
    return stacked


def caller_columns(data: TrainingData, leads: pd.DataFrame) -> pd.DataFrame:
    """Raw leads (``raw_leads``) without their outcome and rep: what a caller sends to be scored."""
    if data.kind == "crm":
        return leads[["lead_id", "account", "product", "engage_date"]]
    return leads[[c for c in leads.columns if c not in ("won", "close_value", "sales_agent", "engage_date")]]


def raw_leads(data: TrainingData, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of the training frame turned back into what a caller sends (single-table: original names)."""
    if data.kind == "crm":
        return rows.reset_index(drop=True)
    out = pd.DataFrame(index=rows.index)
    out["lead_id"] = rows["lead_id"]
    id_column = data.table_columns.get("id")
    if id_column:
        out[id_column] = rows["lead_id"]
    for name, kind in data.table_columns["features"].items():
        values = rows[name]
        if kind == "date":
            values = (pd.Timestamp("1970-01-01") + pd.to_timedelta(values, unit="D")).dt.strftime("%Y-%m-%d")
        out[name.removeprefix("f_")] = values
    for column in ("sales_agent", "won", "close_value", "engage_date"):
        if column in rows:
            out[column] = rows[column]
    rep_column = data.table_columns.get("rep")
    if rep_column:
        out[rep_column] = rows["sales_agent"]
    return out.reset_index(drop=True)
