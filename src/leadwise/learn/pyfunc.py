"""MLflow pyfunc faces of the three models, so that ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` work on what ``leadwise train`` registers.

Each registered model carries the whole ``LeadwiseModels`` bundle (features need the history), and
answers with its own part of the prediction.
"""

from __future__ import annotations

import json
from typing import Any

import joblib
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from leadwise.data.crm import ACCOUNT_FIELDS
from leadwise.data.errors import DataValidationError
from leadwise.features.engagement import touches_frame
from leadwise.learn.demand_history import DEMAND_ARTIFACT, DemandHistory
from leadwise.learn.models import LeadwiseModels

BUNDLE_ARTIFACT = "bundle"
MODEL_KINDS = ("lead_score", "rep_fit", "deal_value")
# Models trained with touchpoints take each lead's touches as a JSON list in this column, e.g.
# '[{"timestamp": "2024-05-02T10:00:00Z", "channel": "webinar", "touch_type": "webinar_attended"}]'.
TOUCHES_COLUMN = "touches"


def split_touches(model_input: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The leads without their ``touches`` column, and those touches as the frame the models read."""
    if TOUCHES_COLUMN not in model_input:
        return model_input, None
    leads = model_input.drop(columns=[TOUCHES_COLUMN])
    ids = leads["lead_id"].astype(str) if "lead_id" in leads else pd.Series(
        [str(i + 1) for i in range(len(leads))], index=leads.index
    )
    parsed = []
    for row, (lead_id, text) in enumerate(zip(ids, model_input[TOUCHES_COLUMN], strict=True), start=1):
        if text is None or (isinstance(text, float) and pd.isna(text)) or text == "":
            continue
        try:
            items = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError as exc:
            raise DataValidationError(f"not a JSON list of touches: {exc}", column=TOUCHES_COLUMN, row=row) from None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise DataValidationError("expected a JSON list of touch objects", column=TOUCHES_COLUMN, row=row)
        parsed.append({"lead_id": lead_id, "touches": items})
    return leads, touches_frame(parsed)


class LeadwisePyfunc(PythonModel):
    """Base: loads the bundle; subclasses answer with one model's predictions."""

    def load_context(self, context: PythonModelContext) -> None:
        self.models: LeadwiseModels = joblib.load(context.artifacts[BUNDLE_ARTIFACT])
        demand = context.artifacts.get(DEMAND_ARTIFACT)  # versions trained before it was kept have none
        self.models.demand_history = DemandHistory.read(demand) if demand else None

    def unwrap(self) -> LeadwiseModels:
        return self.models


class LeadScoreModel(LeadwisePyfunc):
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        leads, touches = split_touches(model_input)
        prediction = self.models.predict(leads, reps=[], touches=touches)
        return pd.DataFrame({"lead_id": prediction.lead_ids, "p_win": prediction.lead_score})


class RepFitModel(LeadwisePyfunc):
    """With a ``sales_agent`` column: P(win) of that rep on that lead. Without: every known rep, long format."""

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        model_input, touches = split_touches(model_input)
        if "sales_agent" in model_input and model_input["sales_agent"].notna().all():
            rows = []
            for rep, group in model_input.groupby("sales_agent", sort=False):
                prediction = self.models.predict(group, reps=[str(rep)], touches=touches)
                rows.append(
                    pd.DataFrame(
                        {"lead_id": prediction.lead_ids, "sales_agent": rep, "p_win": prediction.fit[:, 0]},
                        index=group.index,
                    )
                )
            return pd.concat(rows).loc[model_input.index].reset_index(drop=True)
        prediction = self.models.predict(model_input, touches=touches)
        n_leads, n_reps = prediction.fit.shape
        return pd.DataFrame(
            {
                "lead_id": [lead for lead in prediction.lead_ids for _ in range(n_reps)],
                "sales_agent": prediction.reps * n_leads,
                "p_win": prediction.fit.reshape(-1),
            }
        )


class DealValueModel(LeadwisePyfunc):
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        leads, touches = split_touches(model_input)
        prediction = self.models.predict(leads, reps=[], touches=touches)
        return pd.DataFrame({"lead_id": prediction.lead_ids, "deal_value": prediction.deal_value})


PYFUNC_CLASSES: dict[str, type[LeadwisePyfunc]] = {
    "lead_score": LeadScoreModel,
    "rep_fit": RepFitModel,
    "deal_value": DealValueModel,
}


def input_schema(models: LeadwiseModels, with_rep: bool) -> Schema:
    """Columns a caller may send; only the ones a lead cannot be scored without are required."""
    if models.kind == "crm":
        numeric = {"year_established", "revenue", "employees"}
        columns: list[ColSpec | TensorSpec] = [
            ColSpec("string", "lead_id", required=False),
            ColSpec("string", "account", required=False),
            ColSpec("string", "product"),
            ColSpec("string", "engage_date", required=False),
            *(ColSpec("double" if f in numeric else "string", f, required=False) for f in ACCOUNT_FIELDS),
        ]
    else:
        kinds = models.table_columns["features"]
        columns = [ColSpec("string", models.table_columns.get("id") or "lead_id", required=False)]
        columns += [
            ColSpec("double" if kind == "numeric" else "string", name.removeprefix("f_"), required=False)
            for name, kind in kinds.items()
        ]
    if with_rep:
        columns.append(ColSpec("string", "sales_agent", required=False))
    if getattr(models.builder, "engagement", None) is not None:
        columns.append(ColSpec("string", TOUCHES_COLUMN, required=False))
    return Schema(columns)


def signature_for(kind: str, models: LeadwiseModels) -> ModelSignature:
    outputs_by_kind: dict[str, list[ColSpec | TensorSpec]] = {
        "lead_score": [ColSpec("string", "lead_id"), ColSpec("double", "p_win")],
        "rep_fit": [
            ColSpec("string", "lead_id"),
            ColSpec("string", "sales_agent"),
            ColSpec("double", "p_win"),
        ],
        "deal_value": [ColSpec("string", "lead_id"), ColSpec("double", "deal_value")],
    }
    outputs = outputs_by_kind[kind]
    return ModelSignature(inputs=input_schema(models, with_rep=kind == "rep_fit"), outputs=Schema(outputs))
