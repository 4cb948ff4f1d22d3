"""Rendering: charts (matplotlib), HTML (Jinja2), PDF (WeasyPrint), atomic publishing."""
