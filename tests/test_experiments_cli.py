"""python -m engine report experiments, on what a service recorded in SQLite."""
from __future__ import annotations

import json
import subprocess
import sys

from api import create_app
from tests.conftest import ROOT

RETAIL = str(ROOT / "rules" / "retail.yaml")


def test_the_cli_reports_the_holdout_arms_the_service_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'nba.db'}"
    app = create_app({"NBA_STORE_URL": url, "NBA_PACK": RETAIL, "NBA_LEARNING_FLUSH_S": 0})
    client = app.test_client()
    for number in range(60):
        client.post("/v1/decisions", json={"contact_id": f"x{number}", "channel": "email"})
    app.extensions["nba"].decisions.experiments.flush()
    done = subprocess.run([sys.executable, "-m", "engine", "report", "experiments",
                           "global_holdout", "--store-url", url, "--pack", RETAIL, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)[0]
    arms = {a["arm"]: a["units"] for a in report["arms"]}
    assert arms["control"] + arms["treatment"] == 60 and arms["treatment"] > arms["control"]
    table = subprocess.run([sys.executable, "-m", "engine", "report", "experiments",
                            "--store-url", url, "--pack", RETAIL], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert "welcome_tips_delay (split, per run" in table.stdout
    unknown = subprocess.run([sys.executable, "-m", "engine", "report", "experiments", "nope",
                              "--store-url", url, "--pack", RETAIL], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "no experiment nope" in unknown.stderr
