"""One typed settings object, read from ``nightdesk.toml`` and ``NIGHTDESK_*`` env vars.

Precedence: explicit keyword arguments > environment (``NIGHTDESK_SMTP__HOST=...``) >
TOML file (``$NIGHTDESK_CONFIG`` or ``./nightdesk.toml``) > defaults. Unknown keys and
wrong types are rejected at start with the key named.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from nightdesk.mail_headers import check_address, check_from_addr, check_url

Lang = Literal["en", "zh-Hant", "zh-Hans"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MomentumSettings(_Strict):
    """Momentum basket and event-study parameters."""

    lookback_days: int = Field(252, ge=42, description="formation window, sessions (12 months)")
    skip_days: int = Field(21, ge=0, description="most recent sessions skipped (1 month)")
    quantile: float = Field(0.1, gt=0, le=0.5, description="share of names in each leg")
    min_price_usd: float = Field(5.0, ge=0, description="names below this close at formation are excluded")
    z_window_days: int = Field(252, ge=20, description="trailing window for the L/S volatility")
    trigger_ls_pct: float = Field(-7.0, description="event trigger: L/S day return at most this")
    trigger_long_pct: float = Field(-5.0, description="event trigger: long-leg day return at most this")
    trigger_z_fallback: float = Field(-4.0, description="trigger when too few days meet the % rule")
    min_events: int = Field(3, ge=1, description="below this count the z fallback is used")
    decluster_days: int = Field(21, ge=1, description="one event per this many sessions")


class SmtpSettings(_Strict):
    """SMTP transport; used only when ``delivery.transport == 'smtp'``."""

    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    security: Literal["none", "starttls", "ssl"] = "none"
    timeout_s: float = Field(30.0, gt=0, description="wait for each reply of the server")
    connect_timeout_s: float = Field(5.0, gt=0, description="wait to connect: a server that is down fails the run within this")


class DeliverySettings(_Strict):
    """Subscribers database, sender identity and sending policy."""

    db_url: str = "sqlite:///.nightdesk/subscribers.db"
    transport: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: Path | None = Field(None, description="the outbox transport's .eml files go to <outbox_dir>/<date>/ (0700); "
                                    "default: 'outbox' beside a SQLite subscriber DB, else .nightdesk/outbox. Never under output_dir")
    from_addr: str = "Nightdesk Strategy <strategy@nightdesk.invalid>"
    unsubscribe_mailto: str = "unsubscribe@nightdesk.invalid"
    unsubscribe_url: str = "https://nightdesk.invalid/unsubscribe"
    rate_per_s: float = Field(50.0, gt=0)
    max_attempts: int = Field(5, ge=1, description="tries per message on 4xx replies and dropped connections")
    claim_lease_s: float = Field(300.0, gt=0, description="a run's claim on a subscriber's message lapses after this (a run that "
                                 "died on the same host is taken over at once)")
    db_lock_wait_s: float = Field(30.0, gt=0, description="how long a write waits for a locked subscriber database")
    smtp: SmtpSettings = SmtpSettings()

    @field_validator("from_addr")
    @classmethod
    def _from_addr(cls, value: str) -> str:
        return check_from_addr("from_addr", value)

    @field_validator("unsubscribe_mailto")
    @classmethod
    def _mailto(cls, value: str) -> str:
        return check_address("unsubscribe_mailto", value)

    @field_validator("unsubscribe_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url("unsubscribe_url", value)

    @field_validator("outbox_dir")
    @classmethod
    def _outbox_home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    def outbox_folder(self, note_date: str) -> Path:
        """Where the outbox transport writes ``note_date``'s messages (see ``outbox_dir``)."""
        if self.outbox_dir is not None:
            return self.outbox_dir / note_date
        if self.db_url.startswith("sqlite:///") and self.db_url != "sqlite:///:memory:":
            return Path(self.db_url.removeprefix("sqlite:///").split("?", 1)[0]).parent / "outbox" / note_date
        return Path(".nightdesk") / "outbox" / note_date


class Settings(BaseSettings):
    """Everything configurable in nightdesk."""

    model_config = SettingsConfigDict(env_prefix="NIGHTDESK_", env_nested_delimiter="__", extra="forbid")

    output_dir: Path = Path("output")
    cache_dir: Path = Field(default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nightdesk",
                            description="files derived once and reused: the charts' desubroutinized CJK fonts (about 75 MB)")
    provider: Literal["sample", "parquet", "csv", "yfinance"] = "sample"
    data_dir: Path | None = Field(None, description="directory for the parquet/csv providers")
    options_dir: Path | None = Field(None, description="SPY option open interest, <dir>/<YYYY-MM-DD>.csv: enables dealer gamma (GEX)")
    langs: list[Lang] = ["en", "zh-Hant", "zh-Hans"]
    flows_seed: int = Field(20260204, description="seed of the simulated retail/institutional flows")
    history_days: int = Field(3000, ge=600, description="sessions of history loaded before the date (the whole sample by default)")
    fetch_retry_delays_s: list[float] = Field([2.0, 5.0, 15.0], description="backoff between provider retries (one retry per entry)")
    late_data_window_s: float = Field(5400.0, ge=0, description="how long the nightly run waits for the close to arrive")
    late_data_poll_s: float = Field(300.0, gt=0, description="wait between freshness checks")
    momentum: MomentumSettings = MomentumSettings()
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("cache_dir")
    @classmethod
    def _home(cls, path: Path) -> Path:
        """``~`` means the user's home, as in a shell."""
        return path.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("NIGHTDESK_CONFIG", "nightdesk.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
