"""The call-centre screen as an agent uses it: real gunicorn workers on SQLite,
the real worker process, and Debian's chromium driven by Playwright.

Set NBA_SCREENSHOTS_DIR=docs to refresh the README's screenshots."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN, AGENT, CHANNEL = "admin-key-0001", "agent-key-0001", "channel-key-001"
HOURS = {day: "09:00-12:30,14:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}
SHOTS = os.environ.get("NBA_SCREENSHOTS_DIR")


def last_week_tuesday() -> datetime:
    """A Tuesday at 15:00 UTC, one to two weeks ago: its lead is called on the
    Wednesday morning, in the past, so that the real-time API and a worker run
    at that Wednesday agree."""
    today = datetime.now(timezone.utc).replace(hour=15, minute=0, second=0, microsecond=0)
    back = (today.weekday() - 1) % 7 + 7
    return today - timedelta(days=back)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("agent-page")
    env = {"NBA_STORE_URL": f"sqlite:///{tmp_path}/nba.db", "NBA_PACK": "rules/retail.yaml",
           "NBA_LOG_LEVEL": "WARNING",
           "NBA_API_KEYS": f"{ADMIN}:admin,{AGENT}:agent,{CHANNEL}:channel"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log", config=True)
    server.wait_ready()
    server.env = env
    yield server
    server.stop()


def api(service, method: str, path: str, key: str = ADMIN, **kwargs) -> requests.Response:
    return requests.request(method, f"{service.url}{path}", timeout=20,
                            headers={"Authorization": f"Bearer {key}"}, **kwargs)


def worker_once(service, now: datetime) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "worker", "--once", "--now",
                           now.isoformat()], cwd=ROOT, env={**os.environ, **service.env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


LEADS = iter(range(1, 1000))


@pytest.fixture
def lead(service):
    """Two field agents, a new contact's lead from 75011 asking for a sofa, and the
    worker at the Paris agent's call for it: the call is open."""
    for agent_id, name, zones in (("paris_rep", "Claire Martin", ["75"]),
                                  ("lyon_rep", "Marc Durand", ["69"])):
        answer = api(service, "PUT", f"/v1/agents/{agent_id}", json={
            "name": name, "team": "field", "zones": zones, "working_hours": HOURS,
            "capacity_per_day": 100})
        assert answer.status_code in (200, 201), answer.text
    contact = f"p{next(LEADS)}"
    assert api(service, "PUT", f"/v1/contacts/{contact}", CHANNEL, json={
        "profile": {"first_name": "Léa", "last_name": "Bernard"},
        "consents": {"email": False}}).status_code == 200
    posted = last_week_tuesday()
    answer = api(service, "POST", "/v1/events", CHANNEL, json={
        "event_id": f"lead-{contact}", "contact_id": contact, "type": "lead_form",
        "at": posted.isoformat(), "data": {"product": "sofa", "postal_code": "75011"}})
    assert answer.json()["started"][0]["journey_id"] == "prospection"
    tasks = api(service, "GET", f"/v1/contacts/{contact}/tasks").json()["tasks"]
    assert [(t["agent_id"], t["status"]) for t in tasks] == [("paris_rep", "planned")]
    slot = datetime.fromisoformat(tasks[0]["slot_at"])
    assert slot.date() == (posted + timedelta(days=1)).date()  # the next working morning
    worker_once(service, slot + timedelta(minutes=1))
    return {"slot": slot, "day": slot.date().isoformat(), "task_id": tasks[0]["task_id"],
            "contact": contact}


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run .ci/ensure-chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu"])
        page = launched.new_page(viewport={"width": 1280, "height": 800}, locale="fr-FR")
        yield page
        launched.close()


def sign_in(page, service, key: str = AGENT, agent_id: str = "paris_rep") -> None:
    page.goto(f"{service.url}/agent")
    page.fill("#key", key)
    page.fill("#agent_id", agent_id)
    with page.expect_navigation():
        page.click("button[type=submit].primary")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_an_agent_opens_the_call_sees_the_script_and_reasons_and_records_a_sale(
        service, lead, browser):
    page = browser
    sign_in(page, service)
    page.goto(f"{service.url}/agent?date={lead['day']}")
    row = page.locator(f"tr[data-task='{lead['task_id']}']")
    assert "Léa Bernard" in row.inner_text()
    assert "lead_call" in row.inner_text() and "à appeler" in row.inner_text()
    shot(page, "agent-agenda.png")

    with page.expect_navigation():
        row.get_by_role("link").click()
    script = page.locator(".script").inner_text()
    assert "vous nous avez demandé des informations sur sofa" in script
    assert "eligible: contact.lead_at != null" in page.locator(".call .reasons").inner_text()
    assert "75011" in page.locator(".card").inner_text()  # the contact card
    shot(page, "agent-task.png")

    with page.expect_navigation():
        page.click("button[value=converted]")
    notice = page.locator("#recorded").inner_text()
    assert "Résultat enregistré" in notice and "Vente" in notice
    assert "newsletter" in page.locator("#next-step").inner_text()  # enrolment, then the email
    shot(page, "agent-result.png")
    history = api(service, "GET", f"/v1/contacts/{lead['contact']}", CHANNEL).json()
    assert history["consents"]["email"] is True  # the newsletter consent, from the call
    assert history["profile"]["consent_source_email"].startswith("journey prospection")


def test_no_sale_puts_the_follow_up_call_in_the_agenda_ten_days_later(service, lead, browser):
    page = browser
    sign_in(page, service)
    page.goto(f"{service.url}/agent/tasks/{lead['task_id']}")
    with page.expect_navigation():
        page.click("button[value=rejected]")
    assert "follow_up" in page.locator("#next-step").inner_text()
    tasks = api(service, "GET", f"/v1/contacts/{lead['contact']}/tasks").json()["tasks"]
    follow_up = tasks[-1]
    assert (follow_up["step_id"], follow_up["agent_id"], follow_up["status"]) == (
        "follow_up", "paris_rep", "planned")
    due = datetime.fromisoformat(follow_up["slot_at"])
    assert due >= datetime.now(timezone.utc) + timedelta(days=10)
    page.goto(f"{service.url}/agent?date={due.date().isoformat()}")
    assert "lead_follow_up_call" in page.locator(
        f"tr[data-task='{follow_up['task_id']}']").inner_text()


def test_the_search_box_opens_a_contact_with_the_recommended_action_and_exclusions(
        service, lead, browser):
    page = browser
    sign_in(page, service)
    page.wait_for_selector("#contact-search")
    page.keyboard.press("/")  # keyboard: the search box
    page.keyboard.type(lead["contact"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Léa" in page.locator(".card").inner_text()
    advice = page.locator(".advice").inner_text()
    assert "Action recommandée" in advice
    page.locator(".advice summary").click()
    assert page.locator(".advice .excluded li").count() > 0  # left out, with the reason


def test_an_agent_cannot_open_another_agents_call_and_a_wrong_key_cannot_sign_in(
        service, lead, browser):
    page = browser
    sign_in(page, service, key="not-a-key-at-all")
    assert "unknown key" in page.locator(".error").inner_text()
    sign_in(page, service, key=CHANNEL)
    assert "unknown key, or a key whose role" in page.locator(".error").inner_text()
    sign_in(page, service, agent_id="lyon_rep")
    page.goto(f"{service.url}/agent/tasks/{lead['task_id']}")
    assert "another agent" in page.locator("main").inner_text()
