"""The HTTP API as channels and rule authors use it (Flask test client)."""
from __future__ import annotations

import json

import pytest

from api import create_app
from api.config import ConfigurationError
from engine.errors import InvalidPack
from tests.conftest import ENGINE, PACKS

KEYS = "chan-key-123:channel,author-key-1:author,admin-key-12:admin"


def make_client(**config):
    settings = {"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "minimal.yaml")}
    settings.update(config)
    return create_app(settings).test_client()


@pytest.fixture
def client():
    return make_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def decide(client, **body):
    body.setdefault("contact_id", "c1")
    body.setdefault("channel", "email")
    body.setdefault("at", "2026-11-22T10:00:00Z")
    return client.post("/v1/decisions", json=body)


def test_a_decision_answers_with_actions_pack_and_rendered_content(client):
    client.put("/v1/contacts/c1", json={"profile": {"first_name": "Ana"},
                                        "consents": {"email": True}})
    answer = decide(client).get_json()
    assert answer["contact_id"] == "c1" and answer["channel"] == "email"
    assert answer["pack"]["name"] == "minimal" and answer["pack"]["hash"].startswith("sha256:")
    [action] = answer["actions"]
    assert action["action_id"] == "promo_black_friday"
    assert action["content"] == {"subject": "Black Friday, Ana !"}
    assert "excluded" not in answer


def test_explain_lists_every_excluded_candidate_with_policy_rule_and_reason(client):
    answer = decide(client, explain=True, profile={"consents": {"email": True}}).get_json()
    excluded = {e["action_id"]: e for e in answer["excluded"]}
    assert excluded["order_confirmation"]["policy"] == "eligibility"
    assert excluded["promo_generic"]["policy"] == "group"
    assert excluded["promo_generic"]["rule"] == "promo"
    assert excluded["promo_generic"]["reason"].endswith("one action per group.")


def test_templates_cannot_reach_python_internals(tmp_path):
    pack = (PACKS / "minimal.yaml").read_text().replace(
        "Black Friday, {{ contact.first_name }} !",
        "{{ contact.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "p.yaml").write_text(pack)
    client = make_client(NBA_PACK=str(tmp_path / "p.yaml"))
    response = decide(client, explain=True, profile={"consents": {"email": True}})
    assert response.status_code == 200
    answer = response.get_json()
    assert "subclasses" not in json.dumps(answer["actions"])
    refused = [e for e in answer["excluded"] if e["action_id"] == "promo_black_friday"]
    assert refused and "could not be written" in refused[0]["reason"]


def test_outcomes_are_recorded_once_and_unknown_decisions_are_404(client):
    first = decide(client, profile={"consents": {"email": True}}).get_json()
    body = {"decision_id": first["decision_id"], "action_id": "promo_black_friday",
            "outcome": "converted", "value": 49.9}
    assert client.post("/v1/outcomes", json=body).get_json()["duplicate"] is False
    assert client.post("/v1/outcomes", json=body).get_json()["duplicate"] is True
    [entry] = client.get("/v1/contacts/c1/history").get_json()["entries"]
    assert [(o["outcome"], o["value"]) for o in entry["outcomes"]] == [("converted", 49.9)]
    missing = client.post("/v1/outcomes", json={**body, "decision_id": "nope"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_decision"


def test_contacts_can_be_replaced_merged_read_and_erased(client):
    client.put("/v1/contacts/c9", json={"profile": {"a": 1, "b": 2}, "consents": {"sms": True}})
    merged = client.patch("/v1/contacts/c9", json={"profile": {"b": 3},
                                                    "consents": {"email": False}})
    assert merged.get_json() == {"contact_id": "c9", "profile": {"a": 1, "b": 3},
                                 "consents": {"sms": True, "email": False}}
    replaced = client.put("/v1/contacts/c9", json={"profile": {"z": 0}})
    assert replaced.get_json()["profile"] == {"z": 0} and replaced.get_json()["consents"] == {}
    assert client.delete("/v1/contacts/c9").status_code == 204
    assert client.get("/v1/contacts/c9").status_code == 404
    assert client.delete("/v1/contacts/c9").status_code == 404


def test_erasing_a_contact_erases_its_history_too(client):
    decide(client, contact_id="c5", profile={"consents": {"email": True}})
    assert len(client.get("/v1/contacts/c5/history").get_json()["entries"]) == 1
    assert client.delete("/v1/contacts/c5").status_code == 204
    assert client.get("/v1/contacts/c5/history").status_code == 404


@pytest.mark.parametrize("body, status, code", [
    (b"{", 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b"\xff\xfe", 400, "malformed_json"),
    (b"[1, 2]", 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "profile": {"score": NaN}}', 400,
     "malformed_json"),
    (b'{"channel": "email"}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "limit": 0}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "limit": "2"}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "explain": "yes"}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "at": "yesterday"}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "at": "0001-01-01T00:00:00Z"}', 422,
     "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "context": []}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "email", "surprise": 1}', 422, "invalid_request"),
    (b'{"contact_id": "c1", "channel": "fax"}', 422, "unknown_channel"),
    (b'{"contact_id": "", "channel": "email"}', 422, "invalid_request"),
])
def test_bad_decision_requests_get_a_clear_error_and_record_nothing(client, body, status, code):
    response = client.post("/v1/decisions", data=body, content_type="application/json")
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert client.get("/v1/contacts/c1/history").status_code == 404


def test_deeply_nested_json_is_refused_without_a_500(client):
    body = b'{"contact_id": "c1", "channel": "email", "context": ' + b"[" * 30000 + b"]" * 30000 + b"}"
    response = client.post("/v1/decisions", data=body, content_type="application/json")
    assert response.status_code in (400, 422)


def test_objects_nested_more_than_32_levels_are_refused(client):
    nested = {"a": 1}
    for _ in range(40):
        nested = {"a": nested}
    response = client.put("/v1/contacts/c1", json={"profile": nested})
    assert response.status_code == 422 and "nested" in response.get_json()["error"]["message"]
    assert client.get("/v1/contacts/c1").status_code == 404


def test_schema_errors_list_each_field(client):
    response = client.post("/v1/decisions", json={"channel": 3, "limit": 99})
    fields = response.get_json()["error"]["fields"]
    assert set(fields) == {"contact_id", "channel", "limit"}


def test_a_body_over_64_kib_is_refused_with_413(client):
    body = {"contact_id": "c1", "channel": "email", "context": {"x": "y" * 70_000}}
    response = client.post("/v1/decisions", json=body)
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413


@pytest.mark.parametrize("method, path, body", [
    ("post", "/v1/outcomes", {"decision_id": "d", "action_id": "a", "outcome": "loved"}),
    ("post", "/v1/outcomes", {"decision_id": "d", "action_id": "a", "outcome": "clicked",
                              "value": "12"}),
    ("put", "/v1/contacts/c1", {"profile": [], "consents": {}}),
    ("put", "/v1/contacts/c1", {"profile": {}, "consents": {"email": "yes"}}),
    ("put", "/v1/contacts/c1", {"profile": {}, "consents": {"fax": True}}),
    ("patch", "/v1/contacts/c1", {"nickname": "x"}),
])
def test_other_bad_bodies_are_422_and_change_nothing(client, method, path, body):
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 422, response.get_json()
    assert client.get("/v1/contacts/c1").status_code == 404


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/v1/nothing").get_json()["error"]["status"] == 404
    assert client.get("/v1/decisions").get_json()["error"]["status"] == 405


def test_roles_limit_what_each_key_may_do():
    client = make_client(NBA_API_KEYS=KEYS)
    assert decide(client).status_code == 401
    assert client.post("/v1/decisions", headers=bearer("wrong-key-1"),
                       json={"contact_id": "c1", "channel": "email"}).status_code == 401
    channel, author, admin = bearer("chan-key-123"), bearer("author-key-1"), bearer("admin-key-12")
    body = {"contact_id": "c1", "channel": "email", "at": "2026-11-22T10:00:00Z"}
    assert client.post("/v1/decisions", json=body, headers=channel).status_code == 200
    assert client.post("/v1/decisions", json=body, headers=author).status_code == 403
    assert client.post("/v1/decisions", json={**body, "dry_run": True},
                       headers=author).status_code == 200
    assert client.get("/v1/pack", headers=author).status_code == 200
    assert client.get("/v1/pack", headers=channel).status_code == 403
    assert client.delete("/v1/contacts/c1", headers=channel).status_code == 403
    assert client.delete("/v1/contacts/c1", headers=admin).status_code in (204, 404)
    assert client.get("/healthz").status_code == 200


def test_the_service_refuses_to_start_on_an_invalid_pack_or_setting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: x\n")
    with pytest.raises(InvalidPack, match="missing required key 'channels'"):
        make_client(NBA_PACK=str(bad))
    with pytest.raises(ConfigurationError, match="KEY:ROLE"):
        make_client(NBA_API_KEYS="just-a-key")
    with pytest.raises(ValueError, match="unsupported store URL"):
        make_client(NBA_STORE_URL="mongodb://localhost")
    with pytest.raises(ConfigurationError, match="unknown engine"):
        make_client(NBA_ENGINE="drools")


def test_pack_health_openapi_and_docs_are_served(client):
    pack = client.get("/v1/pack").get_json()
    assert pack["engine"] == ENGINE
    assert pack["fallbacks"] == {}  # the complaint cooldown reads 90 days back
    assert pack["history_horizon_days"] == 90
    assert "winback_call" in [a["id"] for a in pack["actions"]]
    assert client.get("/healthz").get_json()["engine"] == ENGINE
    assert client.get("/readyz").status_code == 200
    spec = client.get("/openapi.json").get_json()
    assert "DecisionRequest" in spec["components"]["schemas"]
    assert "/v1/decisions" in spec["paths"]
    assert b"swagger-ui-bundle.js" in client.get("/docs").data
    asset = client.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


class FailingBackend:
    """A backend whose engine fails on every decision, as a native core can."""

    name = "failing"

    def prepare(self, plan) -> None:
        return None

    def decide(self, *args, **kwargs):
        from engine.errors import EngineUnavailable

        raise EngineUnavailable("the native core failed; its ruleset was rebuilt")


def test_an_engine_failure_is_a_503_to_retry_and_records_nothing(client):
    services = client.application.extensions["nba"]
    services.decisions.backend = FailingBackend()
    answer = client.post("/v1/decisions", json={"contact_id": "c-engine", "channel": "email"},
                         headers=bearer("chan-key-123"))
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "engine_unavailable"
    assert services.store.history("c-engine") == ()


def test_answers_without_explanations_are_what_the_response_schema_dumps():
    from datetime import datetime, timedelta, timezone

    from api.routes.decisions import _decision_answer, _decision_response, plain_decision_answer
    from engine.language.compiler import load_pack
    from engine.model import ContactRecord, DecisionRequest
    from tests.conftest import ROOT, Desk

    desk = Desk()
    desk.service.pack.swap(load_pack(ROOT / "rules" / "retail.yaml"))
    desk.store.put_contact(ContactRecord("c1", {
        "first_name": "Ana", "orders_count": 6, "last_order_at": "2026-06-01",
        "total_spend": 2400, "scores": {"appetence": 0.3, "attrition": 0.7}},
        {"email": True, "sms": True, "call": True}))
    start = datetime(2026, 11, 23, 10, 0, 0, 123, tzinfo=timezone.utc)
    answers = 0
    for hour, (contact, channel, placement, limit, dry_run) in enumerate([
            ("c1", "call", None, 1, False), ("c1", "email", None, 3, True),
            ("c1", "web", "home_banner", 2, False), ("visitor", "web", None, 1, True),
            ("c1", "agent", None, 5, False), ("c1", "email", None, 1, False)]):
        body = {"contact_id": contact, "channel": channel, "placement": placement,
                "limit": limit, "dry_run": dry_run, "explain": False, "context": {},
                "profile": {}, "at": start + timedelta(hours=hour, minutes=7)}
        result = desk.service.decide(DecisionRequest(**body), f"d{hour}")
        answers += len(result.decision.actions)
        assert plain_decision_answer(result, body, "compiled") == _decision_response.dump(
            _decision_answer(result, body, "compiled"))
        assert list(plain_decision_answer(result, body, "compiled")) == list(
            _decision_response.dump(_decision_answer(result, body, "compiled")))
    assert answers >= 6  # actions and fallbacks were compared, not only empty answers
