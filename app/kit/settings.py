"""Settings read from the environment (prefix ``NUDGE_``); nonsense fails at start-up."""

from __future__ import annotations

import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

EMBEDDED_DIR = Path(".nudge")
# The drivers installed with Nudge: (backend, driver) as written in the URL -> URL scheme to use.
_DATABASE_DRIVERS = {
    ("postgresql", ""): "postgresql+psycopg",
    ("postgres", ""): "postgresql+psycopg",
    ("postgresql", "psycopg"): "postgresql+psycopg",
    ("sqlite", ""): "sqlite",
    ("sqlite", "pysqlite"): "sqlite",
}
_BAD_DATABASE_URL = "NUDGE_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB (psycopg driver)"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NUDGE_", extra="ignore", frozen=True)

    database_url: str = Field(
        default=f"sqlite:///{EMBEDDED_DIR / 'nudge.db'}",
        description="SQLAlchemy URL. Postgres in production: postgresql+psycopg://user@host/db.",
    )
    database_role: str = Field(
        default="nudge_app",
        description="Postgres role the app switches to on every connection (no BYPASSRLS), so "
        "row-level security applies even when the login user owns the tables. Empty: no switch.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://...). Unset: an in-process worker and scheduler.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens and encrypts credentials. Required unless embedded (SQLite).",
    )
    public_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8000"))
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    statement_timeout_ms: int = Field(default=30_000, ge=100)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    default_timezone: str = "UTC"
    event_retention_days: int | None = Field(
        default=None, ge=1, description="Delete events received more than this many days ago. Unset: keep."
    )
    delivery_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Delete delivery ledger rows (and the in-app messages they made) created more "
        "than this many days ago, and the journey step journal of passes that exited that long ago. "
        "Unset: keep.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`nudge worker` serves Prometheus /metrics on this port (its dispatch and planner "
        "counters, summed over its pool processes). Unset: not served.",
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Niceness of `nudge worker`'s pool processes: background work yields the CPU to "
        "API requests on a shared machine and runs at full speed on an idle one. 0: normal priority.",
    )
    public_signup: bool = Field(
        default=True,
        description="Anyone may create an account and a workspace at /dashboard/signup. Turn off on a "
        "private install and make operators with `nudge operator create` or invitations.",
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks reach loopback and private networks (tests, single-host setups).",
    )
    outbox_dir: Path = Field(
        default=EMBEDDED_DIR / "outbox",
        description="Embedded mode: where email is written (one .eml per message) and the push log kept.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for rate limits (token buckets). Unset: the broker when it is Redis, "
        "else in-process buckets (embedded mode).",
    )
    dispatch_chunk_size: int = Field(default=1000, ge=1, le=20_000, description="Deliveries per claim")
    dispatch_lanes: int = Field(default=4, ge=1, le=256, description="Parallel dispatch chains per send")
    plan_parallel_parts: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Postgres: statements a large snapshot wave is split into, run at once on their "
        "own connections (about one per database core); 1: one statement",
    )
    plan_parallel_min_rows: int = Field(
        default=100_000, ge=1, description="Snapshot waves estimated smaller than this stay one statement"
    )
    journey_batch_size: int = Field(
        default=500, ge=1, le=20_000, description="Journey states advanced per transaction"
    )
    dispatch_lease_s: float = Field(
        default=120.0, ge=1, description="How long a claimed chunk is owned before the planner reclaims it"
    )
    dispatch_max_attempts: int = Field(default=5, ge=1, le=100)
    dispatch_max_crashes: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Postgres with Redis: deaths of a worker on one chunk before it is bisected, and "
        "of one delivery sent alone before it is failed",
    )
    dispatch_stall_s: float = Field(
        default=60.0, ge=1, description="Queued rows with no lane activity this long get new lanes"
    )
    planner_tick_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="How often beat runs the planner's tick (due sends, expired leases, stalled lanes)",
    )
    log_channel_path: Path | None = Field(
        default=None, description="Where the log sink channel appends one JSON line per message"
    )
    channels_to_log: bool = Field(
        default=False, description="Send every channel to the log sink (trials, benchmarks)"
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(_BAD_DATABASE_URL) from None
        backend, _, driver = url.drivername.partition("+")
        scheme = _DATABASE_DRIVERS.get((backend, driver))
        if scheme is None:
            raise ValueError(_BAD_DATABASE_URL)
        return url.set(drivername=scheme).render_as_string(hide_password=False)

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "amqp://")):
            raise ValueError("NUDGE_BROKER_URL must be a redis:// or amqp:// URL")
        return value

    @field_validator("database_role")
    @classmethod
    def _plain_role(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError("NUDGE_DATABASE_ROLE may hold only letters, digits and underscores")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _secret_outside_embedded(self) -> Settings:
        if self.secret_key is None and not self.is_sqlite:
            raise ValueError("NUDGE_SECRET_KEY is required when NUDGE_DATABASE_URL is Postgres")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("NUDGE_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def in_process_worker(self) -> bool:
        return self.broker_url is None

    @property
    def rate_limit_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    def signing_key(self) -> bytes:
        """The secret key; in embedded mode generated once and kept beside the database."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        key_file = self._embedded_dir() / "secret_key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd, draft = tempfile.mkstemp(dir=key_file.parent)  # readable by its owner only
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
            try:
                os.link(draft, key_file)  # appears whole, and only once if two processes race
            except FileExistsError:
                pass
            finally:
                os.unlink(draft)
        return key_file.read_text().strip().encode()

    def _embedded_dir(self) -> Path:
        database = make_url(self.database_url).database
        if database and database != ":memory:":
            return Path(database).parent
        return EMBEDDED_DIR


@lru_cache
def get_settings() -> Settings:
    return Settings()
