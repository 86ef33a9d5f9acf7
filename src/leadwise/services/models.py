"""The serving copy of the champion models: loaded at start, swapped when the registry alias moves.

Readers take ``holder.current`` once per request (an atomic attribute read), so a reload never changes
the models under a request half-way. With nothing registered the holder stays empty and the service
runs rules-only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadwise import __version__
from leadwise.settings import Settings
from leadwise.store.models import utcnow

if TYPE_CHECKING:
    from leadwise.learn.models import LeadwiseModels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModels:
    models: LeadwiseModels
    version: str
    fingerprint: tuple[str, ...]
    loaded_at: datetime
    # The leadwise code that loaded (and serves) the bundle, and the one that trained it when the registry
    # says so (tag ``leadwise.version``): a pickled bundle only works with code that still matches it.
    leadwise_version: str = __version__
    trained_with: str | None = None


def champion_fingerprint(settings: Settings) -> tuple[str, ...] | None:
    """The registry version(s) the alias points at (cheap: no artefact download); None when nothing is
    registered. The lead-score registration carries the served bundle (see ``learn.registry``).
    A second element, when present, is the leadwise version that trained it."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        mv = client.get_model_version_by_alias(
            settings.registered_model_name("lead_score"), settings.model_alias
        )
    except MlflowException:
        return None
    trained_with = (mv.tags or {}).get("leadwise.version")
    return (str(mv.version),) if trained_with is None else (str(mv.version), str(trained_with))


def smoke_test(models: LeadwiseModels) -> str | None:
    """Score one plain lead against one rep; None when the bundle works with this code, else the problem.

    A lead the bundle refuses as input (``DataValidationError``) still proves the code path runs; any
    other error (a bundle pickled by older code missing an attribute, a feature mismatch) means the
    bundle cannot serve here.
    """
    import pandas as pd

    from leadwise.data.errors import DataValidationError

    lead = pd.DataFrame(
        [
            {
                "lead_id": "smoke",
                "account": None,
                "product": None,
                "engage_date": pd.Timestamp.now().normalize(),
            }
        ]
    )
    try:
        models.predict(lead, reps=models.reps[:1])
    except DataValidationError:
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _load_champion(settings: Settings) -> LeadwiseModels | None:
    from leadwise.learn.registry import load_champion

    return load_champion(settings)


class ModelHolder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current: LoadedModels | None = None
        self.last_error: str | None = None
        self.last_check: datetime | None = None
        self._lock = threading.Lock()  # one reload at a time per process
        # The shadow challenger: the same holder for another alias; scored beside the champion, never routes.
        self.challenger: ModelHolder | None = (
            ModelHolder(settings.model_copy(update={"model_alias": settings.challenger_alias, "challenger_alias": None}))
            if settings.challenger_alias
            else None
        )

    @property
    def version(self) -> str | None:
        loaded = self.current
        return loaded.version if loaded is not None else None

    def status(self) -> dict[str, Any]:
        loaded = self.current
        return {
            "mode": "model" if loaded is not None else "rules-only",
            "models_enabled": self.settings.serve_models,
            "model_version": loaded.version if loaded else None,
            "registry_versions": list(loaded.fingerprint) if loaded else None,
            "loaded_at": loaded.loaded_at.isoformat() if loaded else None,
            "leadwise_version": __version__,
            "model_trained_with": loaded.trained_with if loaded else None,
            "alias": self.settings.model_alias,
            "last_error": self.last_error,
        } | ({"challenger": self.challenger.status()} if self.challenger is not None else {})

    def reload(self, *, force: bool = False) -> bool:
        """Load the champion if the alias moved (or always with ``force``); True when models changed
        (the champion's or the challenger's).

        A failed load keeps the models already served: a broken registration never takes the
        service down, it only shows in ``/readyz`` and the logs.
        """
        changed = self._reload(force=force)
        if self.challenger is not None:
            changed = self.challenger.reload(force=force) or changed
        return changed

    def _reload(self, *, force: bool) -> bool:
        with self._lock:
            self.last_check = utcnow()
            try:
                fingerprint = champion_fingerprint(self.settings)
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"registry: {type(exc).__name__}: {exc}"
                log.warning("model registry check failed: %s", self.last_error)
                return False
            if fingerprint is None:
                changed = self.current is not None and force
                if self.current is None:
                    self.last_error = f"no models registered under alias {self.settings.model_alias!r}"
                return changed
            if not force and self.current is not None and self.current.fingerprint == fingerprint:
                return False
            try:
                models = _load_champion(self.settings)
            except Exception as exc:
                self.last_error = f"load: {type(exc).__name__}: {exc}"
                log.exception("loading the champion models failed")
                return False
            if models is None:
                self.last_error = f"no models registered under alias {self.settings.model_alias!r}"
                return False
            broken = smoke_test(models)
            if broken is not None:
                self.last_error = (
                    f"model {models.version} does not work with leadwise {__version__} (retrain or "
                    f"promote another version): {broken}"
                )
                log.error("refusing to serve the champion: %s", self.last_error)
                return False
            self.current = LoadedModels(
                models=models,
                version=str(models.version),
                fingerprint=fingerprint,
                loaded_at=utcnow(),
                trained_with=fingerprint[1] if len(fingerprint) > 1 else None,
            )
            self.last_error = None
            log.info("serving models %s (registry versions %s)", models.version, fingerprint)
            return True

    def install(self, models: LeadwiseModels, fingerprint: tuple[str, ...] = ("local",)) -> None:
        """Serve ``models`` directly (tests, and callers that built models in-process)."""
        with self._lock:
            self.current = LoadedModels(
                models=models, version=str(models.version), fingerprint=fingerprint, loaded_at=utcnow()
            )
            self.last_error = None
