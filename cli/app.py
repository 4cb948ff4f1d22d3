"""nightdesk command line: thin commands over the Prefect flows."""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Nightly bilingual US equity strategy note.")


def _version(value: bool) -> None:
    if value:
        from nightdesk import __version__

        typer.echo(f"nightdesk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit.")) -> None:
    """Nightly bilingual US equity strategy note."""
data_app = typer.Typer(help="Inspect market data; keep the local store up to date.", no_args_is_help=True)
app.add_typer(data_app, name="data")
subs_app = typer.Typer(help="Manage email subscribers.", no_args_is_help=True)
app.add_typer(subs_app, name="subscribers")

LANG_CHOICES = ("en", "zh-Hant", "zh-Hans")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _parse_date(value: Optional[str]) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-02-04")


def _parse_langs(value: Optional[str]) -> Optional[list[str]]:
    if value is None:
        return None
    langs = list(LANG_CHOICES) if value == "all" else [x.strip() for x in value.split(",") if x.strip()]
    bad = [x for x in langs if x not in LANG_CHOICES]
    if bad:
        _fail(f"--lang {','.join(bad)} unknown; choose from {', '.join(LANG_CHOICES)} or 'all'")
    return langs


def _user_path(path: Path) -> Path:
    """A path typed on the command line: relative to the current directory (settings' own relative
    paths are relative to ``home`` instead)."""
    return path.expanduser().absolute()


def _settings(**overrides):
    from nightdesk.settings import Settings, SettingsFileError

    try:
        return Settings(**{k: _user_path(v) if isinstance(v, Path) else v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"settings: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    except SettingsFileError as exc:
        _fail(f"config: {exc}")


PREFECT_API_TIMEOUT_S = 2.0
"""How long the pre-flight waits for ``$PREFECT_API_URL``'s health check."""
MIN_FREE_BYTES = 20_000_000
"""Free space the output folder's filesystem must have before a run starts (a note is about 3 MB)."""

# Pre-flight checks: everything that can be known wrong before a Prefect flow (and, without
# PREFECT_API_URL, its temporary server: 7-12 s) starts is checked first, in about a second and
# without importing Prefect; each failure is one ``error:`` line and exit code 2.


def _check_prefect_api() -> None:
    """When ``$PREFECT_API_URL`` is set, its server must answer ``/health`` (else one line, not a 420-line traceback)."""
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if not url:
        return
    import urllib.error
    import urllib.request

    headers = {"Authorization": f"Bearer {os.environ['PREFECT_API_KEY']}"} if os.environ.get("PREFECT_API_KEY") else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url.rstrip("/") + "/health", headers=headers), timeout=PREFECT_API_TIMEOUT_S):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            _fail(f"PREFECT_API_URL {url} refused the request (HTTP {exc.code}); check PREFECT_API_KEY or PREFECT_API_AUTH_STRING")
        _fail(f"PREFECT_API_URL {url} is not a working Prefect API (HTTP {exc.code} from /health)")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        _fail(f"PREFECT_API_URL {url} is not reachable ({getattr(reason, 'strerror', None) or reason}); start that server "
              "(prefect server start) or unset PREFECT_API_URL to run on a temporary local one")


def _check_output(output_dir: Path) -> None:
    """The output folder is writable and its filesystem has room for a note."""
    from nightdesk.rendering.publish import PublishError, ensure_writable

    try:
        ensure_writable(output_dir, min_free_bytes=MIN_FREE_BYTES)
    except PublishError as exc:
        _fail(str(exc))


def _provider_and_session(settings, day: Optional[dt.date], snap: bool, *, note: bool = True):
    """The provider (options checked) and the session to run (checked against the NYSE calendar,
    any date, and the provider's data); one line on any failure. A live provider's data is not
    downloaded for this: its dates are bounded by today in New York."""
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.calendar import resolve_session
    from nightdesk.marketdata.registry import provider_from_settings, resolve_date

    try:
        prov = provider_from_settings(settings)
        if settings.provider == "yfinance":
            if day is None:
                return prov, None
            from zoneinfo import ZoneInfo

            today = dt.datetime.now(ZoneInfo("America/New_York")).date()
            return prov, resolve_session(day, snap=snap, last_available=today, first_available=today - dt.timedelta(days=365 * 12))
        session = resolve_date(prov, day, snap=snap)
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    if note:  # a note needs history before the date; a data check does not
        _check_history(prov, session, settings)
    return prov, session


