"""Screenshots of the readers' site for docs/: the archive and the sign-up page at 1280 and 390 px.

Publishes a few real sessions of the bundled sample into a temporary folder (the facts, the
narrative and the renderer, as a nightly run does), serves them with ``nightdesk web`` on a free
loopback port and photographs the pages with Debian's Chromium (Playwright; no browser download).

    .venv/bin/python scripts/web_screenshots.py [--dates 2026-02-02,2026-02-03,2026-02-04,2026-02-05] [--out docs]
"""
from __future__ import annotations

import argparse
import datetime as dt
import socket
import tempfile
import threading
import time
from pathlib import Path

SHOTS = [("/en/", 1280, "web-archive-1280.png"), ("/en/subscribe", 1280, "web-subscribe-1280.png"),
         ("/zh-Hant/", 390, "web-archive-390.png"), ("/zh-Hant/subscribe", 390, "web-subscribe-390.png")]


def publish(dates: list[dt.date], output: Path) -> None:
    """The notes of ``dates`` into ``output`` (as the nightly flow publishes them)."""
    from nightdesk import __version__, facts
    from nightdesk.marketdata.registry import get_provider, load_market_data
    from nightdesk.narrative.compose import compose_notes
    from nightdesk.rendering.outputs import publish_note, write_archive
    from nightdesk.rendering.pdf import prepare_fonts
    from nightdesk.settings import Settings

    settings = Settings()
    provider, fonts = get_provider("sample"), prepare_fonts(settings.cache_dir)
    for day in dates:
        record = facts.compute(load_market_data(provider, day, history_days=settings.history_days), settings)
        publish_note(record, compose_notes(record, ["en", "zh-Hant", "zh-Hans"]), output, version=__version__, fontconfig=fonts)
    write_archive(output)


def main() -> None:
    import secrets

    import uvicorn
    from playwright.sync_api import sync_playwright

    from nightdesk.settings import Settings
    from nightdesk.web.app import create_app

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dates", default="2026-02-02,2026-02-03,2026-02-04,2026-02-05")
    ap.add_argument("--out", type=Path, default=Path("docs"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "output"
        publish([dt.date.fromisoformat(d) for d in args.dates.split(",")], output)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings = Settings(output_dir=output, delivery={"db_url": f"sqlite:///{tmp}/subs.db"},
                            web={"base_url": f"http://127.0.0.1:{port}", "secret_key": secrets.token_urlsafe(32), "outbox_dir": f"{tmp}/outbox"})
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
            for path, width, name in SHOTS:
                page = browser.new_page(viewport={"width": width, "height": 900 if width > 600 else 844})
                page.goto(f"http://127.0.0.1:{port}{path}")
                page.screenshot(path=str(args.out / name))
                page.close()
                print(args.out / name)
            browser.close()
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    main()
