"""``nightdesk doctor``: is this machine and configuration ready for the nightly run?

One line per check: ``ok``, ``note`` (informational) or ``PROBLEM`` with what to do. Checks:
the configuration, CJK fonts (fontconfig), librsvg (``rsvg-convert``), HarfBuzz subsetting, the
Prefect API (or the local server ``nightdesk serve`` would start), writable folders, the mail
transport (SMTP: placeholder addresses refused, then the pre-send check of ``nightdesk deliver``:
connect, EHLO, STARTTLS and login when configured, the sender offered), the web secret where it is
needed, and the alert channels.
"""
from __future__ import annotations

import email.utils
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nightdesk.settings import Settings

NET_TIMEOUT_S = 10.0
"""Longest wait for the SMTP server or the webhook's host."""


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: str
    """``ok``, ``note`` or ``problem``."""
    detail: str
    fix: str = ""

    def line(self) -> str:
        label = {"ok": "ok     ", "note": "note   ", "problem": "PROBLEM"}[self.status]
        return f"{label} {self.name}: {self.detail}" + (f" — fix: {self.fix}" if self.fix else "")


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def note(name: str, detail: str) -> Check:
    return Check(name, "note", detail)


def problem(name: str, detail: str, fix: str) -> Check:
    return Check(name, "problem", detail, fix)


def check_config(settings: Settings) -> list[Check]:
    named = os.environ.get("NIGHTDESK_CONFIG")
    path = Path(named) if named else settings.home / "nightdesk.toml"
    where = f"config {path}" if path.is_file() else f"no config file ({path}): defaults and NIGHTDESK_* variables"
    return [ok("config", f"home {settings.home}; {where}")]


def check_fonts() -> list[Check]:
    """fontconfig finds Noto Sans CJK (the Chinese editions and the charts' labels)."""
    if shutil.which("fc-list") is None:
        return [problem("fonts", "fontconfig (fc-list) is missing", "bash scripts/install.sh (apt-get install fontconfig)")]
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    families = sorted({f.strip() for line in out.splitlines() for f in line.split(",") if "Noto Sans CJK" in f})
    if not families:
        return [problem("fonts", "no Noto Sans CJK font known to fontconfig: the Chinese editions would show boxes",
                        "apt-get install fonts-noto-cjk")]
    return [ok("fonts", f"{len(families)} Noto Sans CJK families (e.g. {families[0]})")]


def check_librsvg() -> list[Check]:
    """``rsvg-convert`` turns the chart SVGs into the PDF's vector pages."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        return [problem("librsvg", "rsvg-convert is missing: the PDFs' charts cannot be drawn", "apt-get install librsvg2-bin")]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return [ok("librsvg", version or exe)]


def check_harfbuzz() -> list[Check]:
    """WeasyPrint's HarfBuzz subsetter is loaded, and a CJK face subsets (uharfbuzz)."""
    try:
        from weasyprint.pdf import fonts as wp_fonts
    except (ImportError, OSError) as exc:
        return [problem("harfbuzz", f"WeasyPrint does not load ({exc})", "bash scripts/install.sh (Pango, HarfBuzz)")]
    if not getattr(wp_fonts, "harfbuzz_subset", None):
        return [problem("harfbuzz", "libharfbuzz-subset is not loaded: each CJK PDF would take ~10 s",
                        "apt-get install libharfbuzz-subset0")]
    found = subprocess.run(["fc-match", "-f", "%{file}\t%{index}", "Noto Sans CJK TC"], capture_output=True, text=True,
                           timeout=30).stdout.split("\t") if shutil.which("fc-match") else []
    if len(found) != 2 or not found[0]:
        return [problem("harfbuzz", "no CJK face to test subsetting on", "apt-get install fonts-noto-cjk")]
    try:
        import uharfbuzz as hb

        face = hb.Face(hb.Blob.from_file_path(found[0]), int(found[1] or 0))
        spec = hb.SubsetInput()
        for ch in "繁體简体":
            spec.unicode_set.add(ord(ch))
        size = len(hb.subset(face, spec).blob.data)
    except Exception as exc:  # noqa: BLE001 - reported as the problem it is
        return [problem("harfbuzz", f"subsetting {found[0]} failed: {exc}", "reinstall: bash scripts/install.sh")]
    return [ok("harfbuzz", f"subsetting works ({Path(found[0]).name}: 4 glyphs -> {size:,} bytes)")]


def check_prefect(settings: Settings) -> list[Check]:
    """The configured Prefect API answers, or the local server ``nightdesk serve`` would start can."""
    from nightdesk.cli.prefect_server import configured_api_url, healthy, port_in_use, read_state

    url = configured_api_url()
    if url:
        if healthy(url, timeout_s=NET_TIMEOUT_S / 2):
            return [ok("prefect", f"API {url} answers")]
        return [problem("prefect", f"PREFECT_API_URL {url} does not answer /health",
                        "start that server (prefect server start), or unset PREFECT_API_URL so nightdesk starts its own")]
    p = settings.prefect
    state = read_state(p.home)
    if state and healthy(state["api_url"], timeout_s=2.0):
        return [ok("prefect", f"no PREFECT_API_URL; `nightdesk serve` (pid {state['pid']}) runs the local server at {state['api_url']}")]
    if p.port and port_in_use(p.host, p.port):
        return [problem("prefect", f"no PREFECT_API_URL, and prefect.port {p.port} on {p.host} is taken: `nightdesk serve` could "
                        "not start its server", "stop what listens there, or set NIGHTDESK_PREFECT__PORT (0: any free port)")]
    return [ok("prefect", f"no PREFECT_API_URL: `nightdesk serve` starts a local server on {p.host}:{p.port or 'any port'} "
               f"(database in {p.home}); one-off commands start their own")]