def _check_history(prov, session: dt.date, settings) -> None:
    """A date with too little of the provider's history before it for any note: one line, before
    Prefect starts (the facts step's own check, a few sessions later, names the exact shortfall)."""
    from nightdesk.facts.sections import first_note_session, ls_history_needed
    from nightdesk.marketdata.calendar import sessions_between

    m = settings.momentum
    first, last = prov.coverage()
    earliest = first_note_session(sessions_between(first, last), m.lookback_days, m.z_window_days)
    if earliest is None or session < earliest:
        _fail(f"--date {session.isoformat()} is too early for the provider's history, which starts {first.isoformat()}: a note "
              f"needs {m.lookback_days} sessions to form the momentum baskets, then {ls_history_needed(m.z_window_days)} of "
              f"L/S returns" + (f" (no note before {earliest.isoformat()})" if earliest else ""))


def _store_as_data_dir(settings):
    """Provider 'store' without --data-dir reads settings.store.dir (the flows build providers from data_dir)."""
    if settings.provider == "store" and settings.data_dir is None:
        return settings.model_copy(update={"data_dir": settings.store.dir})
    return settings


def _quiet_prefect() -> None:
    """Prefect defaults for a command-line run; anything the user set in the environment wins.

    The runs' INFO logs ("published ...", "skipping ...") go to the Prefect API; the terminal
    shows warnings and errors only. Telemetry is off: the machine may have no internet, and its
    first write at start-up competes for the database lock.
    """
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _start_local_prefect(settings):
    """The Prefect API a one-off command's flow reports to: ``None`` (a configured API, used as
    it is), the address of a running ``nightdesk serve``'s server of the same home, or a local
    server started now, in the background while the command loads (about as long as the server
    takes). That server dies with this process even on ``kill -9``; Prefect's own temporary server
    would be left running by a killed run. Hand the result to :func:`_local_prefect_ready`.
    """
    from nightdesk.cli.prefect_server import LocalPrefectServer, configured_api_url, served_api_url

    if configured_api_url():
        return None
    served = served_api_url(settings.prefect.home)
    if served:
        _api_url_for_prefect(served)
        return served
    server = LocalPrefectServer(settings.prefect.home, host="127.0.0.1", port=0, services=False, ui=False,
                                template_dir=settings.cache_dir / "prefect-db")
    try:
        server.start()
    except OSError as exc:
        _fail(f"prefect.home {settings.prefect.home}: cannot start the local Prefect server there ({exc.strerror or exc})")
    atexit.register(server.stop, 5.0)  # a backstop; _local_prefect_ready stops it once the flow is done
    _api_url_for_prefect(server.api_url)
    return server


_ENV_BEFORE = "_NIGHTDESK_PREFECT_API_URL_BEFORE"


def _api_url_for_prefect(url: str) -> None:
    """``PREFECT_API_URL`` in the environment before Prefect is imported: Prefect's root settings
    (which its background threads use) and the flow's child processes read it from there.
    :func:`_local_prefect_ready` puts the previous value back (for commands invoked in-process)."""
    os.environ.setdefault(_ENV_BEFORE, os.environ.get("PREFECT_API_URL", ""))
    os.environ["PREFECT_API_URL"] = url


def _note_failures() -> tuple[type[BaseException], ...]:
    """The typed failures of computing and publishing a note (what ``run`` prints as one line)."""
    from nightdesk.analytics.quality import DataQualityError
    from nightdesk.facts import FactsError
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.narrative.claims import NarrativeError
    from nightdesk.rendering.pdf import RenderError
    from nightdesk.rendering.publish import PublishError

    return (DataError, ProviderIOError, DataQualityError, FactsError, NarrativeError, RenderError, PublishError)


def _expected_failures() -> tuple[type[BaseException], ...]:
    """The typed failures a command prints as its one ``error:`` line (bugs are not among them):
    a note's (:func:`_note_failures`) and delivery's."""
    from nightdesk.delivery.published import PublishedNoteError
    from nightdesk.delivery.send import DeliveryFailed
    from nightdesk.delivery.store import StoreError
    from nightdesk.delivery.transport import SendError

    return (*_note_failures(), PublishedNoteError, DeliveryFailed, StoreError, SendError)


