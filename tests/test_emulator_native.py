"""Kibo's native Unified Commerce refresh/adjust: token-only auth, site, the spec's bodies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH, Emulator, Options

TENANT, API_KEY, SECRET, SITE = "100234", "native-key", "native-secret", "5"
REFRESH = "/api/commerce/inventory/v5/inventory/refresh"
ADJUST = "/api/commerce/inventory/v5/inventory/adjust"


class Native:
    """An in-process emulator (started with a site, or not) and a valid token."""

    def __init__(self, site: str | None) -> None:
        self.server = Emulator(TENANT, API_KEY, SECRET, options=Options(site=site))
        self.url = self.server.start()
        form = {"client_id": API_KEY, "client_secret": SECRET, "grant_type": "client_credentials"}
        token = requests.post(self.url + KIBO_TOKEN_PATH, json=form, timeout=5).json()
        self.headers = {"x-vol-tenant": TENANT, "Authorization": f"Bearer {token['access_token']}"}
        if site is not None:
            self.headers["x-vol-site"] = site

    def post(self, path: str, body: object, **headers: str) -> requests.Response:
        all_headers = {k: v for k, v in {**self.headers, **headers}.items() if v is not None}
        return requests.post(self.url + path, json=body, headers=all_headers, timeout=10)

    def stock(self) -> list[dict]:
        return requests.get(self.url + "/emulator/inventory?wait=1", timeout=30).json()["inventory"]

    def jobs(self) -> list[dict]:
        return requests.get(self.url + "/emulator/jobs?wait=1", timeout=30).json()["jobs"]


@pytest.fixture
def native() -> Iterator[Native]:
    server = Native(SITE)
    yield server
    server.server.stop()


@pytest.fixture
def siteless() -> Iterator[Native]:
    server = Native(None)
    yield server
    server.server.stop()


FULL_REFRESH_ITEM = {
    "partNumber": "P-1",
    "upc": "0001",
    "sku": "S-1",
    "binID": 3,
    "LTD": 2.5,
    "floor": 1,
    "safetyStock": 2,
    "quantity": 40,
    "retailPrice": 9.99,
    "currencyID": 1,
    "inventoryLocatorName": "Aisle 5",
    "attributes": ["A1", "A2"],
    "tags": {"channel": "web"},
    "deliveryDate": "2020-09-28T12:00:00-0500",
    "externalID": "X-1",
    "lotCode": "LOT-7",
    "condition": "new",
    "serialNumber": "SN-1",
    "date": "2024-01-31T00:00:00Z",
}


@pytest.mark.parametrize("path", [REFRESH, REFRESH + "/", ADJUST, ADJUST + "/"])
def test_both_operations_with_and_without_trailing_slash(native, path):
    answer = native.post(path, {"locationCode": "WH1", "items": [{"sku": "A", "quantity": 3}]})
    assert answer.status_code == 200
    assert answer.json() == {"jobID": 1}
    assert native.stock() == [{"locationName": "WH1", "sku": "A", "quantity": 3}]
    [job] = native.jobs()
    assert (job["type"], job["locationCode"], job["status"], job["path"]) == (
        "REFRESH" if "refresh" in path else "ADJUST",
        "WH1",
        "SUCCESS",
        path,
    )


def test_every_field_of_the_spec_is_kept_in_the_stock_row(native):
    body = {"locationCode": "WH1", "userID": 7, "items": [FULL_REFRESH_ITEM]}
    assert native.post(REFRESH, body).status_code == 200
    [row] = native.stock()
    assert row == {"locationName": "WH1", **FULL_REFRESH_ITEM}
    adjust = {"sku": "S-1", "partNumber": "P-1", "quantity": -5, "lotCode": "LOT-8"}
    assert native.post(ADJUST, {"locationCode": "WH1", "items": [adjust]}).status_code == 200
    [row] = native.stock()
    assert (row["quantity"], row["lotCode"], row["LTD"]) == (35, "LOT-8", 2.5)


def _body(**item: object) -> dict:
    return {"locationCode": "WH1", "items": [{"sku": "A", "quantity": 1, **item}]}


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (REFRESH, [], "the body must be a JSON object"),
        (REFRESH, {"items": []}, "locationCode: required"),
        (ADJUST, {"items": []}, "locationCode: required"),
        (REFRESH, {"locationCode": 5, "items": []}, "locationCode: must be a string"),
        (REFRESH, {"locationName": "WH1", "items": []}, "locationName: not a field of Refresh"),
        (REFRESH, {"locationCode": "WH1"}, "items: required"),
        (REFRESH, {"locationCode": "WH1", "items": [], "userID": "7"}, "userID: must be an int"),
        (REFRESH, {"locationCode": "L", "items": [{"sku": "A", "quantity": 1}] * 12001}, "12000"),
        (ADJUST, {"locationCode": "L", "items": [{"sku": "A", "quantity": 1}] * 1001}, "1000"),
        (REFRESH, _body(ltd=1.5), "items[0].ltd: not a field of RefreshItem (did you mean LTD?)"),
        (REFRESH, _body(LTD="high"), "items[0].LTD: must be a number"),
        (REFRESH, _body(quantity="101"), "items[0].quantity: must be an integer"),
        (REFRESH, _body(quantity=1.0), "items[0].quantity: must be an integer"),
        (REFRESH, _body(quantity=True), "items[0].quantity: must be an integer"),
        (REFRESH, _body(quantity=-1), "items[0].quantity: the minimum value is 0"),
        (REFRESH, {"locationCode": "L", "items": [{"sku": "A"}]}, "items[0].quantity: required"),
        (REFRESH, {"locationCode": "L", "items": [{"quantity": 1}]}, "one of partNumber, upc"),
        (REFRESH, _body(sku=""), "items[0].sku: the minimum length is 1"),
        (REFRESH, _body(binID=0), "items[0].binID: the minimum value is 1"),
        (REFRESH, _body(tags=["web"]), "items[0].tags: must be an object of strings"),
        (REFRESH, _body(tags={"channel": 1}), "items[0].tags: must be an object of strings"),
        (REFRESH, _body(deliveryDate="2020-09-28"), "items[0].deliveryDate: must be a date-time"),
        (REFRESH, _body(date="2020-02-30T00:00:00Z"), "items[0].date: must be a date-time"),
        (REFRESH, _body(attributes=["a"] * 64), "items[0].attributes: at most 63"),
        (REFRESH, _body(inventoryLocatorName="A" * 51), "items[0].inventoryLocatorName"),
        (REFRESH, _body(externalID=7), "items[0].externalID: must be a string"),
        (ADJUST, _body(floor=1), "items[0].floor: not a field of AdjustItem"),
        (ADJUST, _body(LTD=1), "items[0].LTD: not a field of AdjustItem"),
        (REFRESH, _body(color="red"), "items[0].color: not a field of RefreshItem"),
        (REFRESH, {"locationCode": "L", "items": ["A"]}, "items[0]: must be an object"),
    ],
)
def test_bodies_that_break_the_spec_get_400_naming_the_field(native, path, body, message):
    answer = native.post(path, body)
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert native.jobs() == []


def test_adjust_quantities_may_be_negative_and_dates_take_either_offset(native):
    items = [
        {"upc": "U", "quantity": -4, "deliveryDate": "2020-09-28T12:00:00.5+05:30"},
        {"partNumber": "P", "quantity": 0, "date": "2020-09-28T12:00:00Z"},
    ]
    assert native.post(ADJUST, {"locationCode": "WH1", "items": items}).status_code == 200
    assert [(r.get("upc"), r["quantity"]) for r in native.stock()] == [("U", -4), (None, 0)]


def test_only_an_issued_token_is_accepted(native):
    body = _body()
    api_key = native.post(REFRESH, body, Authorization=f"Bearer {API_KEY}")
    assert api_key.status_code == 401
    assert "access token" in api_key.json()["message"]
    assert native.post(REFRESH, body, Authorization="Bearer forged").status_code == 401
    assert native.post(REFRESH, body, Authorization=None).status_code == 401
    wrong_tenant = native.post(REFRESH, body, **{"x-vol-tenant": "100235"})
    assert wrong_tenant.status_code == 401
    assert "x-vol-tenant" in wrong_tenant.json()["message"]
    assert native.jobs() == []
    seen = [(r["auth"], r["status"]) for r in native.server.requests() if "operation" in r]
    assert seen == [("api_key", 401), ("refused", 401), ("refused", 401), ("token", 401)]


def test_the_site_is_required_when_the_emulator_has_one(native, siteless):
    """On every Kibo API: Kibo's API Authentication page says the calls may need x-vol-site."""
    translated = {"locationName": "L", "items": [{"sku": "A", "quantity": 1}]}
    path = "/inv/api/v5/inventory/refresh/"
    assert native.post(path, translated, **{"x-vol-site": None}).status_code == 403
    assert native.post(path, translated).status_code == 200
    body = _body()
    missing = native.post(REFRESH, body, **{"x-vol-site": None})
    assert missing.status_code == 403
    assert missing.json() == {
        "error": "Forbidden",
        "message": f"x-vol-site must be this tenant's site {SITE}; got None",
    }
    assert native.post(REFRESH, body, **{"x-vol-site": "6"}).status_code == 403
    assert native.post(REFRESH, body).status_code == 200
    assert siteless.post(REFRESH, body).status_code == 200
    assert siteless.post(REFRESH, body, **{"x-vol-site": "any"}).status_code == 200


def test_native_and_translated_jobs_share_one_queue_and_one_stock(native):
    first = requests.post(
        native.url + "/inv/api/v5/inventory/refresh/",
        json={"locationName": "WH1", "items": [{"sku": "A", "quantity": 10}]},
        headers=native.headers,  # the same token and site
        timeout=5,
    ).json()["jobID"]
    second = native.post(ADJUST, {"locationCode": "WH1", "items": [{"sku": "A", "quantity": 5}]})
    assert second.json()["jobID"] == first + 1
    assert native.stock() == [{"locationName": "WH1", "sku": "A", "quantity": 15}]
