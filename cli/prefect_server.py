"""A local Prefect server that nightdesk starts, watches, and takes down with it.

With no Prefect API configured (no ``PREFECT_API_URL`` in the environment or the active Prefect
profile), ``nightdesk serve`` and the one-off commands run their flows against a
``prefect server start`` child process whose files (SQLite database, log) live under
``settings.prefect.home``:

* the child dies with the process that started it, even on ``kill -9`` (Linux
  ``PR_SET_PDEATHSIG``, set before it executes Prefect), and runs in a process group of its own
  (a Ctrl-C in the terminal reaches nightdesk, which stops it cleanly);
* ``nightdesk serve`` runs it with Prefect's services (the scheduler) and watches it
  (:class:`Supervisor`): a server that dies is reported and restarted on the same address;
* one-off commands start one without services or UI in the background while they load (it is
  ready about when they are), or use the server of a running ``nightdesk serve`` of the same home.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

LOG_NAME = "server.log"
STATE_NAME = "server.json"
"""Written by ``nightdesk serve`` while it runs a server: its address, for one-off commands."""
LOCK_NAME = "serve.lock"
START_LOCK_NAME = "start.lock"
"""Held from a server's start until it answers: two servers never migrate one new database at once."""
LOG_MAX_BYTES = 5_000_000
"""The server log is started afresh when it has grown past this."""

# Run in the child between fork and Prefect: ask the kernel to SIGKILL it when its parent dies,
# give up if the parent is already gone, then become the Prefect server (execv keeps the setting).
_DIE_WITH_PARENT = (
    "import os, signal, sys\n"
    "try:\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "except (OSError, AttributeError):\n"
    "    pass  # not Linux: the parent's atexit stop is all there is\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(70)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def dying_with_us(args: list[str]) -> list[str]:
    """``python <args...>`` as a command line whose process gets SIGKILL when this one dies (Linux)."""
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *args]


class ServerError(RuntimeError):
    """The local Prefect server could not be started (the message says why and where its log is)."""


def configured_api_url(environ: dict[str, str] | None = None) -> str | None:
    """``PREFECT_API_URL`` from the environment, else from the active Prefect profile; ``None`` when neither sets one.

    Read without importing Prefect (about 1.5 s), so a one-off command can start its server first;
    a variable in the environment wins, even empty (none configured); without one, when Prefect is
    already imported in this process, its own setting counts (e.g. a test harness's temporary settings).
    """
    env = os.environ if environ is None else environ
    if "PREFECT_API_URL" in env:
        return env["PREFECT_API_URL"].strip() or None
    if environ is None and "prefect.settings" in sys.modules:
        url = sys.modules["prefect.settings"].PREFECT_API_URL.value()
        if url:
            return str(url)
    prefect_home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH") or prefect_home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    active = env.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    url = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(url).strip() if url else None


def flush_prefect_clients(timeout_s: float = 5.0) -> None:
    """Send the logs and events this process has queued for the Prefect API (before its server stops).

    In a thread of its own: Prefect's drain is asynchronous when an event loop runs in the caller's thread.
    """
    def drain() -> None:
        for module, name in (("prefect.logging.handlers", "APILogWorker"), ("prefect.events.worker", "EventsWorker")):
            worker = getattr(sys.modules.get(module), name, None)
            if worker is not None:
                with contextlib.suppress(Exception):
                    worker.drain_all(timeout=timeout_s)

    thread = threading.Thread(target=drain, name="prefect-flush", daemon=True)
    thread.start()
    thread.join(2 * timeout_s)


def _copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of SQLite database ``src`` (its writers may be running) as ``dst``, atomically."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(sqlite3.connect(tmp)) as b:
        a.backup(b)
    os.replace(tmp, dst)


