"""Throwaway servers for the tests and benchmarks: redis-server (one node, or a
3-master cluster) and gunicorn serving the project.

Each server runs on a free loopback port; a redis-server in its own directory,
keeping nothing on disk unless asked. Each is stopped by whoever started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
GUNICORN = Path(sys.executable).parent / "gunicorn"
ROOT = Path(__file__).resolve().parent.parent


class RedisUnavailable(RuntimeError):
    """redis-server is not installed or would not start."""


def free_port(also_free: int = 0) -> int:
    """A loopback port nobody listens on (and ``port + also_free`` too, if asked)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + also_free >= 65535:
            continue
        if not also_free or _port_free(port + also_free):
            return port
    raise RuntimeError("no free port pair found")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisServer:
    """One redis-server process on a free port."""

    def __init__(self, *extra: str, port: int | None = None, directory: Path | None = None):
        if not Path(REDIS_SERVER).exists():
            raise RedisUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.port = port or free_port()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="nba-redis-"))
        self.extra = extra
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                "--logfile", str(self.directory / f"redis-{self.port}.log"), *self.extra]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RedisUnavailable(f"redis-server exited with {self.process.returncode}; "
                                       f"see {self.directory}")
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RedisUnavailable(f"redis-server on port {self.port} did not answer")

    def cli(self, *command: str) -> str:
        done = subprocess.run([REDIS_CLI, "-p", str(self.port), *command],
                              capture_output=True, text=True, timeout=10)
        return done.stdout

    def kill(self) -> None:
        """Stop the process at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisCluster:
    """Three masters, no replicas, slots spread by redis-cli --cluster create."""

    def __init__(self, masters: int = 3):
        self.directory = Path(tempfile.mkdtemp(prefix="nba-cluster-"))
        self.nodes = [
            RedisServer("--cluster-enabled", "yes", "--cluster-config-file",
                        f"nodes-{n}.conf", "--cluster-node-timeout", "2000",
                        port=free_port(also_free=10000), directory=self.directory)
            for n in range(masters)
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        done = subprocess.run([REDIS_CLI, "--cluster", "create", *addresses,
                               "--cluster-replicas", "0", "--cluster-yes"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RedisUnavailable(f"cluster create failed: {done.stdout}{done.stderr}")
        self._wait_ok()
        return self

    def _wait_ok(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in node.cli("CLUSTER", "INFO") for node in self.nodes):
                return
            time.sleep(0.1)
        raise RedisUnavailable("the cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        for node in self.nodes:
            node.cli("FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class Gunicorn:
    """A real gunicorn with two workers, started for one test."""

    def __init__(self, app: str, env: dict[str, str], log: Path, threads: int = 1,
                 config: bool = False, root: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        if config:  # the shipped gunicorn.conf.py, as `make run` uses it
            command = [str(GUNICORN), "-c", "gunicorn.conf.py", app]
            env = {"NBA_BIND": f"127.0.0.1:{self.port}", "NBA_WORKERS": "2",
                   "NBA_THREADS": str(threads), **env}
        else:
            command = [str(GUNICORN), "--workers", "2", "--threads", str(threads),
                       "--bind", f"127.0.0.1:{self.port}", app]
        environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        # ``root``: the tree whose code is served (a benchmark's baseline may be another)
        self.process = subprocess.Popen(command, cwd=root, env={**environ, **env},
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log.name}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        raise TimeoutError("gunicorn did not become ready")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