class _OneLineFailures:
    """A filter on Prefect's run loggers for a one-off command: the engines' ERROR records of an
    expected failure (its traceback, "Finished in state Failed(...)") are dropped, since the command
    prints that failure as one line; a bug's traceback still shows."""

    LOGGERS = ("prefect.task_runs", "prefect.flow_runs")

    def __init__(self, expected: tuple[type[BaseException], ...]):
        self.expected = expected
        self.names = tuple(t.__name__ for t in expected)

    def filter(self, record) -> bool:
        import logging

        if record.levelno < logging.ERROR:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            return not isinstance(exc, self.expected)
        message = record.getMessage()
        return not any(f"{name}(" in message or f"{name}:" in message for name in self.names)

    def __enter__(self):
        import logging

        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)
        return self

    def __exit__(self, *exc):
        import logging

        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)


@contextlib.contextmanager
def _local_prefect_ready(target, settings):
    """Prefect uses :func:`_start_local_prefect`'s API inside, and so do the processes the flow
    starts; a server started for the command is waited for first, and stopped after, once this
    process's logs and events are sent. The environment is left as it was (a command invoked
    in-process leaves no address behind). Expected failures are not logged with their traceback
    (:class:`_OneLineFailures`): the command prints them as one line."""
    with _OneLineFailures(_expected_failures()):
        with _api_for_the_command(target, settings):
            yield


@contextlib.contextmanager
def _api_for_the_command(target, settings):
    """The body of :func:`_local_prefect_ready`: the server and the environment."""
    if target is None:
        yield
        return
    from nightdesk.cli.prefect_server import ServerError, flush_prefect_clients

    server = None if isinstance(target, str) else target
    if server is None:
        url = target
    else:
        try:
            url = server.wait_ready(settings.prefect.startup_timeout_s)
        except ServerError as exc:
            _fail(str(exc))
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = url  # the port may have changed while the server started
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
    finally:
        if server is not None:
            flush_prefect_clients()
            server.stop(5.0)
        before = os.environ.pop(_ENV_BEFORE, "")
        if before:
            os.environ["PREFECT_API_URL"] = before
        else:
            os.environ.pop("PREFECT_API_URL", None)


@app.command()
def run(
    date: Optional[str] = typer.Option(None, "--date", help="Session date YYYY-MM-DD (default: latest session of the provider)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Editions: en,zh-Hant,zh-Hans or all (default from settings)."),
    provider: Optional[str] = typer.Option(None, "--provider", help="sample (default), parquet, csv, yfinance or store."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory for the parquet/csv providers."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Where output/<date>/ goes (default: output)."),
    snap: bool = typer.Option(False, "--snap", help="On a weekend/holiday use the previous session."),
) -> None:
    """Compute, render and publish the note for one date (through the Prefect flow)."""
    day = _parse_date(date)
    langs = _parse_langs(lang)
    settings = _store_as_data_dir(_settings(provider=provider, data_dir=data_dir, output_dir=output_dir))
    _, session = _provider_and_session(settings, day, snap)
    _check_output(settings.output_dir)
    _check_prefect_api()
    server = _start_local_prefect(settings)
    _quiet_prefect()
    from nightdesk.flows.nightly import regenerate_note

    t0 = time.perf_counter()
    try:
        with _local_prefect_ready(server, settings):
            result = regenerate_note(session, settings.provider, langs, snap if session is None else False, settings)
    except _note_failures() as exc:
        _fail(str(exc))
    typer.echo(f"published {result['folder']} in {time.perf_counter() - t0:.1f}s")
    typer.echo(result["headline"])


