"""The one settings object; nothing else reads the environment."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    max_attributes_bytes: int = Field(default=16_384, ge=256, description="Client attributes cap.")
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    auto_migrate: bool = Field(default=True, description="Migrate the database on `serve`.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
