"""Loading the registered models by alias: what serving and scoring use (never "latest")."""

from __future__ import annotations

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from leadwise.learn.models import LeadwiseModels
from leadwise.settings import Settings


def champion_models(settings: Settings) -> LeadwiseModels | None:
    """The bundle behind the current champion alias, or None when no champion exists yet."""
    name = settings.registered_model_name("lead_score")
    try:
        version = MlflowClient().get_model_version_by_alias(name, settings.model_alias)
    except MlflowException:
        return None
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@{settings.model_alias}")
    models: LeadwiseModels = loaded.unwrap_python_model().unwrap()
    models.version = f"v{version.version}"
    return models


def has_champion(settings: Settings) -> bool:
    try:
        MlflowClient().get_model_version_by_alias(
            settings.registered_model_name("lead_score"), settings.model_alias
        )
    except MlflowException:
        return False
    return True


def load_champion(settings: Settings, tracking_uri: str | None = None) -> LeadwiseModels | None:
    """The three models behind ``settings.model_alias`` (one bundle), or None when none is registered."""
    mlflow.set_tracking_uri(tracking_uri or settings.tracking_uri)
    return champion_models(settings)
