"""One typed settings object, read from ``nightdesk.toml`` and ``NIGHTDESK_*`` env vars.

Precedence: explicit keyword arguments > environment (``NIGHTDESK_SMTP__HOST=...``) >
TOML file (``$NIGHTDESK_CONFIG``, else ``<home>/nightdesk.toml``) > defaults. Unknown keys and
wrong types are rejected at start with the key named; a ``$NIGHTDESK_CONFIG`` naming a missing
file, or a file that is not valid TOML, is a :class:`SettingsFileError` naming the file (and
the line).

Paths do not depend on the working directory: every relative path in the settings (output,
store, subscriber database, outboxes, the local Prefect server's files, ...) is taken relative
to ``home`` (:func:`default_home`: the source checkout when nightdesk runs from one, else
``$XDG_DATA_HOME/nightdesk``). Paths given on the command line are the user's, relative to the
current directory; the CLI makes them absolute before they reach the settings.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from nightdesk.mail_headers import check_address, check_from_addr, check_url

Lang = Literal["en", "zh-Hant", "zh-Hans"]


def default_home() -> Path:
    """Where nightdesk keeps its files when ``home`` is not set.

    The source checkout when nightdesk runs from one (an editable install, as the README's quick
    start makes: ``output/`` is then the checkout's), else ``$XDG_DATA_HOME/nightdesk``
    (``~/.local/share/nightdesk``). Either way the same from every working directory.
    """
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        if pyproject.is_file() and 'name = "nightdesk"' in pyproject.read_text(encoding="utf-8"):
            return root
    except OSError:
        pass
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "nightdesk"


def home_from_env() -> Path:
    """``$NIGHTDESK_HOME`` (the ``home`` setting from the environment) or :func:`default_home`."""
    named = os.environ.get("NIGHTDESK_HOME")
    return Path(named).expanduser().absolute() if named else default_home()


def under_home(path: Path, home: Path) -> Path:
    """``path`` with ``~`` expanded, relative to ``home`` unless absolute.

    >>> under_home(Path("output"), Path("/srv/nightdesk")).as_posix(), under_home(Path("/data"), Path("/srv")).as_posix()
    ('/srv/nightdesk/output', '/data')
    """
    path = path.expanduser()
    return path if path.is_absolute() else home / path


def sqlite_under_home(db_url: str, home: Path) -> str:
    """A SQLite URL's relative file path taken relative to ``home``; other URLs unchanged.

    >>> sqlite_under_home("sqlite:///.nightdesk/subscribers.db", Path("/srv/nd"))
    'sqlite:////srv/nd/.nightdesk/subscribers.db'
    >>> sqlite_under_home("postgresql+psycopg://db/desk", Path("/srv/nd"))
    'postgresql+psycopg://db/desk'
    """
    prefix = "sqlite:///"
    if not db_url.startswith(prefix) or db_url.startswith(prefix + ":memory:") or db_url == prefix:
        return db_url
    path, sep, query = db_url.removeprefix(prefix).partition("?")
    return f"{prefix}{under_home(Path(path), home).as_posix()}{sep}{query}"


def _paths_under_home(model: BaseModel, home: Path) -> BaseModel:
    """A copy of ``model`` (and its nested settings) with every relative ``Path`` under ``home``;
    which fields were set explicitly is kept (some checks ask whether a value is a default)."""
    updates = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            updates[name] = under_home(value, home)
        elif isinstance(value, BaseModel):
            updates[name] = _paths_under_home(value, home)
    if not updates:
        return model
    copied = model.model_copy(update=updates)
    object.__setattr__(copied, "__pydantic_fields_set__", set(model.model_fields_set))
    return copied


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


class StorySettings(_Strict):
    """Thresholds that pick the story of the day and guard the note's sentences (NOTE_SPEC: story of the day)."""

    momentum_z: float = Field(2.0, gt=0, description="|L/S z| at or beyond this: a momentum crash or rally")
    index_pct: float = Field(2.0, gt=0, description="|index return| at or beyond this (%): an index selloff or rally")
    breadth_extreme_pctile: float = Field(5.0, gt=0, lt=50, description="breadth at or below this percentile of its past year (or at or above 100 minus it): a rotation day")
    group_z: float = Field(2.5, gt=0, description="a sector or theme with |z| at or beyond this: a rotation day")
    lead_share_pct: float = Field(60.0, gt=50, le=100, description="a leg 'leads' the L/S move when it carries at least this share of it")
    flat_index_pct: float = Field(1.0, gt=0, description="|index return| below this (%): the index was flat ('only', de-grossing)")
    broad_breadth_pct: float = Field(60.0, gt=50, lt=100, description="share of members beating the index at or above this: broad gains (de-grossing)")
    extreme_rank_pctile: float = Field(2.0, gt=0, lt=50, description="at or below this percentile (or at or above 100 minus it) a figure is given as a rank")
    history_direction_pct: float = Field(1.0, ge=0, description="a one-month median L/S after past events beyond this (%) counts as a direction in the bottom line")


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


class StoreSettings(_Strict):
    """The local market-data store (``provider = "store"``) and where ``nightdesk data update`` gets new sessions."""

    dir: Path = Field(Path("data/store"), description="store folder: manifest.json, prices/<year>.*.arrow, ref/*")
    source: Literal["yfinance", "parquet", "csv", "sample"] = Field("yfinance", description="where new sessions come from")
    source_dir: Path | None = Field(None, description="vendor drop folder for source parquet/csv (marketdata/directory.py layout)")
    min_coverage: float = Field(0.9, gt=0, le=1, description="a new session needs closes for this share of index members")


class FlowsSettings(_Strict):
    """Which retail/institutional flow data the note uses; only ``simulated`` (and ``auto`` without files) is synthetic."""

    source: Literal["auto", "simulated", "vendor", "finra", "rtat", "none"] = Field(
        "auto", description="auto: vendor flows.csv in dir (or the provider's folder) when present, else simulated")
    dir: Path | None = Field(None, description="flows data root: flows.csv, finra/CNMSshvolYYYYMMDD.txt, rtat/*.csv")
    vendor_name: str = Field("vendor flow data", description="how the note names the vendor of flows.csv")
    rtat_api_key: SecretStr | None = Field(
        default_factory=lambda: SecretStr(k) if (k := os.environ.get("NASDAQ_DATA_LINK_API_KEY")) else None,
        description="Nasdaq Data Link key: NIGHTDESK_FLOWS__RTAT_API_KEY, else NASDAQ_DATA_LINK_API_KEY")
    rtat_url: str = "https://data.nasdaq.com/api/v3/datatables/NDAQ/RTAT10.json"
    finra_url: str = "https://cdn.finra.org/equity/regsho/daily"
    fetch_missing: bool = Field(True, description="finra/rtat: download days missing from dir (needs the network)")
    retail_notional_usd: float = Field(3.0e10, gt=0, description="rtat: daily retail notional the activity shares are scaled to")


class RefreshSource(_Strict):
    """One reference input's refresh: adapter, optional vendor file, endpoint and schedule."""

    source: str = Field(..., description="adapter name (see marketdata/refresh.py) or 'file'")
    file: Path | None = Field(None, description="vendor file that replaces the adapter (source = 'file')")
    url: str | None = Field(None, description="endpoint override (tests point it at a local server)")
    cron: str = Field(..., description="schedule, America/New_York")


class MembershipRefresh(RefreshSource):
    source: str = "datasets-github"
    cron: str = "0 7 * * 1"


class CapsRefresh(RefreshSource):
    source: str = "sec"
    cron: str = "0 7 * * 2"


class LetfAumRefresh(RefreshSource):
    source: str = "yahoo"
    cron: str = "0 7 * * 1-5"


class FactorsRefresh(RefreshSource):
    source: str = "french"
    cron: str = "0 7 1,15 * *"


class RefreshSettings(_Strict):
    """Reference data refreshes: index membership, shares/caps, LETF AUM, Ken French factors."""

    membership: MembershipRefresh = MembershipRefresh()
    caps: CapsRefresh = CapsRefresh()
    letf_aum: LetfAumRefresh = LetfAumRefresh()
    factors: FactorsRefresh = FactorsRefresh()
    sec_user_agent: str = Field("nightdesk research-note generator admin@nightdesk.invalid",
                                description="SEC asks for a name and contact e-mail in the User-Agent")
    timeout_s: float = Field(60.0, gt=0)


class StalenessSettings(_Strict):
    """Maximum age (calendar days before the note date) of each input before the note calls it stale."""

    prices: int = Field(4, ge=0)
    membership: int = Field(100, ge=0)
    reference: int = Field(100, ge=0, description="shares / market caps")
    letf_aum: int = Field(35, ge=0)
    factors: int = Field(75, ge=0)
    flows: int = Field(4, ge=0)


class WebSettings(_Strict):
    """The readers' web service (``nightdesk web``): archive, subscribe, unsubscribe, preferences."""

    base_url: str = Field("http://127.0.0.1:8080", description="public URL of the service as readers see it (behind the proxy)")
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(8080, ge=1, le=65535, description="bind port")
    secret_key: SecretStr | None = Field(None, description="signs every token; only from NIGHTDESK_WEB__SECRET_KEY, never a file")
    forwarded_allow_ips: str = Field("127.0.0.1", description="proxies whose X-Forwarded-For/-Proto are trusted (uvicorn)")
    confirm_max_age_s: int = Field(172800, ge=60, description="a confirmation link expires after this (48 h)")
    subscribe_per_ip_per_hour: int = Field(10, ge=1, description="subscribe form posts accepted per client address")
    requests_per_ip_per_minute: int = Field(300, ge=1, description="all requests per client address")
    confirm_mails_per_address_per_day: int = Field(3, ge=1, description="confirmation mails one address can be sent")
    outbox_dir: Path = Field(Path(".nightdesk/outbox"), description="confirmation mails when delivery.transport is 'outbox'")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, url: str) -> str:
        """An absolute http(s) URL without a trailing slash."""
        if not url.startswith(("http://", "https://")) or "://" not in url or not url.split("://", 1)[1].strip("/"):
            raise ValueError(f"{url!r} is not an absolute http(s) URL, e.g. https://notes.example.org")
        return url.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        """At least 32 characters (e.g. ``python -c 'import secrets; print(secrets.token_urlsafe(32))'``)."""
        if key is not None and len(key.get_secret_value()) < 32:
            raise ValueError("shorter than 32 characters: make one with python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return key


class PrefectSettings(_Strict):
    """The local Prefect server nightdesk starts when no Prefect API is configured (no
    ``PREFECT_API_URL`` in the environment or the active Prefect profile)."""

    home: Path = Field(Path(".nightdesk/prefect"), description="the server's PREFECT_HOME: its SQLite database (prefect.db), "
                       "server.log, and server.json while `nightdesk serve` runs it")
    host: str = Field("127.0.0.1", description="bind address of the server `nightdesk serve` starts")
    port: int = Field(4200, ge=0, le=65535, description="its port (0: any free port); one-off runs take any free port")
    ui: bool = Field(True, description="serve Prefect's UI at the server's address (`nightdesk serve` only)")
    startup_timeout_s: float = Field(120.0, gt=0, description="a first start migrates a fresh database: about 10 s here, more on a busy machine")
    restart_delays_s: list[float] = Field([1.0, 5.0, 15.0, 60.0], min_length=1,
                                          description="waits before restarting a server that died (the last one repeats)")


class AlertSettings(_Strict):
    """Operator notifications: one per failed nightly run, backfill with failed dates, or delivery that did not reach everyone."""

    email_to: list[str] = Field([], description="operator addresses; sent through delivery.transport (SMTP with delivery.smtp "
                                "and delivery.from_addr, or .eml files in alerts.outbox_dir)")
    webhook_url: SecretStr | None = Field(None, description="POSTed a JSON object per failure (it may carry a token: kept secret)")
    outbox_dir: Path = Field(Path(".nightdesk/alerts"), description="alert emails when delivery.transport is 'outbox'")
    timeout_s: float = Field(10.0, gt=0, description="wait for the webhook (email uses delivery.smtp's time-outs)")

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        """Plain addresses, no line breaks (they become a header)."""
        for addr in value:
            if "@" not in addr or any(c in addr for c in "\r\n<>, "):
                raise ValueError(f"{addr!r} is not a plain email address")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, url: SecretStr | None) -> SecretStr | None:
        """An http(s) URL."""
        if url is not None and not url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return url


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    """The TOML file, refused when it holds the web secret key (secrets come from the environment only)."""

    def __call__(self) -> dict:
        data = super().__call__()
        web = data.get("web")
        if isinstance(web, dict) and "secret_key" in web:
            raise ValidationError.from_exception_data("Settings", [{
                "type": PydanticCustomError("secret_in_file", "a secret belongs in the environment (NIGHTDESK_WEB__SECRET_KEY), never in {path}",
                                            {"path": str(self.toml_file_path)}),
                "loc": ("web", "secret_key"), "input": "***"}])
        return data


