"""Tools for rule authors.

    python -m engine validate rules/retail.yaml
    python -m engine test rules/ [--engine durable]
    python -m engine vocabulary
    python -m engine schema                      (JSON Schema of packs, for editors)
    python -m engine lint rules/ [--at ISO-8601]  (findings that are not errors)
    python -m engine simulate PACK --contacts FILE|--from-store [URL] --days N [--against PACK]
    python -m engine worker [--once [--now ISO-8601]]   (see cli/worker.py)
    python -m engine publish PACK --url URL [--key KEY] [--activate]   (see cli/publish.py)
    python -m engine evaluate --pack PACK (--log FILE | --from-store)  (see cli/evaluate.py)
    python -m engine report programs [--from --to --store-url --pack --plot PNG --json]
                                                  (ROI per program, see cli/reports.py)

Exit codes: 0 success, 1 invalid pack, failed test (or no test ran) or lint
findings, 2 usage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from engine.backends import BACKENDS, backend_from_name
from engine.errors import InvalidPack
from engine.language.compiler import load_pack
from engine.language.lint import lint_pack
from engine.language.schema import pack_schema
from engine.language.vocabulary import export_vocabulary
from engine.testing import pack_files, run_file
from engine.timeutil import UTC


def validate(paths: list[str]) -> int:
    status = 0
    for path in pack_files(paths):
        try:
            plan = load_pack(path)
        except InvalidPack as exc:
            print(f"INVALID {path}", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            status = 1
            continue
        print(f"ok {path}: pack {plan.name} {plan.version} {plan.hash}, "
              f"{len(plan.channels)} channels, {len(plan.facts)} facts rules, "
              f"{len(plan.actions)} actions, {len(plan.tests)} tests")
    return status


def test(paths: list[str], engine: str = "compiled") -> int:
    passed = failed = 0
    files = pack_files(paths)
    backend = backend_from_name(engine)
    for path in files:
        try:
            results = run_file(path, backend)
        except InvalidPack as exc:
            print(f"INVALID {path}\n" + "\n".join(f"  {p}" for p in exc.problems))
            failed += 1
            continue
        for result in results:
            print(result)
            passed += result.passed
            failed += not result.passed
    print(f"{passed} passed, {failed} failed ({engine} engine)")
    if passed + failed == 0:
        print(f"no pack test ran in {', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    return 1 if failed else 0


def lint(paths: list[str], at: str | None) -> int:
    now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    status = 0
    for path in pack_files(paths):
        try:
            plan = load_pack(path)
        except InvalidPack as exc:
            print(f"INVALID {path}\n" + "\n".join(f"  {p}" for p in exc.problems), file=sys.stderr)
            status = 1
            continue
        findings = lint_pack(plan, now)
        for finding in findings:
            print(f"{path}:{finding}")
        print(f"{path}: {len(findings)} finding(s)", file=sys.stderr)
        status = status or (1 if findings else 0)
    return status


def stored_contacts(url: str, limit: int) -> list:
    """The contacts of the store at ``url`` (``simulate --from-store``). The store is
    an edge, opened only here, as the worker's are in cli/worker.py."""
    from store import store_from_url

    store = store_from_url(url, {"timeout_ms": 5000, "connect_timeout_ms": 2000})
    try:
        return store.contact_records(limit)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["publish"]:
        # An HTTP client of a running service: an edge, beside cli/worker.py.
        from cli.publish import main as publish_main

        return publish_main(argv[1:])
    if argv[:1] == ["evaluate"]:
        # Off-policy evaluation opens a store or a log: an edge beside wsgi.py.
        from cli.evaluate import main as evaluate_main

        return evaluate_main(argv[1:])
    if argv[:1] == ["report"]:
        # Reads the store: an edge, beside cli/worker.py.
        from cli.reports import main as report_main

        return report_main(argv[1:])
    if argv[:1] == ["worker"]:
        # The worker is an edge (it opens the stores): it lives beside wsgi.py.
        from cli.worker import main as worker_main

        return worker_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("validate", help="check packs completely").add_argument("paths", nargs="+")
    tester = commands.add_parser("test", help="run the packs' own tests")
    tester.add_argument("paths", nargs="+")
    tester.add_argument("--engine", choices=BACKENDS, default="compiled",
                        help="execution backend to run them on (default: compiled)")
    linter = commands.add_parser("lint", help="findings that are not errors (unreachable "
                                              "actions, redundant caps...)")
    linter.add_argument("paths", nargs="+")
    linter.add_argument("--at", help="judge validity dates as of this ISO time (default now)")
    from engine.authoring import simulate_cli

    simulate_cli.add_arguments(commands.add_parser(
        "simulate", help="a population through a pack, day by day (see simulate_cli.py)"))
    commands.add_parser("vocabulary", help="print the functions packs may use")
    commands.add_parser("schema", help="print the JSON Schema of the pack language "
                                       "(for editors)")
    commands.add_parser("worker", help="advance journey runs (see cli/worker.py)", add_help=False)
    commands.add_parser("publish", help="upload a pack to a running service (see cli/publish.py)",
                        add_help=False)
    commands.add_parser("evaluate", help="what a candidate pack would have earned on logged "
                                         "decisions (see cli/evaluate.py)", add_help=False)
    commands.add_parser("report", help="ROI per program from the store (see cli/reports.py)",
                        add_help=False)
    args = parser.parse_args(argv)
    if args.command == "validate":
        return validate(args.paths)
    if args.command == "test":
        return test(args.paths, args.engine)
    if args.command == "simulate":
        return simulate_cli.run(args, stored_contacts)
    if args.command == "lint":
        try:
            return lint(args.paths, args.at)
        except ValueError as exc:
            parser.error(f"--at: {exc}")
    if args.command == "schema":
        print(json.dumps(pack_schema(), indent=2))
        return 0
    print(json.dumps(export_vocabulary(), indent=2))
    return 0


def run_closing_quietly() -> int:
    """``main``, but a reader that closes the output early (``| head``) ends the
    command quietly, as with other Unix tools, instead of with a traceback."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(run_closing_quietly())
