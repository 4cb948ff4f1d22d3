"""One typed settings object, read from ``nightdesk.toml`` and ``NIGHTDESK_*`` env vars.

Precedence: explicit keyword arguments > environment (``NIGHTDESK_SMTP__HOST=...``) >
TOML file (``$NIGHTDESK_CONFIG`` or ``./nightdesk.toml``) > defaults. Unknown keys and
wrong types are rejected at start with the key named; a ``$NIGHTDESK_CONFIG`` naming a missing
file, or a file that is not valid TOML, is a :class:`SettingsFileError` naming the file (and
the line).
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

Lang = Literal["en", "zh-Hant", "zh-Hans"]


class SettingsFileError(ValueError):
    """The configuration file cannot be used (missing, unreadable, not TOML); the message names it."""


def _mode(value: object, *, need: int, what: str) -> int:
    """A permission mode from TOML (an int, e.g. ``0o755``) or the environment (octal text, e.g. ``"755"``)."""
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            value = int(text, 8)
        except ValueError:
            raise ValueError(f"{value!r} is not an octal mode such as 755") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0o777:
        raise ValueError(f"{value!r} is not a permission mode between 000 and 777")
    if value & need != need:
        raise ValueError(f"{value:o}: the owner needs {need:o} on {what} (or the next run cannot replace them)")
    return value


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
    timeout_s: float = 30.0


class DeliverySettings(_Strict):
    """Subscribers database, sender identity and sending policy."""

    db_url: str = "sqlite:///.nightdesk/subscribers.db"
    transport: Literal["outbox", "smtp"] = "outbox"
    from_addr: str = "Nightdesk Strategy <strategy@nightdesk.invalid>"
    unsubscribe_mailto: str = "unsubscribe@nightdesk.invalid"
    unsubscribe_url: str = "https://nightdesk.invalid/unsubscribe"
    rate_per_s: float = Field(50.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    smtp: SmtpSettings = SmtpSettings()


class Settings(BaseSettings):
    """Everything configurable in nightdesk."""

    model_config = SettingsConfigDict(env_prefix="NIGHTDESK_", env_nested_delimiter="__", extra="forbid")

    output_dir: Path = Path("output")
    publish_dir_mode: int = Field(0o755, description="permissions of every published folder (output/<date>/ and below): "
                                  "0755 lets a web server or another user read the note")
    publish_file_mode: int = Field(0o644, description="permissions of every published file")
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

    @field_validator("publish_dir_mode", mode="before")
    @classmethod
    def _dir_mode(cls, value: object) -> int:
        """Octal text (``"755"``) or an int; the owner keeps rwx."""
        return _mode(value, need=0o700, what="folders")

    @field_validator("publish_file_mode", mode="before")
    @classmethod
    def _file_mode(cls, value: object) -> int:
        """Octal text (``"644"``) or an int; the owner keeps rw."""
        return _mode(value, need=0o600, what="files")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, toml_source(settings_cls))


def toml_source(settings_cls: type[BaseSettings]) -> TomlConfigSettingsSource:
    """The TOML layer: ``$NIGHTDESK_CONFIG`` (which must exist) or ``./nightdesk.toml`` (if any).

    Raises
    ------
    SettingsFileError
        ``$NIGHTDESK_CONFIG`` names a missing file or a folder; the file is unreadable, not UTF-8
        or not valid TOML (the message gives the line and column).
    """
    named = os.environ.get("NIGHTDESK_CONFIG")
    toml_path = Path(named) if named else Path("nightdesk.toml")
    if named and not toml_path.is_file():
        raise SettingsFileError(f"$NIGHTDESK_CONFIG names {toml_path}, which " + ("is not a file" if toml_path.exists() else "does not exist"))
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsFileError(f"{toml_path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsFileError(f"{toml_path}: not UTF-8 text") from None
    except OSError as exc:
        raise SettingsFileError(f"{toml_path}: cannot read it ({exc.strerror or exc})") from None
