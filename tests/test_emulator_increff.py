"""Increff OMS: PUT /usp/inventories/absolute, both payloads, auth headers, rules, faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from target_kibo_inventory.emulator.server import Emulator, Faults, IncreffAccount, Options

PATH = "/usp/inventories/absolute"
ACCOUNT = IncreffAccount("wms-user", "wms-password", "acme")
HEADERS = {"authUsername": "wms-user", "authPassword": "wms-password", "authDomainName": "acme"}


class Increff:
    """An in-process emulator with an Increff account."""

    def __init__(self, options: Options | None = None) -> None:
        self.server = Emulator("demo", "demo-key", increff=ACCOUNT, options=options)
        self.url = self.server.start()

    def put(self, body: object, **headers: str | None) -> requests.Response:
        sent = {k: v for k, v in {**HEADERS, **headers}.items() if v is not None}
        return requests.put(self.url + PATH, json=body, headers=sent, timeout=10)

    def stock(self) -> dict[tuple[str, str], int]:
        rows = requests.get(self.url + "/emulator/inventory", timeout=10).json()["inventory"]
        return {(r["locationName"], r["sku"]): r["quantity"] for r in rows}

    def rows(self) -> list[dict]:
        return requests.get(self.url + "/emulator/inventory", timeout=10).json()["inventory"]


@pytest.fixture
def increff() -> Iterator[Increff]:
    oms = Increff()
    yield oms
    oms.server.stop()


@pytest.fixture
def increff_as_example() -> Iterator[Increff]:
    """Answers SKUs as the guide's example does (`--increff-example-answers`)."""
    oms = Increff(Options(increff_example_answers=True))
    yield oms
    oms.server.stop()


def test_the_guide_s_example_answer_is_offered(increff, increff_as_example):
    """increff-inventory-absolute.txt sends ITEM302 and answers "302"; by default the emulator
    names each SKU as sent (the parameter table: "List of channelSkuCode")."""
    example = _products(("ITEM302", 40))
    assert increff_as_example.put(example).json() == {
        "failureProducts": [],
        "successProducts": ["302"],
    }
    assert increff_as_example.stock() == {("wd003", "ITEM302"): 40}
    assert increff.put(example).json() == {"failureProducts": [], "successProducts": ["ITEM302"]}
    increff_as_example.server.set_faults(Faults(increff_reject_sku_prefix="NO"))
    mixed = increff_as_example.put(_products(("NO7", 1), ("SKU-B", 2)))
    assert mixed.json() == {"failureProducts": ["7"], "successProducts": ["SKU-B"]}


def _products(*pairs: tuple[str, int], location: str = "wd003") -> dict:
    products = [{"channelSkuCode": sku, "quantity": quantity} for sku, quantity in pairs]
    return {"locationCode": location, "products": products}


def _v0(sku: str, quantity: int, location: int = 1000901, **extra: object) -> dict:
    return {
        "clientId": 10000900,
        "clientSkuId": sku,
        "quantity": quantity,
        "fulfillmentLocationId": location,
        **extra,
    }


def test_current_payload_sets_absolute_counts_at_once(increff):
    answer = increff.put(_products(("ITEM302", 40), ("ITEM303", 0)))
    assert answer.status_code == 200
    assert answer.json() == {"failureProducts": [], "successProducts": ["ITEM302", "ITEM303"]}
    assert increff.stock() == {("wd003", "ITEM302"): 40, ("wd003", "ITEM303"): 0}
    increff.put(_products(("ITEM302", 7)))
    assert increff.stock()[("wd003", "ITEM302")] == 7  # absolute, not added
    assert requests.get(increff.url + "/emulator/jobs", timeout=5).json() == {"jobs": []}


def test_v0_array_payload_uses_the_fulfillment_location(increff):
    body = [_v0("SKU1", 10, inventoryPoolId=0), _v0("SKU2", 3, location=7)]
    answer = increff.put(body)
    assert answer.status_code == 200
    assert answer.json() == {"failureSkus": [], "successSkus": ["SKU1", "SKU2"]}
    assert increff.stock() == {("1000901", "SKU1"): 10, ("7", "SKU2"): 3}
    assert increff.rows()[0] == {
        "locationName": "1000901",
        "sku": "SKU1",
        "quantity": 10,
        "clientId": 10000900,
        "inventoryPoolId": 0,
    }


def test_skus_to_reject_are_failures_and_not_applied(increff):
    increff.server.set_faults(Faults(increff_reject_sku_prefix="NO-"))
    answer = increff.put(_products(("A", 1), ("NO-1", 2), ("B", 3)))
    assert answer.json() == {"failureProducts": ["NO-1"], "successProducts": ["A", "B"]}
    v0 = increff.put([_v0("NO-2", 1), _v0("C", 4)])
    assert v0.json() == {"failureSkus": ["NO-2"], "successSkus": ["C"]}
    assert set(increff.stock()) == {("wd003", "A"), ("wd003", "B"), ("1000901", "C")}
    [current, old] = increff.server.requests()
    assert (current["rejected"], current["payload"], current["items"]) == (["NO-1"], "current", 3)
    assert (old["rejected"], old["payload"], old["locationName"]) == (["NO-2"], "v0", "1000901")


