"""The ``nightdesk`` command line (the top of the import graph: nothing imports it)."""
from nightdesk.cli.app import app, main

__all__ = ["app", "main"]
