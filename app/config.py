"""The one settings object; nothing else reads the environment."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "tenure.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENURE_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy async URL; SQLite under ./var/ when unset.",
    )
    redis_url: str | None = Field(default=None, description="arq's Redis; unset = embedded.")
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Request body cap.")
    max_event_batch_bytes: int = Field(
        default=33_554_432, ge=1024, description="Body cap of POST /v1/events (5,000 events)."
    )
    max_client_batch_bytes: int = Field(
        default=33_554_432,
        ge=1024,
        description="Body cap of POST /v1/clients/batch (5,000 clients).",
    )
    max_attributes_bytes: int = Field(default=16_384, ge=256, description="Client attributes cap.")
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    auto_migrate: bool = Field(default=True, description="Migrate the database on `serve`.")
    embedded_runner: bool = Field(
        default=True, description="Without Redis, run background jobs inside the API process."
    )
    runner_concurrency: int = Field(default=4, ge=1, description="Embedded runner's parallel jobs.")
    relay_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the relay looks for due outbox rows unprompted."
    )
    outbox_stale_seconds: float = Field(
        default=30.0, gt=0, description="After this, the sweeper hands a stuck row over again."
    )
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, description="Embedded runner: time running jobs get to finish on stop."
    )
    worker_poll_seconds: float = Field(default=0.05, gt=0, description="arq's poll_delay.")
    worker_max_jobs: int = Field(default=20, ge=1, description="arq jobs run at once per worker.")
    worker_metrics_port: int | None = Field(
        default=None, description="Serve the worker's Prometheus metrics on this port."
    )
    job_retention_days: int = Field(
        default=7, ge=1, description="Succeeded jobs are kept this long; failed ones until retried."
    )
    encryption_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet keys (comma-separated) for integration credentials: the first encrypts, "
            "every one decrypts (rotation). Unset: the embedded mode (SQLite) keeps a generated "
            "key in `encryption.key` beside the database file; PostgreSQL refuses to start."
        ),
    )
    allow_loopback_urls: bool = Field(
        default=False,
        description="Development: provider base URLs and webhook endpoints may be http on "
        "loopback (local fakes, tests).",
    )
    integration_call_retention_days: int = Field(
        default=30, ge=1, description="Outbound provider calls are logged this long."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