@data_app.command("check")
def data_check(
    date: Optional[str] = typer.Option(None, "--date", help="Session date YYYY-MM-DD."),
    provider: Optional[str] = typer.Option(None, "--provider"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    snap: bool = typer.Option(False, "--snap"),
) -> None:
    """Run the data-quality gate for a date and list what it excludes."""
    parsed = _parse_date(date)
    settings = _settings(provider=provider, data_dir=data_dir)
    prov, day = _provider_and_session(settings, parsed, snap, note=False)
    from nightdesk.analytics.quality import DataQualityError
    from nightdesk.facts import gate
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.registry import load_market_data, resolve_date

    try:
        day = day or resolve_date(prov, None)
        md = load_market_data(prov, day, history_days=settings.history_days, flows_window_days=1)
        g = gate(md)  # the same gate the note runs
    except (DataError, ProviderIOError, DataQualityError) as exc:
        _fail(str(exc))
    window, n_ok = g.window_flags, g.n_usable
    typer.echo(f"{day}: {n_ok} members with a usable close; {len(window)} exclusions in the past 252 sessions")
    for check, n in window.groupby("check").size().items():
        typer.echo(f"  {check}: {n}")
    for r in window[window["check"] != "stale_close"].itertuples():
        typer.echo(f"  {r.date.date()} {r.ticker}: {r.detail}")
    for r in g.flags["on_date"]:
        typer.echo(f"  on {day}: {r['ticker']} {r['check']} ({r['detail']})")


def _parse_opt_date(value: Optional[str], option: str) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-08-03")


def _store_settings(store_dir: Optional[Path], source: Optional[str], source_dir: Optional[Path]):
    overrides = {k: _user_path(v) if isinstance(v, Path) else v
                 for k, v in {"dir": store_dir, "source": source, "source_dir": source_dir}.items() if v is not None}
    base = _settings()
    if not overrides:
        return base
    return _settings(store={**base.store.model_dump(), **overrides})


@data_app.command("seed")
def data_seed(
    through: Optional[str] = typer.Option(None, "--through", help="Last session to take from the sample (default: all)."),
    store_dir: Optional[Path] = typer.Option(None, "--store-dir", help="Store folder (default: settings store.dir)."),
) -> None:
    """Create the store from the bundled sample (optionally cut at a date)."""
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.store import Store

    day = _parse_opt_date(through, "--through")
    settings = _store_settings(store_dir, None, None)
    try:
        commit = Store(settings.store.dir).seed(through=day)
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    typer.echo(f"{settings.store.dir}: generation {commit.generation}: {commit.summary}")


@data_app.command("update")
def data_update(
    through: Optional[str] = typer.Option(None, "--through", help="Last session to append (default: the last session whose close is final)."),
    source: Optional[str] = typer.Option(None, "--source", help="yfinance, parquet, csv or sample (default: settings store.source)."),
    source_dir: Optional[Path] = typer.Option(None, "--source-dir", help="Vendor drop folder for parquet/csv."),
    store_dir: Optional[Path] = typer.Option(None, "--store-dir", help="Store folder (default: settings store.dir)."),
) -> None:
    """Append the sessions the store lacks, checked, in one atomic commit (a cold store is seeded from the sample)."""
    from nightdesk.flows.data import update_store
    from nightdesk.marketdata.base import DataError, ProviderIOError

    day = _parse_opt_date(through, "--through")
    settings = _store_settings(store_dir, source, source_dir)
    try:
        rep = update_store(settings, day)
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    if rep.seeded:
        typer.echo(f"seeded {settings.store.dir} from the bundled sample")
    if rep.appended:
        typer.echo(f"appended {len(rep.appended)} sessions {rep.appended[0]} to {rep.appended[-1]} (generation {rep.generation})")
    else:
        typer.echo(f"nothing appended; the store ends {rep.store_last_after}")
    if rep.readjusted:
        typer.echo(f"re-adjusted history of {len(rep.readjusted)} tickers: {', '.join(sorted(rep.readjusted)[:10])}")
    for f in rep.flags:
        typer.echo(f"  flagged {f['date']} {f['ticker']}: {f['check']} ({f['detail']})")
    if rep.unavailable:
        typer.echo(f"not yet available from the source: {', '.join(d.isoformat() for d in rep.unavailable)}")
    for day_s, why in rep.refused.items():
        typer.secho(f"error: session {day_s} not appended: {why}", fg="red", err=True)
    if rep.refused:
        raise typer.Exit(2)


@data_app.command("refresh")
def data_refresh(
    what: str = typer.Argument(..., help="membership, caps, letf-aum or factors."),
    file: Optional[Path] = typer.Option(None, "--file", help="A vendor file that replaces the adapter."),
    store_dir: Optional[Path] = typer.Option(None, "--store-dir", help="Store folder (default: settings store.dir)."),
) -> None:
    """Refresh one reference input in the store; records its source and as-of date."""
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.refresh import REFRESHERS, refresh_table

    key = what.replace("-", "_")
    if key not in REFRESHERS:
        _fail(f"refresh {what!r}: unknown input; choose membership, caps, letf-aum or factors")
    settings = _store_settings(store_dir, None, None)
    try:
        res = refresh_table(key, settings, file=file)
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    typer.echo(f"{what}: {res.source}; as of {res.as_of} (generation {res.generation})")
    for k, v in res.details.items():
        if v not in ([], {}, None):
            typer.echo(f"  {k}: {', '.join(map(str, v)) if isinstance(v, list) else v}")


@data_app.command("status")
def data_status(
    date: Optional[str] = typer.Option(None, "--date", help="Judge staleness as of this date (default: the store's last session)."),
    store_dir: Optional[Path] = typer.Option(None, "--store-dir"),
) -> None:
    """The store's coverage, each input's source and as-of date, and what is stale."""
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.registry import load_market_data, provider_from_settings
    from nightdesk.marketdata.staleness import stale_inputs

    settings = _store_settings(store_dir, None, None)
    try:
        prov = provider_from_settings(settings, "store")
        first, last = prov.coverage()
        day = _parse_opt_date(date, "--date") or last
        md = load_market_data(prov, min(day, last), history_days=600, flows_window_days=1)
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    m = prov.manifest()
    typer.echo(f"{settings.store.dir}: generation {m['generation']}, closes {first} to {last}, {len(m['prices']['columns'])} tickers")
    for name, line in md.sources.items():
        typer.echo(f"  {name}: {line}")
    stale = {s.input: s for s in stale_inputs(md.as_of, day, settings.staleness.model_dump())}
    for name, as_of in md.as_of.items():
        mark = f"  STALE: {stale[name].age_days} days old, limit {stale[name].limit_days}" if name in stale else ""
        typer.echo(f"  as of {name}: {as_of}{mark}")


@data_app.command("serve")
def data_serve() -> None:
    """Serve the reference refreshes, each on its own cron (settings refresh.<what>.cron, America/New_York)."""
    settings = _settings()
    _check_prefect_api()

    def deployments():
        from nightdesk.flows.data import data_deployments

        return data_deployments(settings)

    _serve_forever(settings, deployments, "the reference refreshes")


def _serve_forever(settings, deployments, what: str) -> None:
    """Run ``deployments()`` under Prefect's runner against the configured API or a supervised local server.

    With no API configured, ``prefect server start`` runs as a child (with the scheduler, and
    Prefect's UI at its address when ``prefect.ui``) on ``prefect.host:prefect.port``, its
    database under ``prefect.home``; a server that dies is restarted by a supervisor thread, and
    the runner, if it gave up meanwhile, is started again. Ctrl-C or SIGTERM stops both.
    """
    from nightdesk.cli.prefect_server import (LocalPrefectServer, ServerError, Supervisor, clear_state, configured_api_url,
                                             healthy, port_in_use, serve_lock, write_state)

    p = settings.prefect
    url = configured_api_url()
    stack = contextlib.ExitStack()
    server = supervisor = None
    with stack:
        if url is None:
            try:
                stack.enter_context(serve_lock(p.home))
            except ServerError as exc:
                _fail(str(exc))
            if p.port and port_in_use(p.host, p.port):
                _fail(f"prefect.port {p.port} on {p.host} is in use: stop what listens there, or set NIGHTDESK_PREFECT__PORT "
                      "(0 takes any free port)")
            server = LocalPrefectServer(p.home, host=p.host, port=p.port, services=True, ui=p.ui,
                                        template_dir=settings.cache_dir / "prefect-db")
            stack.callback(server.stop)
            typer.echo(f"starting a local Prefect server on {server.address} (database and log in {p.home}) ...")
            t0 = time.perf_counter()
            try:
                url = server.wait_ready(p.startup_timeout_s)
            except (ServerError, OSError) as exc:
                _fail(str(exc))
            typer.echo(f"Prefect server ready in {time.perf_counter() - t0:.1f}s: API {url}" + (f", UI {server.address}" if p.ui else ""))
            write_state(p.home, server)
            stack.callback(clear_state, p.home)
            supervisor = Supervisor(server, delays_s=p.restart_delays_s, startup_timeout_s=p.startup_timeout_s,
                                    report=lambda line: typer.secho(f"nightdesk: {line}", fg="yellow", err=True),
                                    on_restart=lambda: write_state(p.home, server))
            supervisor.start()
            stack.callback(supervisor.shutdown)
        os.environ["PREFECT_API_URL"] = url
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # the runs' INFO logs reach the API
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        from prefect import serve as prefect_serve
        from prefect.context import refresh_global_settings_context

        # Prefect may already be imported (serve checks --cron with Prefect's own schedule type), and
        # its root settings were read then: without a refresh, the runner would start a temporary server
        refresh_global_settings_context()

        try:
            items = deployments()
        except ValueError as exc:
            _fail(str(exc))
        from prefect.utilities.asyncutils import run_coro_as_sync

        for d in items:  # registered before "serving" is printed (the runner registers them again, unchanged)
            run_coro_as_sync(d.aapply())
        typer.echo(f"serving {what}: {', '.join(f'{d.flow_name}/{d.name}' for d in items)}; Ctrl-C stops")
        stopping = []

        def _interrupt(signum, frame):
            stopping.append(signum)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, _interrupt)
        try:
            while True:
                prefect_serve(*items, print_starting_message=False)
                if stopping or server is None or healthy(url):
                    break  # Ctrl-C, SIGTERM (Prefect's runner handles it), or a runner that ended on its own
                typer.secho("nightdesk: the runner stopped while the Prefect server was down; starting it again "
                            "once the server answers", fg="yellow", err=True)
                while not healthy(url):
                    if server.poll() is not None and supervisor is not None and not supervisor.is_alive():
                        _fail("the local Prefect server is down and is not being restarted")
                    time.sleep(1.0)
                items = deployments()
        finally:
            signal.signal(signal.SIGINT, previous)
        typer.echo("nightdesk: stopped")


