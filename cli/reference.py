"""The CLI reference in the README, generated from the commands' own help.

``python -m nightdesk.cli.reference --write README.md`` rewrites the block between the
``<!-- cli:begin -->`` and ``<!-- cli:end -->`` markers; the suite checks it is current.
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

BEGIN, END = "<!-- cli:begin -->", "<!-- cli:end -->"


def _walk(cmd, path: list[str]):
    if hasattr(cmd, "commands"):  # a group (typer's own click types: duck-typed)
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], [*path, name])
    else:
        yield path, cmd


def _option(p) -> str:
    """``EMAIL``, ``[--date DATE]``, ``[--force]`` (typer's parameter objects, duck-typed)."""
    if p.param_type_name == "argument":
        return p.name.upper()
    name = "/".join(p.opts) + ("" if p.is_flag else f" {p.name.upper()}")
    return name if p.required else f"[{name}]"


def reference(app: typer.Typer) -> str:
    """One line of usage per command, then its summary and options."""
    root = typer.main.get_command(app)
    lines = []
    for path, cmd in _walk(root, ["nightdesk"]):
        params = [p for p in cmd.params if p.name != "help"]
        lines.append(" ".join([*path, *(_option(p) for p in params)]))
        lines.append(f"    {(cmd.help or '').strip().splitlines()[0]}")
        for p in params:
            if p.param_type_name == "option" and p.help:
                lines.append(f"    {'/'.join(p.opts):<18} {p.help}")
    return "```\n" + "\n".join(lines) + "\n```"


def rewrite(readme: Path, block: str) -> str:
    """``readme``'s text with the CLI block replaced."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


if __name__ == "__main__":  # pragma: no cover
    from nightdesk.cli.app import app

    target = Path(sys.argv[sys.argv.index("--write") + 1]) if "--write" in sys.argv else None
    if target:
        target.write_text(rewrite(target, reference(app)), encoding="utf-8")
    else:
        print(reference(app))