class Settings(BaseSettings):
    """Everything configurable in nightdesk."""

    model_config = SettingsConfigDict(env_prefix="NIGHTDESK_", env_nested_delimiter="__", extra="forbid")

    home: Path = Field(default_factory=default_home, description="every relative path below is taken from here "
                       "(default: the source checkout when run from one, else $XDG_DATA_HOME/nightdesk)")
    output_dir: Path = Path("output")
    publish_dir_mode: int = Field(0o755, description="permissions of every published folder (output/<date>/ and below): "
                                  "0755 lets a web server or another user read the note")
    publish_file_mode: int = Field(0o644, description="permissions of every published file")
    cache_dir: Path = Field(default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nightdesk",
                            description="files derived once and reused: the charts' desubroutinized CJK fonts (about 75 MB)")
    provider: Literal["sample", "parquet", "csv", "yfinance", "store"] = "sample"
    data_dir: Path | None = Field(None, description="directory for the parquet/csv providers")
    store: StoreSettings = StoreSettings()
    flows: FlowsSettings = Field(default_factory=FlowsSettings)
    refresh: RefreshSettings = RefreshSettings()
    staleness: StalenessSettings = StalenessSettings()
    options_dir: Path | None = Field(None, description="SPY option open interest, <dir>/<YYYY-MM-DD>.csv: enables dealer gamma (GEX)")
    langs: list[Lang] = ["en", "zh-Hant", "zh-Hans"]
    flows_seed: int = Field(20260204, description="seed of the simulated retail/institutional flows")
    history_days: int = Field(3000, ge=600, description="sessions of history loaded before the date (the whole sample by default)")
    fetch_retry_delays_s: list[float] = Field([2.0, 5.0, 15.0], description="backoff between provider retries (one retry per entry)")
    late_data_window_s: float = Field(5400.0, ge=0, description="how long the nightly run waits for the close to arrive")
    late_data_poll_s: float = Field(300.0, gt=0, description="wait between freshness checks")
    momentum: MomentumSettings = MomentumSettings()
    story: StorySettings = StorySettings()
    delivery: DeliverySettings = DeliverySettings()
    web: WebSettings = WebSettings()
    prefect: PrefectSettings = PrefectSettings()
    alerts: AlertSettings = AlertSettings()

    @field_validator("cache_dir")
    @classmethod
    def _home(cls, path: Path) -> Path:
        """``~`` means the user's home, as in a shell."""
        return path.expanduser()

    @model_validator(mode="after")
    def _under_home(self) -> "Settings":
        """Relative paths (and a relative SQLite file) under ``home``: not the working directory."""
        home = self.home.expanduser().absolute()
        fields_set = set(self.model_fields_set)
        object.__setattr__(self, "home", home)
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "home":
                continue
            if isinstance(value, Path):
                object.__setattr__(self, name, under_home(value, home))
            elif isinstance(value, BaseModel):
                object.__setattr__(self, name, _paths_under_home(value, home))
        delivery = self.delivery
        update = {"db_url": sqlite_under_home(delivery.db_url, home)}
        if delivery.outbox_dir is None and not update["db_url"].startswith("sqlite:////"):  # no SQLite file to sit beside
            update["outbox_dir"] = home / ".nightdesk" / "outbox"
        if any(getattr(delivery, k) != v for k, v in update.items()):
            copied = delivery.model_copy(update=update)
            object.__setattr__(copied, "__pydantic_fields_set__", set(delivery.model_fields_set))
            object.__setattr__(self, "delivery", copied)
        object.__setattr__(self, "__pydantic_fields_set__", fields_set)
        return self


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
        named_home = getattr(init_settings, "init_kwargs", {}).get("home")
        home = Path(named_home).expanduser().absolute() if named_home else home_from_env()
        return (init_settings, env_settings, toml_source(settings_cls, home))