@app.command()
def serve(
    cron: str = typer.Option("30 18 * * 1-5", help="Cron schedule of the nightly run, America/New_York time."),
) -> None:
    """Run the nightly note on its schedule (publish, then deliver) and the on-demand deployments; Ctrl-C stops.

    Without PREFECT_API_URL a local Prefect server is started and supervised (settings prefect.*).
    """
    settings = _settings()
    _check_prefect_api()
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone="America/New_York")
    except ValueError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ") if hasattr(exc, "errors") else str(exc)
        _fail(f"--cron {cron!r} is not a cron schedule ({reason}); "
              "e.g. '30 18 * * 1-5'")

    def deployments():
        from nightdesk.flows.deployments import served_deployments

        return served_deployments(cron)

    _serve_forever(settings, deployments, f"the nightly note ({cron}, America/New_York)")


@app.command()
def backfill(
    start: str = typer.Option(..., "--start", help="First date YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last date YYYY-MM-DD."),
    lang: Optional[str] = typer.Option(None, "--lang"),
    provider: Optional[str] = typer.Option(None, "--provider"),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir"),
    force: bool = typer.Option(False, "--force", help="Rebuild dates already published from the same inputs."),
    dask: bool = typer.Option(False, "--dask", help="Run on a local Dask cluster (needs nightdesk[dask])."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786."),
) -> None:
    """Publish every session between two dates in one flow run; resumable."""
    d0, d1 = _parse_date(start), _parse_date(end)
    if d1 < d0:
        _fail(f"--end {end} is before --start {start}")
    settings = _store_as_data_dir(_settings(provider=provider, output_dir=output_dir))
    langs = _parse_langs(lang)
    _check_backfill_range(settings, d0, d1)
    _check_output(settings.output_dir)
    _check_prefect_api()
    server = _start_local_prefect(settings)
    _quiet_prefect()
    from nightdesk.flows.backfill import backfill as backfill_flow, dask_backfill

    runner = dask_backfill(scheduler) if (dask or scheduler) else backfill_flow
    with _local_prefect_ready(server, settings):
        state = runner(d0, d1, settings.provider, langs, force, settings, True, return_state=True)
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, BaseException):  # the run could not start its dates at all
        _fail(f"backfill {d0}..{d1}: {summary}")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"backfill {d0} .. {d1}")
    for col in ("dates", "done", "skipped", "failed", "elapsed s", "s per date"):
        table.add_column(col, justify="right")
    table.add_row(str(summary["dates"]), str(summary["done"]), str(summary["skipped"]), str(len(summary["failed"])),
                  str(summary["elapsed_s"]), str(summary["per_date_s"]))
    Console().print(table)
    for day, why in summary["failed"].items():
        typer.secho(f"{day}: {why}", fg="red", err=True)
    if summary["failed"]:
        raise typer.Exit(1)


