"""Rule authors' workflow over the API (Flask test client): upload, read, diff,
activate, roll back, audit; broken packs refused with every problem located."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.conftest import PACKS

KEYS = "chan-key-123:channel,author-key-1:author,admin-key-12:admin"
AUTHOR = {"Authorization": "Bearer author-key-1"}
ADMIN = {"Authorization": "Bearer admin-key-12"}
CHANNEL = {"Authorization": "Bearer chan-key-123"}
MINIMAL = (PACKS / "minimal.yaml").read_text()
YAML = "application/yaml"


def variant(version: str = "2", priority: str = "20") -> str:
    """minimal.yaml as a new version, with the newsletter's priority changed."""
    text = MINIMAL.replace('version: "1"', f'version: "{version}"')
    return text.replace("    priority: 20\n", f"    priority: {priority}\n", 1)


def make_client(tmp_path, **config):
    settings = {"NBA_STORE_URL": f"sqlite:///{tmp_path}/nba.db",
                "NBA_PACK": str(PACKS / "minimal.yaml"), "NBA_API_KEYS": KEYS}
    settings.update(config)
    return create_app(settings).test_client()


@pytest.fixture
def client(tmp_path):
    return make_client(tmp_path)


def upload(client, source: str, headers=AUTHOR, **query):
    return client.post("/v1/packs", data=source, content_type=YAML, headers=headers,
                       query_string=query)


def decided_hash(client) -> str:
    answer = client.post("/v1/decisions", headers=CHANNEL, json={
        "contact_id": "c1", "channel": "email", "at": "2026-11-22T10:00:00Z"})
    assert answer.status_code == 200
    return answer.get_json()["pack"]["hash"]


def test_the_pack_a_service_starts_with_is_registered_and_active(client):
    listing = client.get("/v1/packs", headers=AUTHOR).get_json()
    [group] = listing["packs"]
    [version] = group["versions"]
    assert group["name"] == "minimal" and version["active"] is True
    assert version["label"] == "NBA_PACK" and listing["active"] == version["hash"]
    assert decided_hash(client) == version["hash"]


def test_a_broken_pack_gets_every_problem_located_and_nothing_is_stored(client):
    broken = variant().replace("kind: relational", "kind: friendly").replace(
        "when: facts.vip_at_risk", "when: facts.vip_at_risk and")
    answer = upload(client, broken)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_pack"
    by_path = {p["path"]: p for p in error["problems"]}
    kind = by_path["actions[4].kind"]
    assert kind["line"] == broken.splitlines().index("    kind: friendly") + 1
    assert kind["column"] == 5 and "kind is one of" in kind["message"]
    assert "not a valid expression" in by_path["actions[1].when"]["message"]
    assert len(client.get("/v1/packs", headers=AUTHOR).get_json()["packs"][0]["versions"]) == 1


def test_a_yaml_syntax_error_names_its_line_and_column(client):
    answer = upload(client, "pack: minimal\nchannels: {email: [\n")
    [problem] = answer.get_json()["error"]["problems"]
    assert answer.status_code == 422 and problem["line"] == 3 and problem["column"] == 1
    assert problem["message"].startswith("YAML syntax error")


def test_a_pack_whose_own_test_fails_is_refused_with_the_test_line(client):
    failing = variant().replace("expect: {actions: [winback_call]", "expect: {actions: [newsletter]")
    answer = upload(client, failing)
    assert answer.status_code == 422
    [problem] = answer.get_json()["error"]["problems"]
    assert answer.get_json()["error"]["code"] == "pack_tests_failed"
    assert problem["path"] == "tests[0]" and "lapsed VIP is called first" in problem["message"]
    assert problem["line"] == failing.splitlines().index("  - name: lapsed VIP is called first") + 1


def test_a_pack_without_tests_is_refused(client):
    untested = variant().split("\ntests:")[0] + "\n"
    answer = upload(client, untested)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "untested_pack"


def test_a_valid_pack_is_stored_inactive_with_who_and_its_test_results(client):
    answer = upload(client, variant(), label="newsletter first")
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["created"] is True and body["pack"]["active"] is False
    assert body["pack"]["tests"] == {"ran": True, "passed": 1, "failed": 0}
    assert body["pack"]["label"] == "newsletter first"
    assert body["pack"]["uploaded_by"]["role"] == "author"
    assert body["pack"]["uploaded_by"]["key"].startswith("key:")
    assert "author-key-1" not in answer.get_data(as_text=True)
    again = upload(client, variant())
    assert again.status_code == 200 and again.get_json()["created"] is False