def toml_source(settings_cls: type[BaseSettings], home: Path | None = None) -> TomlConfigSettingsSource:
    """The TOML layer: ``$NIGHTDESK_CONFIG`` (which must exist) or ``<home>/nightdesk.toml`` (if
    any; ``home`` defaults to :func:`home_from_env`), refusing a web secret in it.

    Raises
    ------
    SettingsFileError
        ``$NIGHTDESK_CONFIG`` names a missing file or a folder; the file is unreadable, not UTF-8
        or not valid TOML (the message gives the line and column).
    """
    named = os.environ.get("NIGHTDESK_CONFIG")
    toml_path = Path(named) if named else (home or home_from_env()) / "nightdesk.toml"
    if named and not toml_path.is_file():
        if toml_path.exists():
            raise SettingsFileError(f"$NIGHTDESK_CONFIG names {toml_path}, which is not a file")
        raise SettingsFileError(f"$NIGHTDESK_CONFIG names {toml_path}, which does not exist")
    try:
        return _TomlWithoutSecrets(settings_cls, toml_file=toml_path)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsFileError(f"{toml_path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsFileError(f"{toml_path}: not UTF-8 text") from None
    except OSError as exc:
        raise SettingsFileError(f"{toml_path}: cannot read it ({exc.strerror or exc})") from None
