"""Rare categories are pooled as one level, and a value never seen in training scores as that level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leadwise.data.table import TableSpec, load_lead_table
from leadwise.data.training_data import from_table
from leadwise.features.builder import MIN_CATEGORY_ROWS, OTHER_CATEGORY, FeatureBuilder


def test_rare_and_unseen_categories_share_the_pooled_code(tmp_path: Path) -> None:
    common = ["web"] * 60 + ["event"] * 40
    rare = ["fax", "telex", "pigeon"]  # each under MIN_CATEGORY_ROWS rows
    sources = common + rare * 3
    n = len(sources)
    pd.DataFrame({"won": (["1", "0"] * n)[:n], "source": sources, "size": np.arange(n) % 7}).to_csv(
        tmp_path / "leads.csv", index=False
    )
    data = from_table(load_lead_table(tmp_path / "leads.csv", TableSpec(target="won")))
    builder = FeatureBuilder().fit(data)
    assert builder.categories_["f_source"] == ["event", "web", OTHER_CATEGORY]
    assert builder.pooled_["f_source"] == sorted(rare) and MIN_CATEGORY_ROWS > 3
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d", "e"], "f_source": ["web", "fax", "carrier", None, "event"],
                          "f_size": [1.0] * 5})  # fmt: skip
    codes = builder.lead_matrix(leads)[:, builder.lead_feature_names.index("f_source")]
    other = builder.categories_["f_source"].index(OTHER_CATEGORY)
    assert codes[:3].tolist() == [1.0, other, other] and np.isnan(codes[3]) and codes[4] == 0.0
