"""The authors' workbench endpoints (Flask test client): a draft checked without
being stored, a version laid out, a version tried on a stored or pasted contact
recording nothing, and what a key may do."""
from __future__ import annotations

import pytest

from api import create_app
from tests.conftest import PACKS

KEYS = "chan-key-123:channel,author-key-1:author,admin-key-12:admin"
AUTHOR = {"Authorization": "Bearer author-key-1"}
ADMIN = {"Authorization": "Bearer admin-key-12"}
CHANNEL = {"Authorization": "Bearer chan-key-123"}
SHOP = (PACKS / "shop.yaml").read_text()
YAML = "application/yaml"
AT = "2026-11-23T10:00:00Z"


@pytest.fixture
def client(tmp_path):
    return create_app({"NBA_STORE_URL": f"sqlite:///{tmp_path}/nba.db",
                       "NBA_PACK": str(PACKS / "shop.yaml"), "NBA_API_KEYS": KEYS}).test_client()


def active_hash(client) -> str:
    return client.get("/v1/packs", headers=AUTHOR).get_json()["active"]


def versions(client) -> int:
    return sum(len(p["versions"]) for p in client.get("/v1/packs", headers=AUTHOR)
               .get_json()["packs"])


def check(client, source: str, headers=AUTHOR):
    return client.post("/v1/packs/check", data=source, content_type=YAML, headers=headers)


def test_a_valid_draft_is_checked_with_its_tests_and_nothing_is_stored(client):
    answer = check(client, SHOP.replace('version: "1"', 'version: "2"'))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["valid"] is True and body["reason"] is None
    assert body["pack"]["version"] == "2"
    assert body["tests"] == [{"name": "a big spender gets the newsletter", "line": 26,
                              "passed": True, "failures": []}]
    assert versions(client) == 1


def test_an_invalid_draft_names_the_line_of_its_problem(client):
    body = check(client, SHOP.replace("kind: commercial", "kind: comercial")).get_json()
    assert body["valid"] is False and body["reason"] == "invalid_pack"
    [problem] = body["problems"]
    assert problem["line"] == 16 and problem["path"] == "actions[1].kind"
    assert "commercial" in problem["message"]
    assert versions(client) == 1


def test_a_draft_whose_test_fails_shows_the_failure_at_the_tests_line(client):
    body = check(client, SHOP.replace("priority: 40", "priority: 90")).get_json()
    assert body["valid"] is False and body["reason"] == "pack_tests_failed"
    [result] = body["tests"]
    assert result["passed"] is False and result["line"] == 26
    assert any("promo" in failure for failure in result["failures"])


def test_lint_findings_of_a_draft_come_with_their_line(client):
    draft = SHOP.replace("    when: contact.total_spend >= 100\n",
                         "    when: contact.total_spend >= 100\n    valid: {until: \"2020-01-01\"}\n")
    body = check(client, draft).get_json()
    assert body["valid"] is True
    assert [(w["line"], w["path"], w["code"]) for w in body["warnings"]] == [
        (19, "actions[1].valid.until", "validity_ended")]


def test_a_channel_key_may_not_check_drafts_and_a_non_yaml_body_is_refused(client):
    assert check(client, SHOP, CHANNEL).status_code == 403
    answer = client.post("/v1/packs/check", data="x", content_type="image/png", headers=AUTHOR)
    assert answer.status_code == 422


def test_the_outline_lays_out_actions_policies_and_channels_with_their_lines(client):
    outline = client.get(f"/v1/packs/{active_hash(client)}/outline", headers=AUTHOR).get_json()
    assert outline["pack"] == "shop" and outline["active"] is True
    assert [(a["id"], a["line"]) for a in outline["actions"]] == [("newsletter", 8),
                                                                    ("promo", 14)]
    assert outline["policies"]["pressure"][0]["id"] == "weekly_commercial"
    assert outline["policies"]["arbitration"] == "priority"
    assert outline["channels"] == [{"id": "email", "cost": 0.01, "line": 6}]
    assert outline["tests"] == [{"name": "a big spender gets the newsletter", "line": 26}]


def test_an_unknown_version_has_no_outline(client):
    assert client.get("/v1/packs/sha256:0123456789abcdef/outline",
                      headers=AUTHOR).status_code == 404
    assert client.get("/v1/packs/nonsense/outline", headers=AUTHOR).status_code == 404


