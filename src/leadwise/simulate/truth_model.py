"""A synthetic world's truth behind the serving contract of the trained models (``LeadwiseModels``): the
true P(win) of every (lead, rep) and the true value of a won deal, from the world's own parameters.

Registered as an MLflow pyfunc of the same class as a trained ``lead_score`` model (``learn.pyfunc``), under
an alias of its own, a real ``leadwise serve`` routes on the truth: what the live optimiser does when its
scores have no error (``benchmarks/bench_optimiser_live.py``, "optimised, true scores").

A lead is read by its ``account`` and ``product`` names, as the world drew it. Worlds with marketing
engagement are refused: their truth also depends on each lead's touches, which this does not model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadwise.data.errors import DataValidationError
from leadwise.data.training_data import CrmReference
from leadwise.learn.demand_history import DemandHistory
from leadwise.learn.models import Predictions
from leadwise.simulate.world import mean_deal_value
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_names import PRODUCTS
from leadwise.simulate.world_params import WorldParams, sigmoid


@dataclass(frozen=True)
class NoFeatures:
    """What serving asks of a model's feature builder: the truth reads no touches."""

    engagement: None = None


@dataclass
class TruthModels:
    config: WorldConfig
    params: WorldParams
    version: str = "truth"
    demand_history: DemandHistory | None = None
    builder: NoFeatures = field(default_factory=NoFeatures)
    # The world's product and account tables, which routing reads beside the model (flow conditions): the
    # trained champion's, as they are facts of the world, not learnt.
    reference: CrmReference | None = None

    def __post_init__(self) -> None:
        if self.config.engagement.enabled:
            raise ValueError("the truth model does not cover worlds with engagement (their truth needs touches)")

    @property
    def reps(self) -> list[str]:
        return list(self.params.reps)

    def predict(
        self,
        leads: pd.DataFrame | Mapping[str, Sequence[Any]],
        reps: Sequence[str] | None = None,
        *,
        file: str = "leads",
        touches: pd.DataFrame | None = None,
    ) -> Predictions:
        """As ``LeadwiseModels.predict``: the true lead score (the mean over the world's reps), the true
        P(win) of each rep in ``reps`` (None: every rep), and the true value of the deal if won."""
        columns = {name: list(values) for name, values in (leads.items() if isinstance(leads, Mapping) else leads.items())}
        names = self.reps if reps is None else list(reps)
        account = _indices(columns.get("account"), list(self.params.accounts), "account", file)
        product = _indices(columns.get("product"), [name for name, _, _ in PRODUCTS], "product", file)
        rep_index = {name: j for j, name in enumerate(self.params.reps)}
        unknown = [name for name in names if name not in rep_index]
        if unknown:
            raise DataValidationError(f"rep {unknown[0]!r} is not one of this world's reps", file=file, column="rep")
        every = sigmoid(
            self.params.logit(account[:, None], product[:, None], np.arange(len(self.params.reps))[None, :])
        )
        lead_ids = [str(v) for v in columns.get("lead_id", range(1, len(account) + 1))]
        fit = every[:, [rep_index[name] for name in names]]
        value = mean_deal_value(self.config, self.params, account, product)
        return Predictions(lead_ids, names, every.mean(axis=1), fit, value)


def _indices(values: list[Any] | None, known: list[str], column: str, file: str) -> np.ndarray:
    if values is None:
        raise DataValidationError("the truth needs it", file=file, column=column)
    where = {name: i for i, name in enumerate(known)}
    out = np.empty(len(values), dtype=int)
    for row, value in enumerate(values, start=1):
        if value not in where:
            raise DataValidationError(f"{value!r} is not one of this world's {column}s", file=file, column=column, row=row)
        out[row - 1] = where[value]
    return out
