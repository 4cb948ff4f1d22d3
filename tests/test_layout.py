"""The project's shape: imports run one way, nobody calls a task body, the README's CLI block is the CLI's own help."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPING = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
# what each layer may import (besides itself and the nightdesk base package: settings, tables, version)
ALLOWED = {
    "nightdesk.analytics": set(),
    "nightdesk.marketdata": {"nightdesk.analytics"},
    "nightdesk.facts": {"nightdesk.analytics", "nightdesk.marketdata"},
    "nightdesk.narrative": {"nightdesk.facts"},
    "nightdesk.rendering": {"nightdesk.facts", "nightdesk.narrative"},
    "nightdesk.delivery": {"nightdesk.narrative"},
}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("nightdesk")}


def _package_files(package: str) -> list[Path]:
    return sorted((ROOT / MAPPING[package]).rglob("*.py"))


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and ".".join(parts[:2]) in MAPPING else "nightdesk"


def test_imports_point_one_way():
    bad = []
    for package in MAPPING:
        for path in _package_files(package):
            for module in _imports(path):
                target = _layer(module)
                if target in (package, "nightdesk"):
                    continue
                if package == "nightdesk.cli":
                    continue  # the top may import anything
                if target in ("nightdesk.cli", "nightdesk.flows") and package != "nightdesk.flows":
                    bad.append(f"{path.relative_to(ROOT)} imports {module} (only the CLI imports flows; nothing imports the CLI)")
                elif package in ALLOWED and target not in ALLOWED[package]:
                    bad.append(f"{path.relative_to(ROOT)} imports {module} ({package} may import {sorted(ALLOWED[package]) or 'no other layer'})")
    base = [p for p in _package_files("nightdesk") if any(_layer(m) != "nightdesk" for m in _imports(p))]
    assert not bad and not base, bad + [f"{p.relative_to(ROOT)}: the base package imports a layer" for p in base]


def test_no_task_body_called_outside_flows():
    hits = [f"{p.relative_to(ROOT)}:{i}" for folder in ("cli", "tests", "benchmarks", "scripts", *MAPPING.values()) if folder != "flows"
            for p in (ROOT / folder).rglob("*.py") for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if ".fn(" in line and "test_layout.py" not in p.name]
    assert not hits, hits


def test_readme_cli_block_is_the_cli_help():
    from nightdesk.cli.app import app
    from nightdesk.cli.reference import reference, rewrite

    readme = ROOT / "README.md"
    assert rewrite(readme, reference(app)) == readme.read_text(encoding="utf-8"), \
        "README's CLI block is stale: .venv/bin/python -m nightdesk.cli.reference --write README.md"


# messages the operations guide quotes that come from a library, not from this code
LIBRARY_MESSAGES = {"Input should be a valid number", "Extra inputs are not permitted"}
# stretches the code composes from run-time values: describe_exit's 'signal 9 (SIGKILL)', an alert's '<flow> <state>'
COMPOSED_MESSAGES = {"exited with signal", "backfill Failed"}
_PLACEHOLDER = __import__("re").compile(r"…|<[^>]+>|\.\.\.|'[^']*'|\b\d[\d.,:-]*\b|\([^()]*\)|\bN\b|\bM\b|\[[^\]]*\]")


def test_operations_guide_quotes_messages_the_code_prints():
    """Every message docs/operations.md quotes in its symptom column is still printed by the code:
    each literal stretch between placeholders (<date>, …, numbers, quoted values) of 12 or more
    characters appears in a source file (a reworded error makes the guide's row fail here)."""
    import re

    source = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py")
                       if not {".venv", "tests", "build"} & set(p.relative_to(ROOT).parts))
    source = re.sub(r"\"\s*\n\s*f?\"", "", source)  # implicitly joined literals read as one
    bare = re.sub(r"\{[^{}]*\}|%s", "", source)  # f-string fields and %-placeholders print values
    rows = [line for line in (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith(("| symptom", "|---"))]
    assert len(rows) > 30
    missing = []
    for row in rows:
        for quoted in re.findall(r"`([^`]+)`", row.split(" | ")[0]):
            while (marked := _PLACEHOLDER.sub("\x00", quoted)) != quoted:  # innermost first: '(holiday (President's Day))'
                quoted = marked
            for piece in (re.sub(r"\s+(in|of|for|to|at)$", "", p.strip(" ,;:/")) for f in quoted.split("\x00") for p in f.split(": ")):  # parts join with ': '
                if len(piece) >= 12 and piece not in source and piece not in bare and piece not in LIBRARY_MESSAGES | COMPOSED_MESSAGES:
                    missing.append(f"{piece!r} (in {row[:60]!r})")
    assert not missing, missing
