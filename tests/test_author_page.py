"""The authors' page as a rule author uses it: real gunicorn workers on SQLite
and Debian's chromium driven by Playwright, typing into the editor.

Set NBA_SCREENSHOTS_DIR=docs to refresh the README's screenshots (author-*.png)."""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PACKS
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN, AUTHOR, CHANNEL = "admin-key-0001", "author-key-001", "channel-key-001"
SHOTS = os.environ.get("NBA_SCREENSHOTS_DIR")
AT = "2026-11-23T10:00:00Z"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("author-page")
    env = {"NBA_STORE_URL": f"sqlite:///{tmp_path}/nba.db", "NBA_PACK": str(PACKS / "shop.yaml"),
           "NBA_LOG_LEVEL": "WARNING",
           "NBA_API_KEYS": f"{ADMIN}:admin,{AUTHOR}:author,{CHANNEL}:channel"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log", config=True)
    server.wait_ready()
    yield server
    server.stop()


def api(service, method: str, path: str, key: str = ADMIN, **kwargs) -> requests.Response:
    return requests.request(method, f"{service.url}{path}", timeout=20,
                            headers={"Authorization": f"Bearer {key}"}, **kwargs)


def decided(service) -> tuple[str, str]:
    """The action a channel gets for c1 by email, and the hash of the pack that chose it."""
    answer = api(service, "POST", "/v1/decisions", CHANNEL, json={
        "contact_id": "c1", "channel": "email", "dry_run": True, "at": AT})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["actions"][0]["action_id"], body["pack"]["hash"]


def decided_by(service, pack_hash: str) -> str:
    """The action chosen once every worker serves ``pack_hash`` (workers follow the
    registry within about a second; this waits for it, it does not time it)."""
    for _ in range(200):
        action, served = decided(service)
        if served == pack_hash:
            return action
        time.sleep(0.05)
    raise AssertionError(f"no worker served {pack_hash}")


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run .ci/ensure-chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        page = launched.new_page(viewport={"width": 1360, "height": 900})
        yield page
        launched.close()


def sign_in(page, service, key: str) -> None:
    page.goto(f"{service.url}/author")
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def edit_line(page, containing: str, backspaces: int, typed: str, left: int = 0) -> None:
    """Click the editor line holding ``containing``, go to its end (then ``left``
    characters back), erase ``backspaces`` characters and type ``typed``."""
    page.locator(".cm-line", has_text=containing).first.click()
    page.keyboard.press("End")
    for _ in range(left):
        page.keyboard.press("ArrowLeft")
    for _ in range(backspaces):
        page.keyboard.press("Backspace")
    page.keyboard.type(typed)


def check(page, expected: str) -> None:
    page.click("#check")
    page.locator("#verdict", has_text=expected).wait_for()


def test_an_admin_edits_a_pack_sees_errors_and_tests_activates_it_and_decisions_change(
        service, browser):
    page = browser
    assert api(service, "PUT", "/v1/contacts/c1", CHANNEL, json={
        "profile": {"total_spend": 500}, "consents": {"email": True}}).status_code == 200
    first_action, first_hash = decided(service)
    assert first_action == "newsletter"

    sign_in(page, service, ADMIN)
    page.locator("#tab-overview table").first.wait_for()
    assert page.inner_text("#serving-name") == "shop 1"
    assert page.locator("#tab-overview td strong", has_text="promo").count() == 1
    assert page.locator(".version .badge.yes").count() == 1
    shot(page, "author-versions.png")

    page.click("[data-tab=edit]")
    page.locator(".cm-line", has_text="kind: commercial").wait_for()
    edit_line(page, "kind: commercial", 0, "x")       # an unknown kind, on line 16
    check(page, "Invalid")
    problem = page.locator("#check-result .problem").first
    assert "line 16" in problem.inner_text() and "actions[1].kind" in problem.inner_text()
    assert page.locator(".cm-lint-marker-error").count() == 1
    shot(page, "author-error.png")

    edit_line(page, "kind: commercialx", 1, "")       # fixed
    edit_line(page, "priority: 40", 2, "90")          # promo now outranks the newsletter
    check(page, "Tests fail")
    failed = page.locator("#check-result .test.failed")
    assert failed.count() == 1 and "a big spender gets the newsletter" in failed.inner_text()
    assert "line 26" in failed.inner_text()
    shot(page, "author-tests.png")

    edit_line(page, "expect: {actions: [newsletter]}", 10, "promo", left=2)
    check(page, "Valid")
    assert page.locator("#check-result .test.passed").count() == 1

    page.fill("#label", "promo first")
    page.click("#save")
    page.locator("#flash", has_text="Stored as a new version").wait_for()
    page.locator(".version.selected", has_text="promo first").wait_for()
    assert page.locator(".version").count() == 2

    page.click("[data-tab=diff]")
    page.locator("#tab-diff .changed", has_text="priority").wait_for()
    changed = page.locator("#tab-diff .changed", has_text="priority").inner_text()
    assert "promo" in changed and "40" in changed and "90" in changed
    shot(page, "author-diff.png")

    page.click("[data-tab=try]")
    page.fill("#try-contact", "c1")
    page.fill("#try-at", AT)
    page.click("#try-form button[type=submit]")
    page.locator("#try-result .chosen-action", has_text="promo").wait_for()
    assert decided(service)[0] == "newsletter"       # trying changes nothing served

    page.fill("#try-contact", "")
    page.fill("#try-pasted", '{"id": "pasted", "profile": {"total_spend": 10}, '
                             '"consents": {"email": false}}')
    page.click("#try-form button[type=submit]")
    page.locator("#try-result .nothing").wait_for()
    left_out = page.inner_text("#try-result table")
    assert "consent" in left_out and "eligibility" in left_out
    shot(page, "author-try.png")

    page.click("[data-tab=simulate]")
    page.fill("#sim-days", "14")
    page.fill("#sim-start", "2026-11-01T00:00:00Z")
    page.click("#simulate-form button[type=submit]")
    line = page.locator("#simulation-plot polyline[data-channel=email]")
    line.wait_for(state="attached")
    assert len(line.get_attribute("points").split()) == 14   # one point a day
    assert "difference" in page.inner_text("#simulate-result")
    shot(page, "author-simulate.png")

    page.click("[data-tab=shadow]")
    page.fill("#shadow-share", "1")
    page.fill("#shadow-duration", "10m")
    page.click("#shadow-form button[type=submit]")
    page.locator("#shadow-summary", has_text="running: 0 request(s) compared").wait_for()
    shadowed = page.get_attribute(".version.selected", "data-hash")
    # Live answers, shadowed by the new version: each worker sees a new shadow within
    # 0.5 s and compares after each answer is sent, so ask until three are counted.
    for _ in range(400):
        assert decided(service)[0] == "newsletter"
        if api(service, "GET", f"/v1/packs/{shadowed}/shadow", AUTHOR).json()["compared"] >= 3:
            break
        time.sleep(0.05)
    page.click("#shadow-refresh")
    page.locator("#shadow-summary", has_text=re.compile(r"[1-9][0-9]* request")).wait_for()
    counted = re.search(r"(\d+) request\(s\) compared, (\d+) differing",
                        page.inner_text("#shadow-summary"))
    assert counted and int(counted[1]) >= 3 and counted[1] == counted[2]
    assert "promo" in page.inner_text("#shadow-result")
    shot(page, "author-shadow.png")

    new_hash = page.get_attribute(".version.selected", "data-hash")
    page.click("#activate")
    page.locator("#flash", has_text="Activated").wait_for()
    page.locator(".version.selected .badge.yes").wait_for()
    assert decided_by(service, new_hash) == "promo"

    page.click("#rollback")
    page.locator("#flash", has_text="Rolled back").wait_for()
    assert decided_by(service, first_hash) == "newsletter"
    audit = [e["action"] for e in api(service, "GET", "/v1/audit").json()["entries"]]
    assert audit[:4] == ["rollback", "activate", "shadow_start", "upload"]


def test_the_editor_completes_keys_and_values_from_the_pack_schema(service, browser):
    page = browser
    sign_in(page, service, AUTHOR)
    page.click("[data-tab=edit]")
    page.locator(".cm-line", has_text="priority: 50").first.click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("rep")
    page.keyboard.press("Control+Space")
    options = page.locator(".cm-tooltip-autocomplete")
    options.wait_for()
    assert "repeat" in options.inner_text()
    assert "priority" not in options.inner_text()     # already written in this action
    page.keyboard.press("Enter")
    assert page.locator(".cm-activeLine").inner_text().strip() == "repeat:"
    page.keyboard.press("Enter")
    page.keyboard.type("  wi")                         # a key of the repeat rule
    page.keyboard.press("Control+Space")
    page.locator(".cm-tooltip-autocomplete", has_text="within").wait_for()
    page.keyboard.press("Escape")
    page.locator(".cm-line", has_text="kind: relational").first.click()
    page.keyboard.press("End")
    for _ in range(len("relational")):
        page.keyboard.press("Backspace")
    page.keyboard.type("com")
    page.keyboard.press("Control+Space")
    page.locator(".cm-tooltip-autocomplete", has_text="commercial").wait_for()
    shot(page, "author-completion.png")


def test_an_author_may_not_activate_and_a_channel_key_cannot_open_the_page(service, browser):
    page = browser
    sign_in(page, service, AUTHOR)
    page.locator("#tab-overview table").first.wait_for()
    assert page.locator("#activate").is_hidden() and page.locator("#rollback").is_hidden()
    page.click("#sign-out")
    page.locator("#sign-in").wait_for()
    sign_in(page, service, CHANNEL)
    page.locator("#sign-in-error", has_text="needs an author or admin key").wait_for()
    assert page.locator("#workspace").is_hidden()
    sign_in(page, service, "not-a-key")
    page.locator("#sign-in-error", has_text="unknown API key").wait_for()
