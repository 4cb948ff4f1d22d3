"""``python -m nightdesk.cli``."""
import sys

from nightdesk.cli.app import app

sys.exit(app())
