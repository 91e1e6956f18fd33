"""The emulator on its own: documented validation, auth, token endpoints, job queue, CLI."""

from __future__ import annotations

import contextlib

import pytest
import requests

from tests.harness import EmulatorClient, emulator_cli

REFRESH = "/inv/api/v5/inventory/refresh/"
ADJUST = "/inv/api/v5/inventory/adjust/"


def _post(emulator, path, body, **headers):
    base = emulator.headers()  # the tenant and an access token
    return requests.post(emulator.url + path, json=body, headers={**base, **headers}, timeout=10)


def _item(**fields):
    return {"sku": "A", "quantity": 1, **fields}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (REFRESH, [], "the body must be a JSON object"),
        (REFRESH, {"items": []}, "locationName: required"),
        (REFRESH, {"locationName": "", "items": []}, "locationName: required"),
        (REFRESH, {"locationName": "L"}, "items: required"),
        (REFRESH, {"locationName": "L", "items": [_item()] * 12001}, "at most 12000 items"),
        (ADJUST, {"locationName": "L", "items": [_item()] * 1001}, "at most 1000 items"),
        (REFRESH, {"locationName": "L", "items": [_item(), {"sku": "B"}]}, "items[1].quantity"),
        (REFRESH, {"locationName": "L", "items": [_item(quantity=-1)]}, "items[0].quantity"),
        (REFRESH, {"locationName": "L", "items": [{"quantity": 1}]}, "one of partNumber"),
        (REFRESH, {"locationName": "L", "items": [_item(sku="")]}, "items[0].sku"),
        (REFRESH, {"locationName": "L", "items": [_item(binID=0)]}, "items[0].binID"),
        (REFRESH, {"locationName": "L", "items": [_item(quantity=1.5)]}, "items[0].quantity"),
        (REFRESH, {"locationName": "L", "items": [_item(ltd="x")]}, "items[0].ltd"),
        (
            REFRESH,
            {"locationName": "L", "items": [_item(inventoryLocatorName="A" * 51)]},
            "items[0].inventoryLocatorName",
        ),
        (
            REFRESH,
            {"locationName": "L", "items": [_item(attributes=["a"] * 64)]},
            "items[0].attributes",
        ),
        (ADJUST, {"locationName": "L", "items": [_item(floor=1)]}, "not a field of adjust"),
        (REFRESH, {"locationName": "L", "items": [_item(color="red")]}, "items[0].color"),
    ],
)
def test_bodies_that_break_the_documented_rules_get_400(emulator, path, body, message):
    answer = _post(emulator, path, body)
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert emulator.jobs() == []


@pytest.mark.parametrize(
    "path",
    [
        "/inv/api/v5/inventory/refresh/",
        "/inv/api/v5/inventory/refresh",
        "/api/v5/inventory/refresh",
        "/api/v5/inventory/refresh/",
    ],
)
def test_both_packages_with_and_without_trailing_slash(emulator, path):
    answer = _post(emulator, path, {"locationName": "L", "items": [_item(quantity=3)]})
    assert answer.status_code == 200
    assert isinstance(answer.json()["jobID"], int)
    assert emulator.stock() == {("L", "A"): 3}


def test_documented_example_request_is_accepted(emulator):
    body = {
        "locationName": "Location 1",
        "items": [{"partNumber": "101010", "sku": "101010", "quantity": "101"}],
    }
    assert _post(emulator, REFRESH, body).status_code == 200
    assert emulator.stock() == {("Location 1", "101010"): 101}


def test_jobs_apply_one_at_a_time_in_order(emulator):
    requests_in_order = [(REFRESH, 5), (REFRESH, 9), (REFRESH, 2), (ADJUST, -3)]
    ids = [
        _post(emulator, path, {"locationName": "L", "items": [_item(quantity=q)]}).json()["jobID"]
        for path, q in requests_in_order
    ]
    assert ids == sorted(ids)
    assert emulator.stock() == {("L", "A"): -1}
    job = emulator.job(ids[-1])
    assert (job["type"], job["status"], job["itemCount"], job["locationCode"]) == (
        "ADJUST",
        "SUCCESS",
        1,
        "L",
    )
    assert requests.get(emulator.url + "/emulator/jobs/999999", timeout=5).status_code == 404


