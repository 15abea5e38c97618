"""gunicorn settings for the decision service: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every setting can be overridden with an environment variable (NBA_BIND,
NBA_WORKERS, NBA_THREADS, NBA_TIMEOUT_S) or on the gunicorn command line.
"""
import glob
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("NBA_BIND", "127.0.0.1:8000")
# Deciding is CPU-bound Python (one decision holds the GIL from start to end),
# so one sync worker per core gives the throughput; more workers only add
# memory and context switches. Threads help only while a worker waits on Redis.
workers = int(os.environ.get("NBA_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("NBA_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# A decision takes milliseconds; a worker stuck for 30 s is killed and replaced.
timeout = int(os.environ.get("NBA_TIMEOUT_S", "30"))
graceful_timeout = 20  # on SIGTERM or SIGHUP, in-flight requests get this long to finish
keepalive = 5  # behind a load balancer that keeps connections open
# Recycle workers now and then, spread out so that they never restart together.
max_requests = 100_000
max_requests_jitter = 10_000
# The app must not connect to anything before the fork: each worker builds its own.
preload_app = False
# The app writes its own JSON access line per request (api/core/logs.py).
accesslog = None
errorlog = "-"

# Prometheus: every worker writes its samples to one directory, /metrics adds them up.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nba-metrics-")
    _owned_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _owned_metrics_dir = None


def on_starting(server):
    # Samples left by an earlier run in a directory the operator provided
    # would be added to this run's: start from an empty directory.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for leftover in glob.glob(os.path.join(directory, "*.db")):
        os.remove(leftover)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _owned_metrics_dir:
        shutil.rmtree(_owned_metrics_dir, ignore_errors=True)
