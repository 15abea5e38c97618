"""No request to the authors' workbench (check, try, shadow), however malformed,
makes the service answer 500, and a refused one changes nothing."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app
from tests.conftest import PACKS
from tests.test_api_fuzz import field_values, values

APP = None
SHOP = (PACKS / "shop.yaml").read_text()
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def client():
    global APP
    if APP is None:
        APP = create_app({"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "shop.yaml")})
    return APP.test_client()


def active() -> str:
    return client().get("/v1/packs").get_json()["active"]


try_bodies = st.dictionaries(st.sampled_from(
    ["contact_id", "contact", "channel", "placement", "context", "limit", "at", "x"]),
    st.one_of(field_values, st.fixed_dictionaries(
        {"id": st.one_of(st.text(max_size=5), values)},
        optional={"profile": values, "consents": values})), max_size=7)
shadow_bodies = st.dictionaries(st.sampled_from(["share", "duration", "x"]), st.one_of(
    values, st.sampled_from(["60s", "0s", "8d", "1h", "5x", "1e9s"]),
    st.floats(-1, 2)), max_size=3)


@FUZZ
@given(body=st.one_of(try_bodies, values))
def test_random_try_bodies_never_cause_a_500(body):
    response = client().post(f"/v1/packs/{active()}/try", data=json.dumps(body),
                             content_type="application/json")
    assert response.status_code in (200, 400, 422), response.get_json()
    history = client().get("/v1/contacts/c1/history")
    assert history.status_code == 404 or history.get_json()["entries"] == []


@FUZZ
@given(body=st.one_of(shadow_bodies, values))
def test_random_shadow_bodies_never_cause_a_500(body):
    response = client().post("/v1/packs/sha256:0123456789abcdef/shadow",
                             data=json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 404, 422), response.get_json()


@FUZZ
@given(cut=st.integers(0, len(SHOP)), junk=st.text(max_size=20))
def test_random_edits_of_a_draft_are_checked_without_a_500(cut, junk):
    draft = SHOP[:cut] + junk + SHOP[cut:]
    before = len(client().get("/v1/packs").get_json()["packs"][0]["versions"])
    response = client().post("/v1/packs/check", data=draft.encode("utf-8", "surrogatepass"),
                             content_type="application/yaml")
    assert response.status_code in (200, 413, 422), response.get_json()
    assert len(client().get("/v1/packs").get_json()["packs"][0]["versions"]) == before
