"""nightdesk: a nightly bilingual US equity strategy note."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nightdesk")
    """The installed package's version: pyproject.toml's ``project.version``, the one place it is written."""
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    __version__ = "0+unknown"
