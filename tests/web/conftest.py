"""The web service's fixtures: settings in temporary folders, a fixture archive, an ASGI client."""
from __future__ import annotations

import pytest

from archive_fixture import small_date

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
BASE = "http://127.0.0.1:8080"


def make_settings(tmp_path, output_dir, **web):
    """Settings for one test: its own database, outbox and archive; nothing from the environment's files."""
    from nightdesk.settings import Settings

    return Settings(output_dir=output_dir, delivery={"db_url": f"sqlite:///{tmp_path}/subs.db", "transport": "outbox"},
                    web={"base_url": BASE, "secret_key": SECRET, "outbox_dir": str(tmp_path / "outbox"), **web})


@pytest.fixture
def archive_root(tmp_path):
    """Four sessions: a quiet day, a rally, a crash (each with note.<lang>.json), and a day without
    notes (the facts fallback); plus a half-written staging folder and an outbox that must not show."""
    root = tmp_path / "output"
    small_date(root, "2026-02-02", "quiet")
    small_date(root, "2026-02-03", "index_rally")
    small_date(root, "2026-02-04", "momentum_crash")
    small_date(root, "2026-02-05", None, ls_ret_pct=2.345, ls_z=1.71)
    (root / ".2026-02-06.tmp-abc").mkdir()
    (root / "2026-02-04" / "outbox").mkdir()
    (root / "2026-02-04" / "outbox" / "x.eml").write_text("To: someone@desk.news\n\nsecret token")
    (root / ".2026-02-04.lock").write_text("")
    return root


@pytest.fixture
def site(tmp_path, archive_root):
    """(client, settings) for the fixture archive; the client speaks to the ASGI app in-process."""
    from starlette.testclient import TestClient

    from nightdesk.web.app import create_app

    def make(**web):
        settings = make_settings(tmp_path, archive_root, **web)
        return TestClient(create_app(settings), base_url=BASE), settings

    return make
