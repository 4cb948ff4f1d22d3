"""nightdesk: a nightly bilingual US equity strategy note."""

__version__ = "0.1.0"