def test_the_json_form_stores_the_same_version_as_the_yaml_form(client):
    answer = client.post("/v1/packs", headers=AUTHOR, json={"source": variant(), "label": "x"})
    assert answer.status_code == 201
    assert upload(client, variant()).get_json()["pack"]["hash"] == answer.get_json()["pack"]["hash"]


@pytest.mark.parametrize("body, content_type, status", [
    ("{not json", "application/json", 400),
    ('{"source": 12}', "application/json", 422),
    ('{"source": "pack: x", "extra": 1}', "application/json", 422),
    ("", YAML, 422),
    ("pack: x", "application/octet-stream", 422),
    (b"\xff\xfe pack", YAML, 422),
    ("- just\n- a list\n", YAML, 422),
])
def test_bad_upload_bodies_get_a_clear_error_and_store_nothing(client, body, content_type,
                                                              status):
    answer = client.post("/v1/packs", data=body, content_type=content_type, headers=AUTHOR)
    assert answer.status_code == status and answer.get_json()["error"]["message"]
    assert len(client.get("/v1/packs", headers=AUTHOR).get_json()["packs"][0]["versions"]) == 1


def test_a_pack_over_the_size_limit_gets_413(tmp_path):
    client = make_client(tmp_path, NBA_MAX_PACK_BYTES=1000)
    answer = upload(client, variant())
    assert answer.status_code == 413 and answer.get_json()["error"]["code"] == "pack_too_large"


def test_a_version_is_read_back_with_its_source_as_json_or_yaml(client):
    pack_hash = upload(client, variant()).get_json()["pack"]["hash"]
    detail = client.get(f"/v1/packs/{pack_hash}", headers=AUTHOR).get_json()
    assert detail["source"] == variant() and detail["version"] == "2"
    raw = client.get(f"/v1/packs/{pack_hash.split(':')[1]}",
                     headers={**AUTHOR, "Accept": YAML})
    assert raw.mimetype == YAML and raw.get_data(as_text=True) == variant()


@pytest.mark.parametrize("name", ["sha256:ffffffffffffffff", "nonsense", "sha256:", "x" * 300])
def test_an_unknown_or_malformed_hash_gets_404(client, name):
    for path in (f"/v1/packs/{name}", f"/v1/packs/{name}/diff/{name}"):
        assert client.get(path, headers=AUTHOR).status_code == 404
    assert client.post(f"/v1/packs/{name}/activate", headers=ADMIN).status_code == 404


def test_the_diff_names_added_removed_and_changed_items_and_fields(client):
    first = client.get("/v1/packs", headers=AUTHOR).get_json()["active"]
    changed = variant(priority="25").replace("  - id: home_banner_offer",
                                             "  - id: home_banner_promo")
    second = upload(client, changed).get_json()["pack"]["hash"]
    diff = client.get(f"/v1/packs/{first}/diff/{second}", headers=AUTHOR).get_json()
    assert diff["pack"] == [{"field": "version", "before": "1", "after": "2"}]
    assert diff["actions"]["added"] == ["home_banner_promo"]
    assert diff["actions"]["removed"] == ["home_banner_offer"]
    assert diff["actions"]["changed"] == [
        {"id": "newsletter", "fields": [{"field": "priority", "before": 20, "after": 25}]}]
    assert diff["policies"]["pressure"] == {"added": [], "removed": [], "changed": []}
    assert diff["identical"] is False and diff["changes"] == 4


def test_a_changed_field_deep_in_a_policy_is_named(client):
    first = client.get("/v1/packs", headers=AUTHOR).get_json()["active"]
    changed = variant().replace("max: 4, per: 7d", "max: 5, per: 7d")
    second = upload(client, changed).get_json()["pack"]["hash"]
    diff = client.get(f"/v1/packs/{first}/diff/{second}", headers=AUTHOR).get_json()
    assert diff["policies"]["pressure"]["changed"] == [
        {"id": "weekly_commercial", "fields": [{"field": "max", "before": 4, "after": 5}]}]


