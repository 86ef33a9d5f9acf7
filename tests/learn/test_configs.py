"""The bundled run configs load, and the one that says it holds the defaults does."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadwise.learn.models import DEFAULT_LGBM_PARAMS
from leadwise.learn.training import TrainConfig
from leadwise.settings import BUNDLED_DATA_DIR, Settings

CONFIGS = BUNDLED_DATA_DIR.parents[1] / "configs"  # training/configs beside training/data


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_bundled_config_loads(path: Path) -> None:
    TrainConfig.from_file(path)


def test_the_default_config_file_holds_the_defaults() -> None:
    written = TrainConfig.from_file(CONFIGS / "default.toml")
    defaults = TrainConfig()
    assert written.model_dump(exclude={"lgbm_params", "search_budget"}) == defaults.model_dump(
        exclude={"lgbm_params", "search_budget"}
    )
    # The search budget is the command's default (the setting's own, which the suite sets to 0), not
    # the bare config's 0.
    assert written.search_budget == Settings.model_fields["train_budget"].default
    # Its LightGBM parameters are those the models use when none are given.
    assert all(DEFAULT_LGBM_PARAMS[key] == value for key, value in written.lgbm_params.items())