def stored_contact(client, spend: float) -> None:
    assert client.put("/v1/contacts/c1", headers=CHANNEL, json={
        "profile": {"total_spend": spend}, "consents": {"email": True}}).status_code == 200


def history(client) -> list:
    return client.get("/v1/contacts/c1/history", headers=CHANNEL).get_json()["entries"]


def test_trying_a_version_on_a_stored_contact_explains_it_and_records_nothing(client):
    stored_contact(client, 500)
    answer = client.post(f"/v1/packs/{active_hash(client)}/try", headers=AUTHOR, json={
        "contact_id": "c1", "channel": "email", "at": AT})
    assert answer.status_code == 200
    body = answer.get_json()
    assert [a["action_id"] for a in body["actions"]] == ["newsletter"]
    assert body["dry_run"] is True and body["recorded"] is False
    assert body["pack"]["hash"] == active_hash(client)
    assert "facts" in body and "excluded" in body
    assert history(client) == []


def test_trying_a_new_version_before_activation_shows_its_own_decision(client):
    stored_contact(client, 500)
    draft = SHOP.replace("priority: 40", "priority: 90").replace(
        "expect: {actions: [newsletter]}", "expect: {actions: [promo]}")
    new = client.post("/v1/packs", data=draft, content_type=YAML, headers=AUTHOR)
    assert new.status_code == 201, new.get_json()
    new_hash = new.get_json()["pack"]["hash"]
    body = client.post(f"/v1/packs/{new_hash}/try", headers=AUTHOR, json={
        "contact_id": "c1", "channel": "email", "at": AT}).get_json()
    assert [a["action_id"] for a in body["actions"]] == ["promo"]
    assert body["pack"]["hash"] == new_hash != active_hash(client)


def test_a_pasted_contact_gets_every_exclusion_with_its_reason(client):
    body = client.post(f"/v1/packs/{active_hash(client)}/try", headers=AUTHOR, json={
        "contact": {"id": "someone", "profile": {"total_spend": 10},
                    "consents": {"email": False}}, "channel": "email", "at": AT}).get_json()
    assert body["actions"] == []
    assert {(x["action_id"], x["policy"]) for x in body["excluded"]} >= {
        ("newsletter", "consent"), ("promo", "eligibility")}
    assert all(x["reason"] for x in body["excluded"])


@pytest.mark.parametrize("body, status", [
    ({"channel": "email", "at": AT}, 422),
    ({"contact_id": "c1", "contact": {"id": "x"}, "channel": "email"}, 422),
    ({"contact_id": "c1", "channel": "fax"}, 422),
    ({"contact_id": "c1", "channel": "email", "limit": 0}, 422),
    ({"contact": {"id": "x", "consents": {"email": "yes"}}, "channel": "email"}, 422),
    ({"contact_id": "c1", "channel": "email", "surprise": 1}, 422),
])
def test_a_bad_try_request_is_refused_with_a_clear_error(client, body, status):
    answer = client.post(f"/v1/packs/{active_hash(client)}/try", headers=AUTHOR, json=body)
    assert answer.status_code == status
    assert answer.get_json()["error"]["message"]


def test_a_channel_key_may_not_try_versions(client):
    answer = client.post(f"/v1/packs/{active_hash(client)}/try", headers=CHANNEL, json={
        "contact_id": "c1", "channel": "email"})
    assert answer.status_code == 403


def test_me_says_what_each_key_may_do(client, tmp_path):
    assert "activate_pack" not in client.get("/v1/me", headers=AUTHOR).get_json()["may"]
    assert "activate_pack" in client.get("/v1/me", headers=ADMIN).get_json()["may"]
    assert client.get("/v1/me", headers=CHANNEL).get_json()["role"] == "channel"
    assert client.get("/v1/me").status_code == 401
    authors_activate = create_app({
        "NBA_STORE_URL": f"sqlite:///{tmp_path}/other.db", "NBA_PACK": str(PACKS / "shop.yaml"),
        "NBA_API_KEYS": KEYS, "NBA_AUTHORS_MAY_ACTIVATE": "1"}).test_client()
    assert "activate_pack" in authors_activate.get("/v1/me", headers=AUTHOR).get_json()["may"]


def test_the_authors_page_and_its_assets_are_served_by_the_service(client):
    page = client.get("/author")
    assert page.status_code == 200 and b"pack-editor.js" in page.data
    assert page.headers["X-Frame-Options"] == "DENY"
    with client.get("/author/static/pack-editor.js") as editor:
        assert editor.status_code == 200 and b"PackEditor" in editor.data
