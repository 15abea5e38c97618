"""The journey worker (``python -m engine worker --once``) counts the messages its
steps send in the ROI report, like the API counts its decisions."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import pytest

from engine.journeys.model import ContactEvent
from engine.journeys.runner import JourneyService
from engine.language.compiler import load_pack
from engine.model import ContactRecord
from engine.service import ActivePack, DecisionService
from store import journeys_from_url, reports_from_url, store_from_url
from tests.conftest import PACKS, ROOT

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
PACK = PACKS / "journeys.yaml"


@pytest.mark.slow
def test_messages_a_worker_sends_are_in_the_report(tmp_path):
    url = f"sqlite:///{tmp_path}/nba.db"
    store, journeys = store_from_url(url), journeys_from_url(url)
    plan = load_pack(PACK)
    service = JourneyService(DecisionService(store, ActivePack(plan), events=journeys), journeys)
    for n in range(5):
        store.put_contact(ContactRecord(f"c{n}", {}, {"email": True}))
        service.ingest(ContactEvent(f"e{n}", f"c{n}", "cart_abandoned", T0, {"cart_value": 80}))
    before = sum(len(store.history(f"c{n}")) for n in range(5))
    env = {**os.environ, "NBA_STORE_URL": url, "NBA_PACK": str(PACK), "NBA_LOG_LEVEL": "WARNING"}
    worker = subprocess.run([sys.executable, "-m", "engine", "worker", "--once", "--now",
                             (T0 + timedelta(days=3)).isoformat()], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    sent_by_worker = sum(len(store.history(f"c{n}")) for n in range(5)) - before
    assert sent_by_worker >= 5
    data = reports_from_url(url).read(plan.name, date(2026, 11, 1), date(2026, 12, 1))
    assert sum(t.messages for t in data.tallies.values()) == sent_by_worker
    assert sum(t.cost for t in data.tallies.values()) > 0
