"""Hot activation over real HTTP: two gunicorn workers and a journey worker
process follow activations and rollbacks without a restart or a failed request;
and ``python -m engine publish`` against a running service, with its exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from cli import publish
from tests.conftest import PACKS, ROOT
from tests.servers import Gunicorn
from tests.test_packs_api import KEYS, MINIMAL, variant

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer admin-key-12"}
CHANNEL = {"Authorization": "Bearer chan-key-123"}
PROPAGATION_S = 2.0
CLIENTS = 4


def start(store_url: str, log: Path) -> Gunicorn:
    # Propagation is under test, not Redis timeouts: a loaded machine can take more
    # than the default 50 ms to answer, which would fail requests (503) instead.
    server = Gunicorn("wsgi:app", {"NBA_PACK": str(PACKS / "minimal.yaml"),
                                   "NBA_STORE_URL": store_url, "NBA_API_KEYS": KEYS,
                                   "NBA_REDIS_TIMEOUT_MS": "1000"}, log)
    server.wait_ready()
    return server


class Traffic:
    """CLIENTS threads asking for dry-run decisions and /healthz until stopped,
    each answer kept as (sent at, answered at, status, pack hash, worker pid)."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[tuple[float, float, int, str | None, int | None]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, number: int) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            if number % 2:
                answer = requests.get(f"{self.url}/healthz", timeout=10)
                body = answer.json()
                self.answers.append((sent, time.monotonic(), answer.status_code,
                                     body["pack"]["hash"], body["worker_pid"]))
            else:
                answer = requests.post(f"{self.url}/v1/decisions", headers=CHANNEL, timeout=10,
                                       json={"contact_id": f"c{number}", "channel": "email",
                                             "dry_run": True})
                self.answers.append((sent, time.monotonic(), answer.status_code,
                                     answer.json().get("pack", {}).get("hash"), None))

    def workers_serving(self, pack_hash: str, since: float) -> dict[int, float]:
        """Per worker pid, the first time an answer sent after ``since`` carried ``pack_hash``."""
        first: dict[int, float] = {}
        for sent, _, _, got, pid in list(self.answers):
            if pid is not None and got == pack_hash and sent >= since:
                first.setdefault(pid, sent)
        return first

    def wait_for(self, pack_hash: str, since: float, workers: int = 2) -> dict[int, float]:
        deadline = since + 10 * PROPAGATION_S
        while time.monotonic() < deadline:
            seen = self.workers_serving(pack_hash, since)
            if len(seen) >= workers:
                return seen
            time.sleep(0.05)
        return self.workers_serving(pack_hash, since)