def _check_backfill_range(settings, d0: dt.date, d1: dt.date) -> None:
    """Both ends inside the NYSE calendar, the provider usable, and some session with data between them."""
    from nightdesk.marketdata.base import DataError, ProviderIOError
    from nightdesk.marketdata.calendar import CALENDAR_FIRST, CALENDAR_LAST, in_range, sessions_between

    for flag, day in (("--start", d0), ("--end", d1)):
        if not in_range(day):
            _fail(f"{flag} {day.isoformat()} is outside the NYSE calendar, which covers {CALENDAR_FIRST.isoformat()} "
                  f"to {CALENDAR_LAST.isoformat()}")
    prov, _ = _provider_and_session(settings, None, True)
    if settings.provider == "yfinance":
        return
    try:
        first, last = prov.coverage()
    except (DataError, ProviderIOError) as exc:
        _fail(str(exc))
    if not any(first <= d <= last for d in sessions_between(max(d0, first), min(d1, last))):
        _fail(f"no session between --start {d0.isoformat()} and --end {d1.isoformat()} has data: the provider's data runs "
              f"from {first.isoformat()} to {last.isoformat()}")


def _db():
    from nightdesk.delivery.store import StoreError, connect

    d = _settings().delivery
    try:
        return connect(d.db_url, lock_wait_s=d.db_lock_wait_s)
    except StoreError as exc:
        _fail(str(exc))


