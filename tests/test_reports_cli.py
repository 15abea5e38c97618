"""``python -m engine report programs``: the table, the JSON and the weekly plot,
from counters a real app recorded in SQLite."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from api import create_app
from tests.conftest import ROOT
from tests.test_reports_api import KEYS, RETAIL, call_and_answer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'nba.db'}"
    app = create_app({"NBA_STORE_URL": url, "NBA_PACK": RETAIL, "NBA_API_KEYS": KEYS,
                      "NBA_REPORTS_FLUSH_S": 0})
    client = app.test_client()
    call_and_answer(client, "", "c1", [("converted", 80.0)])
    call_and_answer(client, "", "c2", [("complained", None)])
    app.extensions["nba"].reports.flush()
    return url


def report(store_url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "report", "programs",
                           "--store-url", store_url, "--pack", RETAIL, "--from", "2026-11-16",
                           "--to", "2026-11-30", *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_the_table_shows_each_program_and_action_with_its_net_value(store_url):
    done = report(store_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "outcomes priced: unsubscribed 40, complained 60" in lines[0]
    program = next(line for line in lines if line.startswith("reactivation"))
    # 2 calls at 3.5, 80 of revenue, one complaint at 60: net 80 - 7 - 60 = 13
    assert program.split()[1:] == ["2", "2", "7.00", "1", "80.00", "0", "1", "60.00",
                                   "13.00", "1.86"]
    assert any(line.strip().startswith("winback_call") for line in lines)


@pytest.mark.slow
def test_json_and_a_png_plot_of_net_value_per_week(store_url, tmp_path):
    picture = tmp_path / "net.png"
    done = report(store_url, "--json", "--plot", str(picture))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["totals"]["net_value"] == 13.0
    weeks = [w for w in answer["weeks"] if w["program"] == "reactivation"]
    assert [(w["week"], w["net_value"]) for w in weeks] == [("2026-11-16", 0.0),
                                                            ("2026-11-23", 13.0)]
    data = picture.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000


def test_a_bad_date_or_range_is_a_usage_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'nba.db'}"
    bad = report(url, "--from", "2026-02-30")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    reversed_range = subprocess.run(
        [sys.executable, "-m", "engine", "report", "programs", "--store-url", url,
         "--pack", RETAIL, "--from", "2026-12-02", "--to", "2026-12-01"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert reversed_range.returncode == 2 and "is after to" in reversed_range.stderr
