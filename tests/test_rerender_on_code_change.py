"""A published note is current only while its data, code and settings are: change one glossary
label, run the backfill again without --force, and the dates already published are rendered
again with the new words (dates with nothing changed are skipped)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHUNK = """
import datetime as dt, json, sys
from nightdesk.flows.backfill import run_chunk
from nightdesk.marketdata.registry import get_provider
from nightdesk.settings import Settings
s = Settings(output_dir=sys.argv[1], history_days=700, langs=["en"])
print(json.dumps(run_chunk(get_provider("sample"), [dt.date(2026, 2, 3)], s, ["en"], False)))
"""


def _installed_layout(target: Path) -> Path:
    """A copy of the package as it installs (``nightdesk/`` with its mapped sub-packages)."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        dest = target.joinpath(*package.split("."))
        shutil.copytree(ROOT / folder, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _chunk(src: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    run = subprocess.run([sys.executable, "-W", "ignore", "-c", CHUNK, str(out)], env=env, capture_output=True, text=True, timeout=300, cwd=src)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_changed_glossary_label_rerenders_published_dates(tmp_path):
    src = _installed_layout(tmp_path / "src")
    out = tmp_path / "out"
    assert _chunk(src, out) == {"2026-02-03": "done"}
    assert "Key takeaways" in (out / "2026-02-03" / "note.en.html").read_text()
    assert _chunk(src, out) == {"2026-02-03": "skipped"}  # nothing changed: nothing rendered

    glossary = src / "nightdesk" / "narrative" / "glossary.toml"
    glossary.write_text(glossary.read_text().replace('en = "Key takeaways"', 'en = "Main points"'), encoding="utf-8")
    assert _chunk(src, out) == {"2026-02-03": "done"}
    html = (out / "2026-02-03" / "note.en.html").read_text()
    assert "Main points" in html and "Key takeaways" not in html