@pytest.mark.parametrize(
    "headers",
    [
        {"authPassword": "wrong"},
        {"authUsername": "someone"},
        {"authDomainName": "other"},
        {"authPassword": None},
        {"authUsername": None, "authPassword": None, "authDomainName": None},
    ],
)
def test_the_three_auth_headers_are_checked(increff, headers):
    answer = increff.put(_products(("A", 1)), **headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"
    assert set(answer.json()) == {"code", "message", "description"}
    assert increff.stock() == {}
    [entry] = increff.server.requests()
    assert entry["auth"] == "refused"


SKU_300 = [(f"S{n}", n) for n in range(300)]


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (_products(*SKU_300, ("S300", 1)), "products: one batch can contain at most 300 SKUs"),
        ([_v0(f"S{n}", 1) for n in range(301)], "the body: one batch can contain at most 300"),
        ({"products": []}, "locationCode: may not be null"),
        ({"locationCode": "", "products": []}, "locationCode: may not be null or empty"),
        ({"locationCode": "L" * 256, "products": []}, "locationCode: size must be at most 255"),
        ({"locationCode": "wd003"}, "products: may not be null"),
        ({"locationCode": "wd003", "products": [{"quantity": 1}]}, "channelSkuCode: may not"),
        ({"locationCode": "wd003", "products": [{"channelSkuCode": "A"}]}, "quantity: may not"),
        (_products(("A", -1)), "products[0].quantity: must be greater than or equal to 0"),
        (_products(("A" * 256, 1)), "products[0].channelSkuCode: size must be at most 255"),
        (_products(("A", "4")), "products[0].quantity: must be a 32-bit integer"),
        (_products(("A", 1.5)), "products[0].quantity: must be a 32-bit integer"),
        (_products(("A", 2**31)), "products[0].quantity: must be a 32-bit integer"),
        ({**_products(), "extra": 1}, "extra: not a field of the request"),
        ([_v0("A", 1, color="red")], "[0].color: not a field of this payload"),
        ([{**_v0("A", 1), "clientId": "10000900"}], "[0].clientId: must be a 32-bit integer"),
        ([_v0("A", -3)], "[0].quantity: must be greater than or equal to 0"),
        ([{k: v for k, v in _v0("A", 1).items() if k != "fulfillmentLocationId"}], "fulfillment"),
        ("A", "the body must be an object or, for the V0 payload, an array"),
    ],
)
def test_invalid_bodies_get_bad_data(increff, body, description):
    answer = increff.put(body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BAD_DATA"
    assert answer.json()["message"] == "Input validation failed"
    assert description in answer.json()["description"]
    assert increff.stock() == {}


def test_exactly_300_skus_pass(increff):
    assert increff.put(_products(*SKU_300)).status_code == 200
    assert len(increff.stock()) == 300


def test_not_json_gets_bad_data(increff):
    answer = requests.put(increff.url + PATH, data=b"{nope", headers=HEADERS, timeout=5)
    assert (answer.status_code, answer.json()["code"]) == (400, "BAD_DATA")


def test_injected_faults_answer_in_increffs_error_shape(increff):
    increff.server.set_faults(Faults(error_rate=1.0, error_statuses=(500,)))
    answer = increff.put(_products(("A", 1)))
    assert answer.status_code == 500
    assert answer.json() == {
        "code": "SERVER_ERROR",
        "message": "Internal Server Error",
        "description": "[the server failed]",
    }
    increff.server.set_faults(Faults(rate_limit_rate=1.0, retry_after=2))
    limited = increff.put(_products(("A", 1)))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    increff.server.set_faults(Faults(drop_before_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        increff.put(_products(("A", 1)))
    assert increff.stock() == {}
    increff.server.set_faults(Faults(drop_after_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        increff.put(_products(("A", 5)))
    assert increff.stock() == {("wd003", "A"): 5}  # applied, never answered
    faults = [r["fault"] for r in increff.server.requests()]
    assert faults == ["error", "rate_limit", "drop_before", "drop_after"]


def test_scripted_answers_apply_to_increff_too(increff):
    increff.server.script([{"status": 503, "message": "maintenance"}, {"status": 200, "raw": "{}"}])
    scripted = increff.put(_products(("A", 1)))
    assert scripted.status_code == 503
    assert scripted.json() == {
        "code": "SERVER_ERROR",
        "message": "Service Unavailable",
        "description": "[maintenance]",
    }
    assert increff.put(_products(("A", 1))).content == b"{}"
    assert increff.stock() == {}
