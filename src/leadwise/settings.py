"""One place for configuration: environment variables prefixed ``LEADWISE_`` (and ``MLFLOW_TRACKING_URI``)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent
# The bundled dataset lives in the repository's training/ folder; an installed wheel has no such folder,
# so the default is only a default and every command takes --data.
BUNDLED_DATA_DIR = PACKAGE_ROOT.parents[1] / "training" / "data" / "crm-sales-opportunities"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADWISE_", env_file=".env", extra="ignore", populate_by_name=True)

    data_dir: Path = BUNDLED_DATA_DIR
    tracking_uri: str = Field(
        default="sqlite:///mlflow.db",
        validation_alias=AliasChoices("LEADWISE_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    # Where runs of the embedded store put their artefacts (ignored by a remote tracking server).
    artifact_location: Path = Path("mlruns")
    experiment_name: str = "leadwise"
    model_name_prefix: str = "leadwise"
    model_alias: str = "champion"
    # A shadow challenger: the bundle behind this alias is scored on every routed lead beside the champion,
    # never routes, and its figures are stored per decision and reported (``GET /v1/reports/model``).
    challenger_alias: str | None = None
    random_seed: int = 42
    # ``leadwise train``'s model-search budget in CPU seconds when neither --budget nor the run config sets
    # one (0: the fixed LightGBM parameters, no search).
    train_budget: float = Field(default=15.0, ge=0, le=86_400)

    database_url: str = "sqlite:///leadwise.db"
    # HTTP service (api/, store/, services/).
    model_poll_seconds: float = Field(default=60.0, ge=0)  # 0 turns the registry polling off
    serve_models: bool = True  # false: rules-only by configuration, the registry is never asked
    sla_sweep_seconds: float = Field(default=30.0, ge=0)  # 0 turns the in-service SLA sweep off
    accept_sla_minutes: float = Field(default=30.0, gt=0)  # an offered lead not accepted by then expires
    default_rep_capacity: int = Field(default=20, ge=0)
    db_busy_timeout_ms: int = Field(default=10_000, ge=0)  # SQLite: how long a writer waits for the lock
    # SQLite: the service checkpoints the write-ahead log in the background this often (0: requests do, as
    # SQLite does by default); the requests' own checkpoint threshold is then raised to a backstop.
    sqlite_checkpoint_seconds: float = Field(default=1.0, ge=0)
    # Larger request bodies get a 413 without being read whole (api.limits); 1 MiB holds a batch of
    # hundreds of leads with their touches.
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    # Webhooks (services.webhooks): each worker's delivery thread looks for due deliveries this often (and
    # at once after a change it committed); 0 turns delivery off in this process (the outbox still fills).
    webhook_poll_seconds: float = Field(default=1.0, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)  # per delivery attempt
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)  # then the delivery is marked failed
    # Back-off between attempts: first this, doubling each time, at most webhook_backoff_max_seconds.
    webhook_backoff_seconds: float = Field(default=10.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # The web console signs its session cookies with this (``leadwise serve`` makes one for its workers
    # when unset, so sessions end when the service restarts); a session lasts console_session_hours.
    console_secret: SecretStr | None = None
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # The MLflow UI's address (``mlflow ui`` serves http://127.0.0.1:5000): the console's model page links the
    # champion's training run there; unset, it shows the run id alone.
    mlflow_ui_url: str | None = None
    # Where what-if jobs keep their state (one JSON file each, read by every worker on the host); default a
    # ``leadwise-whatif`` folder in the system's temporary directory.
    whatif_dir: Path | None = None
    enable_bench_floor: bool = False  # exposes POST /bench/floor (one bare insert) for benchmarks only
    max_reassignments: int = Field(default=2, ge=0)  # rejected/lapsed this many times: manager queue
    flow_file: Path | None = None  # the flow seeded into an empty database (default: training/flows/default.toml)
    pricer_seconds: float = Field(default=10.0, ge=0)  # how often a worker checks its capacity prices; 0: off
    # Capacity prices' demand model (``routing.demand``): how long a lead stays open when the service has
    # not yet closed enough of its own, and how much of its own log it needs before trusting it.
    demand_open_horizon_hours: float = Field(default=168.0, gt=0)
    demand_min_log_leads: int = Field(default=200, ge=1)
    demand_log_days: float = Field(default=28.0, gt=0)
    # Replays and demos only: the service's clock reads clock_start at the wall instant clock_anchor (epoch
    # seconds; ``leadwise serve`` sets it once for all its workers) and runs clock_speed times as fast.
    clock_start: datetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=10_000_000)
    clock_anchor: float | None = None
    request_threads: int = Field(default=1, ge=1, le=64)  # per worker, for blocking endpoints (api.app)
    route_batch_max: int = Field(default=16, ge=1, le=1000)  # /v1/route requests routed together, at most
    route_linger_ms: float = Field(default=1.0, ge=0, le=100)  # when busy, wait this long for more (route_queue)
    # Model monitoring (``services.model_report``): leads compared for drift, outcomes (and leads) needed
    # before a warning, how often a worker recomputes the warnings ``/readyz`` shows.
    monitor_window: int = Field(default=5000, ge=1)
    monitor_min_outcomes: int = Field(default=200, ge=1)
    monitor_seconds: float = Field(default=60.0, ge=0)
    # Why a rep may hand a lead back to marketing (POST /v1/assignments/{id}/return); JSON list in the env.
    return_reasons: list[str] = Field(
        default_factory=lambda: ["project_postponed", "new_contact", "not_mature", "bad_data"], min_length=1
    )

    @field_validator("database_url")
    @classmethod
    def database_url_is_supported(cls, url: str) -> str:
        if not url.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:/// or postgresql+psycopg:// URL")
        return url

    @field_validator("return_reasons")
    @classmethod
    def return_reasons_are_names(cls, reasons: list[str]) -> list[str]:
        for reason in reasons:
            if not reason.strip() or len(reason) > 100:
                raise ValueError(f"return reason {reason!r} must be a non-empty name of at most 100 characters")
        if len(set(reasons)) != len(reasons):
            raise ValueError("return_reasons lists a reason twice")
        return reasons

    @field_validator("mlflow_ui_url")
    @classmethod
    def mlflow_ui_url_is_http(cls, url: str | None) -> str | None:
        # The console renders it as a link: only a web address, never a javascript: or file: one.
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("mlflow_ui_url must be an http:// or https:// address (e.g. http://127.0.0.1:5000)")
        return url.rstrip("/") if url is not None else None

    @field_validator("model_alias")
    @classmethod
    def alias_is_not_latest(cls, alias: str) -> str:
        # Serving "latest" is exactly what the registry alias exists to avoid.
        if alias.strip().lower() == "latest":
            raise ValueError("model_alias may not be 'latest': promote a version to an alias instead")
        return alias

    @field_validator("challenger_alias")
    @classmethod
    def challenger_is_a_plain_alias(cls, alias: str | None, info: ValidationInfo) -> str | None:
        if alias is None or not alias.strip():
            return None
        if alias.strip().lower() == "latest":
            raise ValueError("challenger_alias may not be 'latest': promote a version to an alias instead")
        if alias == info.data.get("model_alias"):
            raise ValueError(f"challenger_alias {alias!r} is the served model_alias: a challenger is another alias")
        return alias

    def registered_model_name(self, kind: str) -> str:
        """Registry name of one of the three models: ``lead_score``, ``rep_fit`` or ``deal_value``."""
        return f"{self.model_name_prefix}-{kind.replace('_', '-')}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
