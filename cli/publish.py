"""Publish a rule pack to a running service, for CI pipelines. An edge, like
cli/worker.py: it speaks HTTP to the service's /v1/packs.

    python -m engine publish rules/retail.yaml --url http://nba:8000 --key KEY [--activate]

The key may come from NBA_API_KEY instead of --key (better in CI: a command
line is visible to other users of the machine). The pack is validated and its
tests run by the service; nothing is stored unless all of that passes.

Exit codes: 0 stored (already stored counts) and, with --activate, active;
1 the service refused the pack (every problem is printed as FILE:LINE:COLUMN);
2 usage (bad arguments, unreadable file); 3 the key may not do this (401, 403);
4 the service failed or could not be reached.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

OK, REFUSED, USAGE, FORBIDDEN, FAILED = 0, 1, 2, 3, 4
TIMEOUT_S = 60


class Failure(Exception):
    """A step that ends the command with ``status``."""

    def __init__(self, status: int, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.problems = problems or []


def call(url: str, key: str | None, body: bytes | None, content_type: str) -> dict[str, Any]:
    """One request to the service; its JSON answer, or Failure."""
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body if body is not None else b"", headers=headers,
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as answer:
            return json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise _failure(exc.code, _error_of(exc.read())) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Failure(FAILED, f"cannot reach {url}: {exc}") from exc


def _error_of(raw: bytes) -> dict[str, Any]:
    try:
        return json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        return {"message": raw[:200].decode("utf-8", "replace")}


def _failure(status: int, error: dict[str, Any]) -> Failure:
    message = f"{status} {error.get('code', '')}: {error.get('message', '')}".strip()
    if status == 422 and error.get("problems") is not None:
        return Failure(REFUSED, message, error["problems"])
    if status in (401, 403):
        return Failure(FORBIDDEN, message)
    return Failure(REFUSED if status in (400, 409, 413, 422) else FAILED, message)


def _located(path: Path, problem: dict[str, Any]) -> str:
    """``rules/retail.yaml:12:5: actions[3].kind: message``, as editors and CI read it."""
    where = ":".join(str(part) for part in (path, problem.get("line"), problem.get("column"))
                     if part is not None)
    at = f" {problem['path']}:" if problem.get("path") else ""
    return f"{where}:{at} {problem.get('message', '')}"


def publish(path: Path, base: str, key: str | None, activate: bool, label: str | None) -> int:
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise Failure(USAGE, f"cannot read {path}: {exc.strerror}") from exc
    query = "?" + urllib.parse.urlencode({"label": label}) if label else ""
    try:
        stored = call(f"{base}/v1/packs{query}", key, source, "application/yaml")
    except Failure as exc:
        if exc.status == REFUSED:
            print(f"REFUSED {path}: {exc}", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {_located(path, problem)}", file=sys.stderr)
        raise
    pack = stored["pack"]
    tests = pack["tests"]
    print(f"{'stored' if stored['created'] else 'already stored'} {pack['hash']} "
          f"({pack['name']} {pack['version']}), {tests['passed']} tests passed")
    if activate:
        answer = call(f"{base}/v1/packs/{pack['hash']}/activate", key, None, "application/json")
        print(f"active {answer['active']} (was {answer['previous']})")
    return OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine publish",
                                     description="upload a pack to a running service")
    parser.add_argument("pack", type=Path, help="the pack's YAML file")
    parser.add_argument("--url", required=True, help="the service, like http://nba:8000")
    parser.add_argument("--key", default=os.environ.get("NBA_API_KEY"),
                        help="an author or admin API key (default: $NBA_API_KEY)")
    parser.add_argument("--activate", action="store_true",
                        help="activate it once stored (an admin key, unless the service "
                             "sets NBA_AUTHORS_MAY_ACTIVATE=1)")
    parser.add_argument("--label", help="a note stored with the version (author, ticket...)")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, not {args.url!r}")
    try:
        return publish(args.pack, args.url.rstrip("/"), args.key, args.activate, args.label)
    except Failure as exc:
        if exc.status != REFUSED:
            print(f"publish failed: {exc}", file=sys.stderr)
        return exc.status


if __name__ == "__main__":
    sys.exit(main())
