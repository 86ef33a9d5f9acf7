"""A world on disk: the four CRM files and the ``truth/`` folder beside them (the stream, every rep's
true P(win) for each of its leads, the config and the parameters), as ``leadwise synth`` writes them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadwise.simulate.world import World
from leadwise.simulate.world_config import WorldConfig

TRUTH_DIR = "truth"
STREAM_FILE = "stream.csv"
TOUCHPOINTS_FILE = "touchpoints.csv"  # beside the CRM files (history) and in truth/ (the stream)
P_WIN_FILE = "p_win.csv"
PARAMS_FILE = "world.json"


@dataclass(frozen=True)
class WorldTruth:
    """What ``load_truth`` reads back from ``DIR/truth``."""

    stream: pd.DataFrame
    reps: list[str]
    p_matrix: np.ndarray
    deal_value: np.ndarray
    params: dict[str, Any]
    touches: pd.DataFrame | None = None  # the stream's touchpoints (engagement worlds)

    @property
    def config(self) -> WorldConfig:
        """The config the world was generated from (``world.json``)."""
        return WorldConfig.model_validate(self.params["config"])


def write_world(world: World, out: Path) -> None:
    """Write the four CRM files and ``truth/`` under ``out`` (created if needed)."""
    truth = out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    world.pipeline.to_csv(out / "sales_pipeline.csv", index=False)
    world.accounts.to_csv(out / "accounts.csv", index=False)
    world.products.to_csv(out / "products.csv", index=False)
    world.teams.to_csv(out / "sales_teams.csv", index=False)
    world.stream.to_csv(truth / STREAM_FILE, index=False, float_format="%.2f")
    if world.touchpoints is not None and world.stream_touchpoints is not None:
        stamp = "%Y-%m-%dT%H:%M:%S"
        world.touchpoints.to_csv(out / TOUCHPOINTS_FILE, index=False, date_format=stamp)
        world.stream_touchpoints.to_csv(truth / TOUCHPOINTS_FILE, index=False, date_format=stamp)
    n_leads, n_reps = world.p_matrix.shape
    pd.DataFrame(
        {
            "lead_id": np.repeat(world.stream["lead_id"].to_numpy(), n_reps),
            "sales_agent": np.tile(np.asarray(world.params.reps, dtype=object), n_leads),
            "p_win": world.p_matrix.ravel(),
        }
    ).to_csv(truth / P_WIN_FILE, index=False, float_format="%.6f")
    document: dict[str, Any] = {
        "seed": world.config.seed,
        "config": world.config.document(),
        "params": world.params.to_json(),
    }
    if world.config.engagement.enabled:
        engagement = world.config.engagement
        document["params"]["engagement"] = {
            "channel_effects": engagement.channel_effects(),
            "type_effects": dict(engagement.type_effects),
            "offset": engagement.offset,
        }
    (truth / PARAMS_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def load_truth(directory: Path | str) -> WorldTruth:
    """Read ``DIR/truth``: the stream, the (n_leads, n_reps) true P(win) aligned to ``sales_teams.csv``."""
    directory = Path(directory)
    truth = directory / TRUTH_DIR
    for path in (truth / STREAM_FILE, truth / P_WIN_FILE, truth / PARAMS_FILE, directory / "sales_teams.csv"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (not a world written by `leadwise synth`?)")
    stream = pd.read_csv(truth / STREAM_FILE, dtype={"lead_id": str, "account": str, "product": str})
    reps = pd.read_csv(directory / "sales_teams.csv", dtype=str)["sales_agent"].tolist()
    long = pd.read_csv(truth / P_WIN_FILE, dtype={"lead_id": str, "sales_agent": str})
    wide = long.pivot(index="lead_id", columns="sales_agent", values="p_win")
    p_matrix = wide.reindex(index=stream["lead_id"], columns=reps).to_numpy(dtype=float)
    if np.isnan(p_matrix).any():
        lead, rep = np.argwhere(np.isnan(p_matrix))[0]
        raise ValueError(
            f"{truth / P_WIN_FILE}: no p_win for lead_id {stream['lead_id'].iloc[lead]!r} "
            f"and sales_agent {reps[rep]!r}"
        )
    params = json.loads((truth / PARAMS_FILE).read_text(encoding="utf-8"))
    touches = None
    if (truth / TOUCHPOINTS_FILE).is_file():
        from leadwise.marketing.touchpoints import read_touchpoints

        touches = read_touchpoints(truth / TOUCHPOINTS_FILE)
    return WorldTruth(stream, reps, p_matrix, stream["deal_value"].to_numpy(dtype=float), params, touches)
