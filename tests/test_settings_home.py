"""Paths do not move with the working directory; the version is written in one place."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PRINT = ("import json; from nightdesk.settings import Settings; s = Settings(); print(json.dumps({'home': str(s.home), "
         "'output': str(s.output_dir), 'db': s.delivery.db_url, 'store': str(s.store.dir), 'prefect': str(s.prefect.home), "
         "'outbox': str(s.web.outbox_dir), 'alerts': str(s.alerts.outbox_dir)}))")


def _paths(cwd: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTDESK_")}
    out = subprocess.run([sys.executable, "-c", PRINT], cwd=cwd, env={**base, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_defaults_do_not_change_with_the_working_directory(tmp_path):
    here, there = _paths(ROOT), _paths(tmp_path)
    assert here == there
    assert here["home"] == str(ROOT)  # run from a source checkout: the checkout's output/, as the README's quick start says
    assert here["output"] == f"{ROOT}/output" and here["db"] == f"sqlite:///{ROOT}/.nightdesk/subscribers.db"
    assert here["prefect"] == f"{ROOT}/.nightdesk/prefect" and here["store"] == f"{ROOT}/data/store"


def test_home_moves_every_relative_path_and_finds_its_config(tmp_path):
    home = tmp_path / "srv"
    home.mkdir()
    (home / "nightdesk.toml").write_text('output_dir = "published"\n[store]\ndir = "/var/lib/store"\n')
    got = _paths(tmp_path / "..", NIGHTDESK_HOME=str(home))
    assert got["home"] == str(home) and got["output"] == f"{home}/published"  # <home>/nightdesk.toml, its paths under home
    assert got["store"] == "/var/lib/store"  # absolute stays
    assert got["db"] == f"sqlite:///{home}/.nightdesk/subscribers.db" and got["alerts"] == f"{home}/.nightdesk/alerts"


def test_relative_paths_from_the_environment_and_sqlite_urls(tmp_path, monkeypatch):
    from nightdesk.settings import Settings

    monkeypatch.setenv("NIGHTDESK_HOME", str(tmp_path))
    monkeypatch.setenv("NIGHTDESK_DELIVERY__DB_URL", "sqlite:///state/subs.db?timeout=5")
    monkeypatch.setenv("NIGHTDESK_WEB__OUTBOX_DIR", "~/mail")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    s = Settings(web={"base_url": "https://notes.desk.news"})
    assert s.delivery.db_url == f"sqlite:///{tmp_path}/state/subs.db?timeout=5"
    assert s.web.outbox_dir == tmp_path / "user" / "mail"
    assert "base_url" in s.web.model_fields_set  # "was it set?" still answers right after the paths are resolved
    assert "outbox_dir" not in s.alerts.model_fields_set and "output_dir" not in s.model_fields_set
    assert Settings(delivery={"db_url": "sqlite:///:memory:"}).delivery.db_url == "sqlite:///:memory:"


def test_command_line_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    from nightdesk.cli.app import _settings

    monkeypatch.setenv("NIGHTDESK_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert _settings(output_dir=Path("here")).output_dir == tmp_path / "here"  # what the user typed, where they typed it


def test_version_from_pyproject_only():
    import nightdesk
    from nightdesk.cli.app import app

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert nightdesk.__version__ == version != "0.1.0"
    assert CliRunner().invoke(app, ["--version"]).output.strip() == f"nightdesk {version}"
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()
    assert 'version = "' not in (ROOT / "nightdesk" / "__init__.py").read_text()