def test_activation_makes_the_next_decision_use_the_new_version(client):
    first = decided_hash(client)
    second = upload(client, variant()).get_json()["pack"]["hash"]
    answer = client.post(f"/v1/packs/{second}/activate", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.get_json() == {"active": second, "previous": first}
    assert decided_hash(client) == second
    assert client.get("/v1/pack", headers=AUTHOR).get_json()["hash"] == second


def test_a_rollback_goes_back_to_the_previous_version_and_then_has_nowhere_to_go(client):
    first = decided_hash(client)
    second = upload(client, variant()).get_json()["pack"]["hash"]
    client.post(f"/v1/packs/{second}/activate", headers=ADMIN)
    answer = client.post("/v1/packs/rollback", headers=ADMIN)
    assert answer.get_json() == {"active": first, "previous": second}
    assert decided_hash(client) == first
    nothing = client.post("/v1/packs/rollback", headers=ADMIN)
    assert nothing.status_code == 409 and nothing.get_json()["error"]["code"] == \
        "nothing_to_roll_back"


def test_authors_may_upload_but_not_activate_and_channels_may_do_neither(client):
    second = upload(client, variant()).get_json()["pack"]["hash"]
    assert client.post(f"/v1/packs/{second}/activate", headers=AUTHOR).status_code == 403
    assert client.post("/v1/packs/rollback", headers=AUTHOR).status_code == 403
    assert upload(client, variant("3"), headers=CHANNEL).status_code == 403
    assert client.get("/v1/packs", headers=CHANNEL).status_code == 403
    assert client.get("/v1/audit", headers=CHANNEL).status_code == 403
    assert client.get("/v1/packs").status_code == 401


def test_authors_may_activate_when_the_setting_allows_it(tmp_path):
    client = make_client(tmp_path, NBA_AUTHORS_MAY_ACTIVATE="1")
    second = upload(client, variant()).get_json()["pack"]["hash"]
    assert client.post(f"/v1/packs/{second}/activate", headers=AUTHOR).status_code == 200


def test_the_audit_log_says_who_did_what_and_when(client):
    client.put("/v1/contacts/c7", headers=CHANNEL, json={"profile": {}, "consents": {}})
    second = upload(client, variant()).get_json()["pack"]["hash"]
    client.post(f"/v1/packs/{second}/activate", headers=ADMIN)
    client.post("/v1/packs/rollback", headers=ADMIN)
    assert client.delete("/v1/contacts/c7", headers=ADMIN).status_code == 204
    log = client.get("/v1/audit", headers=ADMIN)
    entries = log.get_json()["entries"]
    assert [e["action"] for e in entries] == ["erase_contact", "rollback", "activate", "upload",
                                              "activate", "upload"]
    erase, rollback, activate, uploaded = entries[:4]
    assert erase["actor"]["role"] == "admin" and "c7" not in str(erase["what"])
    assert erase["what"]["contact"].startswith("sha256:")
    assert rollback["what"]["from"] == second
    assert activate["what"]["hash"] == second and activate["actor"]["role"] == "admin"
    assert uploaded["actor"]["role"] == "author" and uploaded["what"]["version"] == "2"
    assert entries[-1]["actor"] == {"role": "operator", "key": None}
    page = client.get("/v1/audit?limit=2", headers=ADMIN).get_json()
    older = client.get(f"/v1/audit?before={page['next_before']}", headers=ADMIN).get_json()
    assert [e["seq"] for e in page["entries"] + older["entries"]] == [e["seq"] for e in entries]
    assert client.get("/v1/audit?limit=0", headers=ADMIN).status_code == 422
    assert client.get("/v1/audit?limit=abc", headers=ADMIN).status_code == 422


def test_a_restart_keeps_the_active_version_unless_forced(tmp_path):
    client = make_client(tmp_path)
    second = upload(client, variant()).get_json()["pack"]["hash"]
    client.post(f"/v1/packs/{second}/activate", headers=ADMIN)
    assert decided_hash(make_client(tmp_path)) == second
    forced = make_client(tmp_path, NBA_PACK_FORCE="1")
    assert decided_hash(forced) != second
    assert forced.get("/v1/audit?limit=1", headers=ADMIN).get_json()["entries"][0]["what"][
        "forced"] is True


PACK_LINES = MINIMAL.splitlines()
yaml_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                        st.lists(st.text(max_size=5), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(line=st.integers(0, len(PACK_LINES) - 1), value=yaml_values)
def test_no_pack_however_mangled_makes_the_upload_answer_500(client, line, value):
    lines = list(PACK_LINES)
    key, sep, _ = lines[line].partition(":")
    lines[line] = f"{key}{sep} {json.dumps(value)}" if sep else json.dumps(value)
    answer = upload(client, "\n".join(lines) + "\n")
    assert answer.status_code in (200, 201, 422), answer.get_data(as_text=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_no_bytes_make_the_upload_answer_500(client, raw):
    assert upload(client, raw).status_code in (413, 422)


@pytest.mark.parametrize("old, new, path", [
    ("    channels: [email]\n", "    channels:\n", "actions[4].channels"),
    ("  - id: newsletter\n", "  - id: [newsletter]\n", "actions[4].id"),
    ("    program: newsletter\n", '    program: "news\\udc80"\n', "actions[4].program"),
])
def test_packs_that_once_broke_the_compiler_are_refused_with_their_problem(client, old, new,
                                                                          path):
    answer = upload(client, variant().replace(old, new, 1))
    assert answer.status_code == 422
    assert path in [p["path"] for p in answer.get_json()["error"]["problems"]]