def healthy(api_url: str, timeout_s: float = 1.0) -> bool:
    """True when ``<api_url>/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound, as the server binds it: with ``SO_REUSEADDR``, so
    the connections of a server stopped a moment ago (TIME-WAIT) do not count, a listener does."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``signal 9 (SIGKILL)`` for a ``Popen.returncode``."""
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class LocalPrefectServer:
    """One ``prefect server start`` child process on ``host:port`` with its files under ``home``.

    Parameters
    ----------
    home
        The server's ``PREFECT_HOME``: ``prefect.db`` (SQLite), ``server.log``.
    template_dir
        Where a freshly migrated, empty database is kept (per Prefect version): a new home starts
        from a copy instead of migrating again (about 5 s of a first start here).
    port
        0 picks a free port (and another one if that is taken before the server binds it).
    services
        Prefect's services (scheduler, late runs...): needed to schedule runs, not to report them.
    ui
        Serve Prefect's UI at the server's address.
    """

    def __init__(self, home: Path, *, host: str = "127.0.0.1", port: int = 0, services: bool = True, ui: bool = False,
                 template_dir: Path | None = None):
        self.home = Path(home)
        self.template_dir = Path(template_dir) if template_dir is not None else None
        self.host = host
        self.auto_port = port == 0
        self.port = port or free_port(host)
        self.services, self.ui = services, ui
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self._start_lock: int | None = None
        self._fresh = False

    @property
    def address(self) -> str:
        """``http://host:port``: the UI, when it is on."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://host:port/api``: what ``PREFECT_API_URL`` is set to."""
        return f"{self.address}/api"

    @property
    def log_path(self) -> Path:
        return self.home / LOG_NAME

    @property
    def database(self) -> Path:
        """Prefect's default SQLite file under the server's home."""
        return self.home / "prefect.db"

    @property
    def template(self) -> Path | None:
        """The migrated empty database kept for this Prefect version, if templates are kept."""
        if self.template_dir is None:
            return None
        try:
            from importlib.metadata import version

            return self.template_dir / f"prefect-{version('prefect')}.db"
        except Exception:  # noqa: BLE001 - no template then
            return None

    def _uses_default_database(self) -> bool:
        return not any(os.environ.get(k) for k in ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL"))

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command(self) -> list[str]:
        """The child's command line: the pdeathsig shim, then ``python -m prefect server start ...``."""
        args = dying_with_us(["-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port),
                              "--ui" if self.ui else "--no-ui"])
        return args + ([] if self.services else ["--no-services"])

    def environment(self) -> dict[str, str]:
        """The child's environment: ours, its own ``PREFECT_HOME``, no client-side API settings."""
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE")}
        env["PREFECT_HOME"] = str(self.home)
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
        return env

    def start(self) -> None:
        """Start the child (does not wait for it: :meth:`wait_ready`).

        Waits first while another server of the same home is starting: Prefect migrates its
        database at start-up, and two first starts on one new SQLite file would collide.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        if self._start_lock is None:
            self._start_lock = os.open(self.home / START_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._start_lock, fcntl.LOCK_EX)
        self._fresh = self._uses_default_database() and not self.database.exists()
        if self._fresh and self.template is not None and self.template.is_file():
            with contextlib.suppress(OSError, sqlite3.Error):
                _copy_sqlite(self.template, self.database)
                self._fresh = False
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size > LOG_MAX_BYTES:
                self.log_path.unlink()
        with open(self.log_path, "ab") as log:
            log.write(f"--- {dt.datetime.now().isoformat(timespec='seconds')} nightdesk (pid {os.getpid()}) starts "
                      f"prefect server on {self.address}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), env=self.environment(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        self.started_at = time.monotonic()

    def poll(self) -> int | None:
        """The child's exit code, or ``None`` while it runs."""
        return self.proc.poll() if self.proc is not None else None

    def log_tail(self, n_lines: int = 5) -> str:
        """The last lines of the server log (for an error message)."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(x.strip() for x in lines[-n_lines:] if x.strip())

    def wait_ready(self, timeout_s: float) -> str:
        """Wait until the API answers; returns :attr:`api_url`.

        Raises
        ------
        ServerError
            The child exited (with the end of its log), or did not answer within ``timeout_s``.
        """
        if self.proc is None:
            self.start()
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                code = self.poll()
                if code is not None:
                    if self.auto_port and port_in_use(self.host, self.port):  # someone took the port first: another one
                        self.port = free_port(self.host)
                        self.start()
                        continue
                    raise ServerError(f"the local Prefect server exited ({describe_exit(code)}) before answering on {self.address}; "
                                      f"its log {self.log_path}: {self.log_tail()}")
                if healthy(self.api_url, timeout_s=1.0):
                    if self._fresh and self.template is not None:  # migrated just now, nothing run yet: keep a copy
                        with contextlib.suppress(OSError, sqlite3.Error):
                            _copy_sqlite(self.database, self.template)
                        self._fresh = False
                    return self.api_url
                time.sleep(0.1)
            raise ServerError(f"the local Prefect server did not answer on {self.address} within {timeout_s:.0f} s "
                              f"(prefect.startup_timeout_s); its log: {self.log_path}")
        finally:
            self._release_start_lock()

    def _release_start_lock(self) -> None:
        if self._start_lock is not None:
            os.close(self._start_lock)  # closing drops the lock
            self._start_lock = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``timeout_s``; a no-op when not running."""
        self._release_start_lock()
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Supervisor(threading.Thread):
    """Watches a started :class:`LocalPrefectServer` and restarts it when it dies.

    Each death is reported through ``report`` (one line: how it ended, the log's last lines), then
    the server is started again on the same address after ``delays_s[i]`` (the last delay repeats
    while restarts keep failing). The thread that starts a child is the parent its
    ``PR_SET_PDEATHSIG`` watches, so this thread lives until :meth:`stop`.
    """

    def __init__(self, server: LocalPrefectServer, *, delays_s: list[float], startup_timeout_s: float,
                 report: Callable[[str], None], on_restart: Callable[[], None] | None = None, check_every_s: float = 0.5):
        super().__init__(name="prefect-server-supervisor", daemon=True)
        self.server, self.delays_s, self.startup_timeout_s = server, list(delays_s), startup_timeout_s
        self.report, self.on_restart, self.check_every_s = report, on_restart, check_every_s
        self.restarts = 0
        self._stopping = threading.Event()
        self._released = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        finally:
            self._released.wait()  # a server this thread restarted dies with it: wait until it is stopped

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.wait(self.check_every_s):
            code = self.server.poll()
            if code is None:
                continue
            delay = self.delays_s[min(failures, len(self.delays_s) - 1)]
            self.report(f"Prefect server on {self.server.address} (pid {self.server.pid}) exited with {describe_exit(code)}; "
                        f"restarting in {delay:g} s. Log {self.server.log_path}: {self.server.log_tail(3)}")
            if self._stopping.wait(delay):
                return
            try:
                self.server.start()
                self.server.wait_ready(self.startup_timeout_s)
            except (ServerError, OSError) as exc:
                failures += 1
                self.report(f"restart failed: {exc}")
                continue
            failures = 0
            self.restarts += 1
            if self.on_restart is not None:
                self.on_restart()
            self.report(f"Prefect server restarted on {self.server.address} (pid {self.server.pid})")

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop watching, stop the server (SIGTERM, then SIGKILL after ``timeout_s``), then let the thread end."""
        self._stopping.set()
        self.server.stop(timeout_s)
        self._released.set()
        self.join(timeout_s)


@contextlib.contextmanager
def serve_lock(home: Path) -> Iterator[None]:
    """One ``nightdesk serve`` per Prefect home: raises :class:`ServerError` when another holds it.

    A lock on ``home/serve.lock``, which the kernel drops when its holder dies.
    """
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = read_state(home)
            where = f" (pid {other['pid']}, {other['api_url']})" if other else ""
            raise ServerError(f"another nightdesk serve is running with {home}{where}; stop it first, "
                              "or give this one its own NIGHTDESK_PREFECT__HOME") from None
        yield
    finally:
        os.close(fd)


def write_state(home: Path, server: LocalPrefectServer) -> None:
    """Record the served server's address for one-off commands (removed by :func:`clear_state`)."""
    tmp = home / f".{STATE_NAME}.{os.getpid()}"
    tmp.write_text(json.dumps({"pid": os.getpid(), "server_pid": server.pid, "api_url": server.api_url}), encoding="utf-8")
    os.replace(tmp, home / STATE_NAME)


def clear_state(home: Path) -> None:
    with contextlib.suppress(OSError):
        (home / STATE_NAME).unlink()


def read_state(home: Path) -> dict | None:
    """What :func:`write_state` wrote, if its writer is still alive."""
    try:
        state = json.loads((home / STATE_NAME).read_text(encoding="utf-8"))
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def served_api_url(home: Path) -> str | None:
    """The API of a running ``nightdesk serve`` of this Prefect home, if it answers."""
    state = read_state(home)
    if state and healthy(state["api_url"], timeout_s=0.5):
        return state["api_url"]
    return None