def test_tenant_and_bearer_are_checked(emulator):
    body = {"locationName": "L", "items": [_item()]}
    assert _post(emulator, REFRESH, body, **{"x-vol-tenant": "other"}).status_code == 401
    assert _post(emulator, REFRESH, body, Authorization="Bearer nope").status_code == 401
    assert _post(emulator, REFRESH, body, Authorization="").status_code == 401
    assert emulator.jobs() == []


@pytest.mark.parametrize("path", [REFRESH, ADJUST, "/api/v5/inventory/refresh"])
def test_the_api_key_itself_is_no_bearer_unless_the_emulator_is_told(emulator, key_emulator, path):
    """Kibo documents OAuth 2.0 access tokens only; `--accept-api-key-as-bearer` (the
    Options.accept_api_key of key_emulator) lets the translated endpoints take the key too."""
    body = {"locationName": "L", "items": [_item()]}
    key = {"Authorization": f"Bearer {emulator.api_key}"}
    refused = _post(emulator, path, body, **key)
    assert refused.status_code == 401
    assert refused.json()["message"] == (
        "the API key is no bearer token: get an OAuth 2.0 access token from the token endpoint "
        "with the Application (Client) ID and the Client Secret"
    )
    assert [(r["auth"], r["status"]) for r in emulator.api_requests()] == [("api_key", 401)]
    assert _post(key_emulator, path, body, **key).status_code == 200
    assert _post(emulator, path, body).status_code == 200  # with an access token


def test_token_endpoints_issue_tokens_that_authorize(emulator):
    kibo = requests.post(
        emulator.url + "/api/platform/applications/authtickets/oauth",
        json={
            "client_id": emulator.api_key,
            "client_secret": emulator.api_secret,
            "grant_type": "client_credentials",
        },
        timeout=5,
    )
    assert kibo.status_code == 200
    assert kibo.json()["expires_in"] == 3600
    legacy = requests.post(
        emulator.url + "/oauthserver/oauth2/token",
        auth=(emulator.api_key, emulator.api_secret),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert legacy.status_code == 200
    body = {"locationName": "L", "items": [_item()]}
    for token in (kibo.json()["access_token"], legacy.json()["access_token"]):
        assert _post(emulator, REFRESH, body, Authorization=f"Bearer {token}").status_code == 200
    bad = requests.post(
        emulator.url + "/oauthserver/oauth2/token",
        auth=(emulator.api_key, "wrong"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert bad.status_code == 401


@contextlib.contextmanager
def _serving(*args: str):
    """Run the kibo-emulator CLI until the block ends; yield its URL."""
    with emulator_cli(*args) as (url, process):
        yield url
        process.terminate()


def test_cli_serves_on_loopback_and_keeps_stock_in_its_sqlite_file(tmp_path):
    args = ("--tenant", "demo", "--api-key", "demo-key", "--db", str(tmp_path / "inv.sqlite"))
    with _serving(*args) as url:
        # the demo Client Secret is the default, documented in --help and the README
        headers = EmulatorClient(url, "demo", "demo-key", "demo-secret").headers()
        body = {"locationName": "L", "items": [_item(quantity=4)]}
        answer = requests.post(url + REFRESH, json=body, headers=headers, timeout=10)
        assert answer.json() == {"jobID": 1}
        requests.get(url + "/emulator/jobs?wait=1", timeout=10)
    with _serving(*args) as url:  # a restart keeps the stock
        stock = requests.get(url + "/emulator/inventory", timeout=10).json()["inventory"]
    assert stock == [{"locationName": "L", "sku": "A", "quantity": 4}]
