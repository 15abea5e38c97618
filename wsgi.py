"""gunicorn entry point: ``gunicorn wsgi:app``.

The app is built here, in each worker, never before the fork. A pack or
setting the service cannot start with stops it with the reason.
"""
import sys

from api import create_app
from api.config import ConfigurationError
from engine.errors import InvalidPack

try:
    app = create_app()
except (InvalidPack, ConfigurationError) as exc:
    print(f"nba: cannot start: {exc}", file=sys.stderr)
    sys.exit(1)
