"""Caps hold under real concurrency: gunicorn workers, real HTTP, one shared store.

Every test runs on SQLite (one file), a Redis server and a 3-master Redis
Cluster, each started for the session by tests/conftest.py.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import PACKS
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow
CLIENTS = 16


@pytest.fixture(params=["sqlite", "redis", "redis_cluster"])
def store_url(request, tmp_path) -> str:
    """A fresh shared store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nba.db'}"
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        return server.url
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


@pytest.fixture
def serve(tmp_path, store_url):
    started: list[Gunicorn] = []

    def start(app: str = "wsgi:app", threads: int = 1, **env: str) -> Gunicorn:
        env.setdefault("NBA_PACK", str(PACKS / "cap.yaml"))
        env.setdefault("NBA_STORE_URL", store_url)
        server = Gunicorn(app, env, tmp_path / f"gunicorn-{len(started)}.log", threads)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def hammer(url: str, contact_id: str) -> list[requests.Response]:
    """CLIENTS clients asking at once for the same contact on the same channel."""
    barrier = threading.Barrier(CLIENTS)
    body = {"contact_id": contact_id, "channel": "email",
            "profile": {"consents": {"email": True}}}

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return session.post(f"{url}/v1/decisions", json=body, timeout=30)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def recorded(url: str, contact_id: str) -> int:
    return len(requests.get(f"{url}/v1/contacts/{contact_id}/history", timeout=5)
               .json()["entries"])


@pytest.mark.parametrize("threads", [1, 8], ids=["sync-workers", "threaded-workers"])
def test_sixteen_concurrent_clients_on_two_workers_record_exactly_the_cap(serve, threads):
    server = serve(threads=threads)
    answers = hammer(server.url, "c-hot")
    assert [r.status_code for r in answers] == [200] * CLIENTS
    served = [r.json()["actions"] for r in answers if r.json()["actions"]]
    assert len(served) == 3
    assert recorded(server.url, "c-hot") == 3


def test_the_naive_read_then_write_variant_over_sends_under_the_same_load(serve, store_url):
    server = serve("tests.naive_app:app", threads=8, NAIVE_STORE_URL=store_url)
    answers = hammer(server.url, "c-hot")
    assert [r.status_code for r in answers] == [200] * CLIENTS
    assert recorded(server.url, "c-hot") > 3  # the race the real store prevents


def test_two_services_on_one_store_share_the_cap(serve):
    first, second = serve(), serve()
    barrier = threading.Barrier(2 * 8)
    body = {"contact_id": "c-two", "channel": "email", "profile": {"consents": {"email": True}}}

    def one(url: str) -> int:
        barrier.wait()
        return requests.post(f"{url}/v1/decisions", json=body, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, [first.url, second.url] * 8))
    assert codes == [200] * 16
    assert recorded(first.url, "c-two") == 3


def test_gunicorn_refuses_to_start_on_an_invalid_pack_and_says_why(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((PACKS / "cap.yaml").read_text().replace("max: 3", "max: three"))
    server = Gunicorn("wsgi:app", {"NBA_PACK": str(bad),
                                   "NBA_STORE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
                      tmp_path / "refused.log")
    try:
        with pytest.raises(RuntimeError, match="gunicorn exited"):
            server.wait_ready()
    finally:
        server.stop()
    log = (tmp_path / "refused.log").read_text()
    assert "cannot start" in log and "policies.pressure[0].max" in log


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_over_real_http_bad_bodies_get_json_errors_and_big_ones_413(serve):
    server = serve()
    url = f"{server.url}/v1/decisions"
    big = requests.post(url, data=b'{"contact_id": "' + b"x" * 70_000 + b'"}',
                        headers={"Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413 and big.json()["error"]["status"] == 413
    broken = requests.post(url, data=b'{"contact_id": ', timeout=10,
                           headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_json"
    assert requests.get(f"{server.url}/v1/contacts/nobody", timeout=10).status_code == 404
    assert requests.get(f"{server.url}/docs", timeout=10).status_code == 200
