"""``python -m engine simulate PACK --from-store``: the population is the stored
contacts (SQLite and a real Redis), read and never written."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.model import ContactRecord
from store import store_from_url
from tests.conftest import PACKS, ROOT
from tests.servers import RedisCluster, RedisServer, free_port

CONTACTS = [ContactRecord("ana", {"total_spend": 500}, {"email": True}),
            ContactRecord("léo {x}", {"total_spend": 10}, {"email": True}),
            ContactRecord("mute", {"total_spend": 900}, {"email": False}),
            ContactRecord("only-consents", {}, {"email": True})]


def simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "simulate",
                           str(PACKS / "shop.yaml"), "--days", "3", "--start", "2026-11-23",
                           "--json", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(params=["sqlite", "redis", "cluster"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/nba.db"
        return
    redis = RedisServer().start() if request.param == "redis" else RedisCluster().start()
    try:
        yield redis.url
    finally:
        redis.stop()


def test_the_stored_contacts_are_the_population_and_stay_untouched(store_url):
    store = store_from_url(store_url)
    for contact in CONTACTS:
        store.put_contact(contact)
    done = simulate("--from-store", store_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["contacts"] == 4 and report["decisions"] == 4 * 3
    assert report["sent"] == [{"action": "newsletter", "channel": "email", "messages": 9}]
    assert report["contacts_with_nothing"] == 1            # no email consent
    assert "4 contacts read from" in done.stderr
    assert all(store.history(c.contact_id) == () for c in CONTACTS)
    assert store.get_contact("léo {x}") == CONTACTS[1]
    store.close()


def test_limit_takes_the_first_contacts_in_id_order(tmp_path):
    url = f"sqlite:///{tmp_path}/nba.db"
    store = store_from_url(url)
    for contact in CONTACTS:
        store.put_contact(contact)
    done = simulate("--from-store", url, "--limit", "2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["contacts"] == 2


def test_an_empty_unknown_or_unreachable_store_is_a_clear_error(tmp_path):
    empty = simulate("--from-store", f"sqlite:///{tmp_path}/empty.db")
    assert empty.returncode == 2 and "holds no contact" in empty.stderr
    unknown = simulate("--from-store", "mongodb://localhost")
    assert unknown.returncode == 2 and "unsupported store URL" in unknown.stderr
    down = simulate("--from-store", f"redis://127.0.0.1:{free_port()}/0")
    assert down.returncode == 3 and "cannot read the contacts" in down.stderr
    assert "Traceback" not in down.stderr
    both = simulate("--from-store", "--contacts", "x.jsonl")
    assert both.returncode == 2


def test_the_default_store_is_nba_store_url(tmp_path):
    url = f"sqlite:///{tmp_path}/nba.db"
    store = store_from_url(url)
    store.put_contact(CONTACTS[0])
    done = subprocess.run([sys.executable, "-m", "engine", "simulate", str(PACKS / "shop.yaml"),
                           "--from-store", "--days", "1", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"NBA_STORE_URL": url, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["contacts"] == 1