def _store_call(fn, *args, **kw):
    """A subscriber-store call; bad input, a locked or read-only database: one line, exit 2."""
    import sqlalchemy as sa

    from nightdesk.delivery.store import StoreError, SubscriberError, describe_db_error

    try:
        return fn(*args, **kw)
    except (SubscriberError, StoreError) as exc:
        _fail(str(exc))
    except sa.exc.DBAPIError as exc:
        _fail(describe_db_error(_settings().delivery.db_url, exc))


@subs_app.command("add")
def subscribers_add(
    email: str,
    name: Optional[str] = typer.Option(None, "--name", help="Display name (kept as it is when not given)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="en, zh-Hant, zh-Hans or bilingual (new: en; existing: kept when not given)."),
    reactivate: bool = typer.Option(False, "--reactivate", help="Re-activate an address that unsubscribed or bounced (their own new request)."),
) -> None:
    """Add a subscriber or update one (the same address in any letter case; only the options given change); an address on the suppression list only with --reactivate."""
    from nightdesk.delivery.store import add_subscriber

    engine = _db()
    sub = _store_call(add_subscriber, engine, email, name=name, language=lang, reactivate=reactivate,
                      lock_wait_s=_settings().delivery.db_lock_wait_s)
    typer.echo(f"added {sub.email} ({sub.language})")


@subs_app.command("remove")
def subscribers_remove(email: str) -> None:
    """Unsubscribe an address (kept in the database with status 'unsubscribed')."""
    from nightdesk.delivery.store import set_status

    if not _store_call(set_status, _db(), email, "unsubscribed", source="cli:remove"):
        _fail(f"{email}: not a subscriber")
    typer.echo(f"unsubscribed {email}")


@subs_app.command("list")
def subscribers_list(status: Optional[str] = typer.Option(None, "--status", help="active, unsubscribed or bounced.")) -> None:
    """List subscribers: email, language, status."""
    from nightdesk.delivery.store import STATUSES, list_subscribers

    if status is not None and status not in STATUSES:
        _fail(f"--status {status} unknown; choose from {', '.join(STATUSES)}")

    for s in _store_call(list_subscribers, _db(), status=status):
        typer.echo(f"{s.email}\t{s.language}\t{s.status}\t{s.name}")


@subs_app.command("import")
def subscribers_import(
    file: Path,
    reactivate: bool = typer.Option(False, "--reactivate", help="Also re-activate addresses on the suppression list."),
) -> None:
    """Import a CSV (UTF-8, with or without BOM) with columns email,name,language; bad and suppressed rows are reported, the rest imported."""
    from nightdesk.delivery.store import decode_csv, import_csv

    try:
        data = file.read_bytes()
    except FileNotFoundError:
        _fail(f"{file}: no such file")
    except OSError as exc:
        _fail(f"{file}: {exc.strerror}")
    text = _store_call(decode_csv, data, str(file))
    ok, problems = _store_call(import_csv, _db(), text, reactivate=reactivate)
    for p in problems:
        typer.secho(f"skipped {file}:{p}", fg="yellow", err=True)
    typer.echo(f"imported {ok}, skipped {len(problems)}")


@subs_app.command("export")
def subscribers_export() -> None:
    """Write all subscribers as CSV to stdout."""
    from nightdesk.delivery.store import export_csv

    typer.echo(_store_call(export_csv, _db()), nl=False)


@subs_app.command("unsubscribe-mail")
def subscribers_unsubscribe_mail(maildir: Path = typer.Argument(..., help="Maildir of the unsubscribe_mailto inbox.")) -> None:
    """Unsubscribe the readers whose mailto unsubscribe requests (subject 'unsubscribe <token>') are in a maildir."""
    from nightdesk.delivery.mailto import MailtoError, process_maildir
    from nightdesk.delivery.tokens import Tokens

    settings = _settings()
    if settings.web.secret_key is None:
        _fail("web.secret_key is not set: export NIGHTDESK_WEB__SECRET_KEY (it checks the tokens in the requests)")
    try:
        rep = process_maildir(_db(), maildir, Tokens(settings.web.secret_key.get_secret_value()))
    except MailtoError as exc:
        _fail(str(exc))
    typer.echo(f"unsubscribed {rep.unsubscribed}, already unsubscribed {rep.already}, without a valid token {rep.invalid}")


@app.command("web")
def web_cmd(
    host: Optional[str] = typer.Option(None, "--host", help="Bind address (default web.host, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Bind port (default web.port, 8080)."),
) -> None:
    """Serve the readers' site: archive, feeds, subscribe / confirm / unsubscribe / preferences."""
    settings = _settings()
    if host is not None or port is not None:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})})
    from nightdesk.web.app import serve
    from nightdesk.web.site import WebConfigError

    try:
        serve(settings)
    except WebConfigError as exc:
        _fail(str(exc))


