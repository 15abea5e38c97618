"""The cost of a learned decision, this tree against another, side by side:

    .venv/bin/python benchmarks/learning_cost.py --baseline DIR [--runs N]

``DIR`` is another tree of the project (``git archive <commit> | tar -x -C DIR``).
Each run starts a fresh interpreter per tree, alternately, and measures
``benchmarks/learning.py``'s own ``overhead()`` (7 rounds of 2,000 dry-run
decisions per pack: learned, constant and profile-expression propensities); the
answer is each tree's median over runs of the cost ratios. Alternating trees
in one run keeps the shared machine's load about the same for both.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEASURE = """
import json, random, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.learning import overhead, population
print(json.dumps(overhead(population(2000, random.Random(99)), 7, 2000)))
"""


def measure(tree: Path) -> dict[str, float]:
    """Decisions per second of each pack kind, measured in ``tree``."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tree)], cwd=tree,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another tree")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this tree": ROOT}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            runs[name].append(measure(tree))
            print(name, {kind: round(rate) for kind, rate in runs[name][-1].items()},
                  flush=True)
    for name, rates in runs.items():
        static = statistics.median(r["static"] / r["learned"] for r in rates)
        expression = statistics.median(r["expression"] / r["learned"] for r in rates)
        learned = statistics.median(r["learned"] for r in rates)
        print(f"{name}: learned {learned:,.0f} decisions/s; learned / constant "
              f"{static:.2f}, learned / profile expression {expression:.2f} "
              f"(medians of {len(rates)} runs)")


if __name__ == "__main__":
    main()