def _writable(path: Path) -> str | None:
    """``None`` when ``path`` is (or can be made as) a writable folder, else why not."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            return "is not a folder"
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
                pass
        except OSError as exc:
            return f"cannot write there ({exc.strerror})"
        return None
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"does not exist and {parent} is not writable"
    return None


def check_folders(settings: Settings) -> list[Check]:
    """Every folder a run writes: output, state (subscribers, outboxes), Prefect's, cache, store."""
    folders = {"output_dir": settings.output_dir, "prefect.home": settings.prefect.home, "cache_dir": settings.cache_dir,
               "store.dir": settings.store.dir, "delivery outbox": settings.delivery.outbox_folder("date").parent,
               "web.outbox_dir": settings.web.outbox_dir, "alerts.outbox_dir": settings.alerts.outbox_dir}
    db_url = settings.delivery.db_url
    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        folders["delivery.db_url (folder)"] = Path(db_url.removeprefix("sqlite:///").split("?", 1)[0]).parent
    bad = [(name, path, why) for name, path in folders.items() if (why := _writable(path)) is not None]
    out = [problem("folders", f"{name} {path} {why}", f"create it writable for {_user()} or set {name} elsewhere")
           for name, path, why in bad]
    if not bad:
        out.append(ok("folders", f"writable: {', '.join(folders)} (under {settings.home} unless absolute)"))
    return out


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "this user"


def check_mail(settings: Settings) -> list[Check]:
    """The delivery transport: the outbox, or an SMTP server that is there and addresses that are real."""
    d, w = settings.delivery, settings.web
    if d.transport == "outbox":
        return [note("mail", "delivery.transport = 'outbox': messages are written as .eml files, nothing is sent")]
    from nightdesk.delivery.links import sending_problems

    out = [problem("mail", line, "set it in nightdesk.toml ([delivery] / [web]) or NIGHTDESK_* variables")
           for line in sending_problems(from_addr=d.from_addr, unsubscribe_mailto=d.unsubscribe_mailto, base_url=w.base_url,
                                        base_url_set="base_url" in w.model_fields_set)]
    from nightdesk.delivery.transport import SmtpTransport, TransportFailure

    s = d.smtp
    sender = email.utils.parseaddr(d.from_addr)[1]
    try:  # the same check `nightdesk deliver` runs before it starts: connect, EHLO, STARTTLS, login, MAIL FROM
        SmtpTransport.from_settings(s).check(sender)
        steps = ["EHLO"] + (["STARTTLS"] if s.security == "starttls" else []) + ([f"login as {s.username}"] if s.username else [])
        out.append(ok("smtp", f"{s.host}:{s.port} ({s.security}): {', '.join(steps)} and sender {sender} accepted"))
    except TransportFailure as exc:
        out.append(problem("smtp", str(exc), "check delivery.smtp (host, port, security: none | starttls | ssl, username), "
                           "NIGHTDESK_DELIVERY__SMTP__PASSWORD and delivery.from_addr, and that the server is up"))
    return out


def check_web(settings: Settings) -> list[Check]:
    """The secret key signs every reader link: needed by ``nightdesk web`` and by SMTP sends."""
    w = settings.web
    used = settings.delivery.transport == "smtp" or "base_url" in w.model_fields_set
    if w.secret_key is not None:
        return [ok("web", f"secret key set; readers' site {w.base_url}")]
    if used:
        return [problem("web", "web.secret_key is not set: SMTP sends and `nightdesk web` refuse to run without it",
                        "export NIGHTDESK_WEB__SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\"")]
    return [note("web", "web.secret_key not set: outbox emails carry demo unsubscribe links and no note or preference link; "
                        "`nightdesk web` and SMTP sends need it")]


def check_alerts(settings: Settings) -> list[Check]:
    """Where failures are reported: addresses through the transport, a webhook whose host answers."""
    a = settings.alerts
    out = []
    if not a.email_to and a.webhook_url is None:
        return [note("alerts", "no alert channel: failed runs show only in Prefect (set alerts.email_to or alerts.webhook_url)")]
    if a.email_to:
        via = "SMTP" if settings.delivery.transport == "smtp" else f"the outbox {a.outbox_dir}"
        sender = email.utils.parseaddr(settings.delivery.from_addr)[1]
        out.append(ok("alerts", f"email to {', '.join(a.email_to)} from {sender} via {via}"))
    if a.webhook_url is not None:
        parts = urlsplit(a.webhook_url.get_secret_value())
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=NET_TIMEOUT_S).close()
            out.append(ok("alerts", f"webhook host {parts.hostname}:{port} accepts connections"))
        except OSError as exc:
            out.append(problem("alerts", f"webhook host {parts.hostname}:{port}: {exc.strerror or exc}",
                               "check alerts.webhook_url (NIGHTDESK_ALERTS__WEBHOOK_URL)"))
    return out


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order."""
    checks = []
    for fn in (check_config, check_fonts, check_librsvg, check_harfbuzz, check_prefect, check_folders, check_mail, check_web,
               check_alerts):
        try:
            checks += fn(settings) if fn.__code__.co_argcount else fn()
        except Exception as exc:  # noqa: BLE001 - a check that breaks is itself a problem to report
            checks.append(problem(fn.__name__.removeprefix("check_"), f"the check failed: {exc.__class__.__name__}: {exc}",
                                  "report this"))
    return checks
