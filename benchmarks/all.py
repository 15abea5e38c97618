"""Every benchmark, one after the other, and one table of their headline figures.

    .venv/bin/python benchmarks/all.py            # full runs (about 15 minutes)
    .venv/bin/python benchmarks/all.py --quick    # smoke runs (about 2 minutes)

``make bench`` runs it. Each benchmark's own report goes to
``var/bench/<name>.txt``; the table at the end gathers the ``SUMMARY`` lines
they print (benchmarks/summary.py). The benchmarks run one at a time, so
that they do not compete for the machine's cores with each other (they do with
anything else running).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ in ("__main__", "__mp_main__"):  # a script: the project before benchmarks/
    sys.path[0] = str(ROOT)

from benchmarks.summary import PREFIX  # noqa: E402

BENCHMARKS = {  # name: (full arguments, quick arguments)
    "engine": ([], ["--quick"]),
    "engines": (["--rounds", "3", "--calls", "1000"], ["--rounds", "1", "--calls", "300"]),
    "redis_store": ([], ["--quick"]),
    "http": ([], ["--quick"]),
    "journeys": ([], ["--quick"]),
    "learning": ([], ["--quick"]),
}


def run(name: str, args: list[str], out_dir: Path) -> list[dict]:
    """Run one benchmark, keep its report, return its summary figures."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    (out_dir / f"{name}.txt").write_text(done.stdout + done.stderr)
    seconds = time.monotonic() - started
    print(f"{name:<12} {'ok' if done.returncode == 0 else f'FAILED ({done.returncode})'} "
          f"in {seconds:.0f} s -> {out_dir / f'{name}.txt'}", flush=True)
    return [json.loads(line[len(PREFIX):]) for line in done.stdout.splitlines()
            if line.startswith(PREFIX)]


def table(figures: list[dict]) -> str:
    rows = ["| benchmark | figure | value | target | met |", "|---|---|---|---|---|"]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        rows.append(f"| {f['benchmark']} | {f['figure']} | {f['value']:,.{_digits(f)}f} "
                    f"{f['unit']} | {f['target']} | {met} |")
    return "\n".join(rows)


def _digits(figure: dict) -> int:
    return 2 if abs(figure["value"]) < 10 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the benchmarks' smoke runs")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="a subset")
    args = parser.parse_args()
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[dict] = []
    for name in args.only or BENCHMARKS:
        full, quick = BENCHMARKS[name]
        figures += run(name, quick if args.quick else full, out_dir)
    print()
    print(table(figures))


if __name__ == "__main__":
    main()