def switch(url: str, path: str) -> tuple[float, float]:
    """Activate or roll back; the moments just before the call and once it answered."""
    asked = time.monotonic()
    answer = requests.post(f"{url}{path}", headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    return asked, time.monotonic()


def test_every_worker_serves_an_activation_and_a_rollback_within_two_seconds(store_url,
                                                                            tmp_path):
    server = start(store_url, tmp_path / "gunicorn.log")
    try:
        first = requests.get(f"{server.url}/healthz", timeout=5).json()["pack"]["hash"]
        stored = requests.post(f"{server.url}/v1/packs", data=variant(), headers={
            **ADMIN, "Content-Type": "application/yaml"}, timeout=30).json()["pack"]["hash"]
        with Traffic(server.url) as traffic:
            time.sleep(0.5)  # traffic on the first version on both workers
            _, activated = switch(server.url, f"/v1/packs/{stored}/activate")
            on_second = traffic.wait_for(stored, activated)
            rollback_asked, rolled_back = switch(server.url, "/v1/packs/rollback")
            on_first = traffic.wait_for(first, rolled_back)
        assert len(on_second) == 2 and len(on_first) == 2, "both workers followed"
        lags = [t - activated for t in on_second.values()] + \
               [t - rolled_back for t in on_first.values()]
        print(f"propagation to each worker (s): {', '.join(f'{lag:.2f}' for lag in lags)}")
        assert max(lags) < PROPAGATION_S
        assert {status for _, _, status, _, _ in traffic.answers} == {200}
        assert {h for _, _, _, h, _ in traffic.answers} == {first, stored}
        # Once a worker serves a version, it never answers with the older one again
        # (until the rollback: answers given before it was asked for).
        followed = max(on_second.values())
        late = [h for sent, answered, _, h, _ in traffic.answers
                if followed < sent and answered < rollback_asked]
        assert late and set(late) == {stored}
    finally:
        server.stop()


def test_the_journey_worker_follows_the_active_version(tmp_path):
    store_url = f"sqlite:///{tmp_path / 'nba.db'}"
    log = (tmp_path / "worker.log").open("w")
    env = {**os.environ, "NBA_PACK": str(PACKS / "minimal.yaml"), "NBA_STORE_URL": store_url,
           "NBA_LOG_FORMAT": "text"}
    worker = subprocess.Popen([sys.executable, "-m", "engine", "worker"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        from api import create_app

        client = create_app({"NBA_STORE_URL": store_url, "NBA_PACK": str(PACKS / "minimal.yaml"),
                             "NBA_API_KEYS": KEYS}).test_client()
        _wait_for_text(tmp_path / "worker.log", "worker started on pack minimal")
        stored = client.post("/v1/packs", data=variant(), content_type="application/yaml",
                             headers=ADMIN).get_json()["pack"]["hash"]
        assert client.post(f"/v1/packs/{stored}/activate", headers=ADMIN).status_code == 200
        activated = time.monotonic()
        _wait_for_text(tmp_path / "worker.log", f"now serving pack minimal 2 ({stored})")
        print(f"journey worker followed in {time.monotonic() - activated:.2f} s")
        assert time.monotonic() - activated < PROPAGATION_S + 1  # + the log's own latency
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        log.close()


def _wait_for_text(path: Path, text: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}:\n{path.read_text()}")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("publish")
    server = start(f"sqlite:///{tmp / 'nba.db'}", tmp / "gunicorn.log")
    yield server
    server.stop()


def test_publish_stores_then_activates_and_says_so(service, tmp_path, capsys):
    pack = tmp_path / "pack.yaml"
    pack.write_text(variant("7"))
    assert publish.main([str(pack), "--url", service.url, "--key", "author-key-1"]) == 0
    assert "stored sha256:" in capsys.readouterr().out
    assert publish.main([str(pack), "--url", service.url, "--key", "admin-key-12",
                         "--activate"]) == 0
    out = capsys.readouterr().out
    assert "already stored" in out and "active sha256:" in out
    listing = requests.get(f"{service.url}/v1/packs", headers=ADMIN, timeout=5).json()
    [active] = [v for v in listing["packs"][0]["versions"] if v["active"]]
    assert active["version"] == "7" and out.split("active ")[1].startswith(active["hash"])


def test_publish_of_a_broken_pack_exits_1_and_prints_each_problem_located(service, tmp_path,
                                                                          capsys):
    pack = tmp_path / "broken.yaml"
    pack.write_text(MINIMAL.replace("kind: relational", "kind: friendly"))
    assert publish.main([str(pack), "--url", service.url, "--key", "author-key-1"]) == 1
    line = MINIMAL.splitlines().index("    kind: relational") + 1
    assert f"{pack}:{line}:5: actions[4].kind: kind is one of" in capsys.readouterr().err


def test_publish_exit_codes_tell_ci_what_went_wrong(service, tmp_path, capsys):
    pack = tmp_path / "pack.yaml"
    pack.write_text(variant("8"))
    assert publish.main([str(pack), "--url", service.url, "--key", "author-key-1",
                         "--activate"]) == publish.FORBIDDEN
    assert publish.main([str(pack), "--url", service.url, "--key", "wrong-key-99"]) == \
        publish.FORBIDDEN
    assert publish.main([str(tmp_path / "missing.yaml"), "--url", service.url]) == publish.USAGE
    closed = f"http://127.0.0.1:{_closed_port()}"
    assert publish.main([str(pack), "--url", closed, "--key", "author-key-1"]) == publish.FAILED
    with pytest.raises(SystemExit) as usage:
        publish.main([str(pack), "--url", "nba:8000"])
    assert usage.value.code == 2


def _closed_port() -> int:
    from tests.servers import free_port

    return free_port()
