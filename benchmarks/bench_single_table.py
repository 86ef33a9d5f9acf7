"""Single-table lead scoring on public conversion tables: leadwise beside the tools a user would pick.

For each table, with the fields known only after contact removed, on the split `leadwise train` itself
makes (stratified 80/20, seed 42): ROC AUC and log loss on the held-out 20 % of

- a plain LightGBM with default parameters on the raw columns (text as pandas categories);
- leadwise with no search (``search_budget = 0``: the fixed parameters of before);
- leadwise with the model search (``--budget``, default 15 s of CPU time: what `leadwise train` does by
  default);
- optionally AutoGluon (``--autogluon PYTHON``: a Python whose environment has ``autogluon.tabular``; it
  is never a leadwise dependency), ``medium_quality`` preset, on the same raw columns and rows.

The tables are not in this repository (data files of other projects are not committed); fetch them and
pass their directory with ``--data-dir`` (files and SHA-256 below). Run:

    .venv/bin/python benchmarks/bench_single_table.py --data-dir /work/lw-data [--budget 20] \
        [--autogluon /work/ag-venv/bin/python] [--only leads-x-education]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from leadwise.data.table import TableSpec, load_lead_table
from leadwise.data.training_data import from_table
from leadwise.learn.training import TrainConfig, time_ordered_split, train_models

SEED = 42


@dataclass(frozen=True)
class Dataset:
    file: str
    sha256: str
    source: str
    target: str
    separator: str = ","
    identifiers: tuple[str, ...] = ()  # record ids: dropped for every tool (see below)
    post_contact: tuple[str, ...] = ()  # known only once a sales rep has worked the lead: dropped
    note: str = ""


DATASETS = {
    "leads-x-education": Dataset(
        "Leads.csv",
        "1426dffd94246b8c7f08d1080d9c04115a0c4b67eadcba1ed9d2fa10d3762802",
        "Kaggle 'Leads X Education' (ashydv/leads-dataset), 9,240 leads; GitHub mirror "
        "manisha-singhh/Lead-Conversion-Prediction-for-X-Education, Leads.csv",
        "Converted",
        # "Lead Number" is a sequential record number: it tells the file's order, which a random split
        # lets a model exploit (default LightGBM gains ~0.01 AUC from it) and new leads cannot offer.
        identifiers=("Prospect ID", "Lead Number"),
        post_contact=(
            "Tags", "Lead Quality", "Lead Profile", "Last Activity", "Last Notable Activity",
            "Asymmetrique Activity Index", "Asymmetrique Profile Index",
            "Asymmetrique Activity Score", "Asymmetrique Profile Score",
        ),  # fmt: skip
        note="Tags, quality and profile are the sales team's notes; last activity is the latest, often post-contact",
    ),
    "bank-marketing": Dataset(
        "bank-additional-full.csv",
        "83289c608576b1fdb46ad485853f2fb3636f7dde869f1ec262a0bf84fbb1132e",
        "UCI Bank Marketing (id 222), bank-additional-full, 41,188 calls; GitHub mirror tellaw/ann-tuto-bank "
        "(this copy lacks contact, month, day_of_week and poutcome)",
        "y",
        separator=";",
        post_contact=("duration",),
        note="duration is known only after the call ends (UCI: 'should be discarded' for a realistic model)",
    ),
    "online-shoppers": Dataset(
        "online_shoppers_intention.csv",
        "9895055fb6c7b5376c93a850c2707522646a1cadf234cdc687fcc38a2cde180b",
        "UCI Online Shoppers Purchasing Intention (id 468), 12,330 sessions; GitHub mirror remijul/dataset",
        "Revenue",
        separator=";",
        note="session behaviour before the purchase decision; nothing dropped",
    ),
}

AUTOGLUON_SCRIPT = """
import json, sys, time
import pandas as pd
from autogluon.tabular import TabularPredictor
train, valid, target, preset, limit, out = sys.argv[1:7]
train, valid = pd.read_csv(train), pd.read_csv(valid)
started = time.perf_counter()
predictor = TabularPredictor(label=target, eval_metric="log_loss", path=out, verbosity=0).fit(
    train, presets=preset, time_limit=float(limit))
p = predictor.predict_proba(valid.drop(columns=[target]))[1].to_numpy()
print(json.dumps({"p": p.tolist(), "seconds": time.perf_counter() - started,
                  "models": predictor.model_names()}))
