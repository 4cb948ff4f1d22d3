"""Jinja2 templates (HTML/CSS for the note and email; narrative text macros)."""
