"""gunicorn entry point: ``gunicorn wsgi:app``.

The app is built here, in each worker, never before the fork. A pack or
setting the service cannot start with stops it with the reason.
"""
import sys

from api import create_app
from api.config import ConfigurationError
from engine.errors import InvalidPack

# gunicorn's exit status for a worker that cannot boot: the master stops
# instead of restarting workers that would fail the same way.
WORKER_BOOT_ERROR = 3

try:
    app = create_app()
except (InvalidPack, ConfigurationError) as exc:
    print(f"nba: cannot start: {exc}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)