@app.command("doctor")
def doctor_cmd() -> None:
    """Check this machine and configuration: fonts, librsvg, HarfBuzz, Prefect, folders, mail, web secret, alerts."""
    from nightdesk.cli.doctor import run_checks

    checks = run_checks(_settings())
    for c in checks:
        typer.secho(c.line(), fg="red" if c.status == "problem" else None)
    bad = sum(c.status == "problem" for c in checks)
    typer.echo(f"{len(checks)} checks, {bad} problem{'s' if bad != 1 else ''}")
    if bad:
        raise typer.Exit(1)


@app.command("deliver")
def deliver_cmd(date: str = typer.Option(..., "--date", help="Published note date YYYY-MM-DD.")) -> None:
    """Email the published note of a date to active subscribers (exactly once per subscriber).

    Exit 0: everyone has it. Exit 2: nothing could be sent (no or damaged note, SMTP server
    down, login or sender refused), one error line. Exit 1: some subscribers were not sent
    (one line each), the rest were.
    """
    day = _parse_date(date)
    settings = _settings()
    _check_prefect_api()
    from nightdesk.delivery.published import PublishedNoteError, verify_published
    from nightdesk.delivery.transport import TransportFailure
    from nightdesk.rendering.publish import PublishError, note_dir

    try:  # before Prefect starts: a missing or damaged note, a server down or a refused login is one line within seconds
        verify_published(note_dir(settings.output_dir, day.isoformat()), day.isoformat())
        if settings.delivery.transport == "smtp":
            import email.utils

            from nightdesk.delivery.transport import SmtpTransport

            SmtpTransport.from_settings(settings.delivery.smtp).check(email.utils.parseaddr(settings.delivery.from_addr)[1])
    except (PublishedNoteError, PublishError) as exc:
        _fail(str(exc))
    except TransportFailure as exc:
        _fail(str(exc))
    server = _start_local_prefect(settings)
    _quiet_prefect()
    from nightdesk.delivery.send import DeliveryFailed
    from nightdesk.flows.deliver import deliver_note

    try:
        with _local_prefect_ready(server, settings):
            rep = deliver_note(day, settings)
    except DeliveryFailed as exc:
        rep = exc.report
    for line in rep.notes:
        typer.secho(f"note: {line}", fg="yellow", err=True)
    if rep.error:
        if rep.sent or rep.skipped_already_sent:
            typer.echo(rep.summary())
        _fail(rep.error)
    for line in rep.not_sent:
        typer.secho(f"not sent: {line}", fg="red", err=True)
    where = f"; .eml files in {settings.delivery.outbox_folder(day.isoformat())}" if settings.delivery.transport == "outbox" else ""
    typer.echo(rep.summary() + where)
    if not rep.complete:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    """Console-script entry point."""
    app()