"""


def raw_table(directory: Path, dataset: Dataset) -> pd.DataFrame:
    path = directory / dataset.file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != dataset.sha256:
        sys.exit(f"{path}: SHA-256 {digest} is not the benchmarked file's {dataset.sha256}")
    frame = pd.read_csv(path, sep=dataset.separator, dtype=str, keep_default_na=False)
    return frame.drop(columns=[*dataset.identifiers, *dataset.post_contact])


def default_lightgbm(train: pd.DataFrame, valid: pd.DataFrame, target: str) -> np.ndarray:
    """What a user writes first: numbers as numbers, text as pandas categories, LightGBM's defaults."""

    def typed(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index)
        for column in frame.columns:
            numbers = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
            out[column] = numbers if numbers.notna().sum() >= frame[column].ne("").sum() else frame[column]
        return out

    both = typed(pd.concat([train, valid]).drop(columns=[target]))
    for column in both.columns:
        if not pd.api.types.is_numeric_dtype(both[column]):
            both[column] = both[column].astype("category")
    model = lgb.LGBMClassifier(random_state=SEED, verbose=-1)
    model.fit(both.loc[train.index], train[target].pipe(as_label))
    return model.predict_proba(both.loc[valid.index])[:, 1]


def as_label(values: pd.Series) -> np.ndarray:
    return values.str.lower().isin({"1", "yes", "true"}).to_numpy(int)


def autogluon(python: str, train: pd.DataFrame, valid: pd.DataFrame, target: str, limit: float) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        paths = [Path(scratch) / "train.csv", Path(scratch) / "valid.csv"]
        for frame, path in zip((train, valid), paths, strict=True):
            frame.assign(**{target: as_label(frame[target])}).to_csv(path, index=False)
        done = subprocess.run(
            [python, "-c", AUTOGLUON_SCRIPT, *map(str, paths), target, "medium_quality", str(limit), f"{scratch}/ag"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=15.0, help="leadwise's search budget, CPU seconds")
    parser.add_argument("--autogluon", help="a Python with autogluon.tabular installed")
    parser.add_argument("--autogluon-limit", type=float, default=600.0, help="AutoGluon's time_limit, seconds")
    parser.add_argument("--only", action="append", choices=list(DATASETS))
    args = parser.parse_args()
    rows = []
    for name in args.only or list(DATASETS):
        dataset = DATASETS[name]
        raw = raw_table(args.data_dir, dataset)
        with tempfile.TemporaryDirectory() as scratch:
            csv = Path(scratch) / "leads.csv"
            raw.to_csv(csv, index=False)
            data = from_table(load_lead_table(csv, TableSpec(dataset.target)))
        train, valid, _ = time_ordered_split(data.closed, 0.2, SEED)  # the split `leadwise train` makes
        y = valid["won"].to_numpy(int)
        features = list(raw.columns)
        figures: dict[str, tuple[float, float, float, float]] = {}

        def score(label: str, p: np.ndarray, seconds: float, cpu: float = float("nan"), y: np.ndarray = y,
                  figures: dict = figures) -> None:
            figures[label] = (roc_auc_score(y, p), log_loss(y, np.clip(p, 1e-6, 1 - 1e-6)), seconds, cpu)

        started, cpu = time.perf_counter(), time.process_time()
        p = default_lightgbm(raw.loc[train.index, features], raw.loc[valid.index, features], dataset.target)
        score("LightGBM defaults", p, time.perf_counter() - started, time.process_time() - cpu)
        for label, budget in (("leadwise, no search", 0.0), (f"leadwise, --budget {args.budget:.0f}s", args.budget)):
            started, cpu = time.perf_counter(), time.process_time()
            outcome = train_models(data, TrainConfig(baselines=False, search_budget=budget, random_seed=SEED))
            p = outcome.validation["lead_score"]["p"].to_numpy()
            score(label, p, time.perf_counter() - started, time.process_time() - cpu)
            if budget:
                search = outcome.selection["lead_score"]
                chosen = f"{search.chosen}, {search.calibration}, {len(search.trials)} trials"
        if args.autogluon:
            found = autogluon(args.autogluon, raw.loc[train.index, features], raw.loc[valid.index, features],
                              dataset.target, args.autogluon_limit)  # fmt: skip
            score("AutoGluon medium_quality", np.asarray(found["p"]), found["seconds"])
        print(f"\n== {name}: {len(train):,} train / {len(valid):,} held-out rows, win rate {y.mean():.3f}")
        dropped = [*dataset.identifiers, *dataset.post_contact]
        print(f"   {dataset.source}; dropped: {', '.join(dropped) or 'nothing'}")
        for label, (auc, loss, seconds, cpu) in figures.items():
            print(f"   {label:<28} ROC AUC {auc:.4f}   log loss {loss:.4f}   {seconds:6.1f} s ({cpu:5.1f} s CPU)")
        print(f"   leadwise chose: {chosen}")
        rows.append((name, figures))
    print("\nleadwise (search) minus LightGBM defaults, ROC AUC:")
    for name, figures in rows:
        searched = next(v for k, v in figures.items() if k.startswith("leadwise, --budget"))
        line = f"   {name:<20} {searched[0] - figures['LightGBM defaults'][0]:+.4f}"
        if "AutoGluon medium_quality" in figures:
            line += f"   vs AutoGluon medium_quality {searched[0] - figures['AutoGluon medium_quality'][0]:+.4f}"
        print(line)


if __name__ == "__main__":
    main()
