"""Scripted slow answers (a late "ghost" try), the request log with bodies, fault settings."""

from __future__ import annotations

import threading
import time

import pytest
import requests

REFRESH = "/inv/api/v5/inventory/refresh/"


def _post(emulator, path, body, **headers):
    base = emulator.headers()  # the tenant and an access token
    return requests.post(emulator.url + path, json=body, headers={**base, **headers}, timeout=10)


def _body(quantity: int) -> dict:
    return {"locationName": "L", "items": [{"sku": "A", "quantity": quantity}]}


def test_a_scripted_latency_lands_the_first_try_after_a_newer_request(emulator):
    emulator.script({"latency": 1.0})
    ghost: dict = {}
    thread = threading.Thread(
        target=lambda: ghost.update(_post(emulator, REFRESH, _body(1)).json())
    )
    thread.start()
    while emulator.get("/emulator/health")["in_flight"] == 0:
        time.sleep(0.01)
    newer = _post(emulator, REFRESH, _body(2)).json()
    thread.join()
    assert newer["jobID"] < ghost["jobID"]  # the ghost was queued last ...
    assert emulator.stock() == {("L", "A"): 1}  # ... so its count wins
    early, late = emulator.api_requests()  # logged as they end
    assert (late["jobID"], late["scripted"], late["status"]) == (
        ghost["jobID"],
        {"latency": 1.0},
        200,
    )
    assert late["start"] < early["start"] < early["end"] < late["end"]
    assert late["end"] - late["start"] >= 1.0


def test_a_scripted_status_with_latency_answers_late_and_applies_nothing(emulator):
    emulator.script({"latency": 0.3, "status": 504})
    start = time.monotonic()
    assert _post(emulator, REFRESH, _body(1)).status_code == 504
    assert time.monotonic() - start >= 0.3
    assert emulator.jobs() == []


@pytest.mark.parametrize(
    "answer",
    [{"latency": -1}, {"latency": "1"}, {"status": "503"}, {"raw": "{}"}, {"delay": 1}, "503"],
)
def test_scripted_answers_the_emulator_cannot_give_are_refused(emulator, answer):
    result = requests.post(
        emulator.url + "/emulator/script", json={"responses": [answer]}, timeout=5
    )
    assert result.status_code == 400


def test_every_api_request_is_logged_with_its_body_on_request(emulator):
    translated = _body(3)
    native = {"locationCode": "WH", "items": [{"upc": "U", "quantity": -2, "lotCode": "L1"}]}
    increff = {"locationCode": "wd", "products": [{"channelSkuCode": "C", "quantity": 1}]}
    invalid = {"locationName": "L", "items": [{"sku": "A"}]}
    assert _post(emulator, REFRESH, translated).status_code == 200
    native_answer = _post(
        emulator,
        "/api/commerce/inventory/v5/inventory/adjust",
        native,
        **{"x-vol-site": "12"},
    )
    assert native_answer.status_code == 200
    increff_headers = {"authUsername": "demo-user", "authPassword": "demo-password"}
    requests.put(
        emulator.url + "/usp/inventories/absolute",
        json=increff,
        headers={**increff_headers, "authDomainName": "demo"},
        timeout=5,
    ).raise_for_status()
    assert _post(emulator, REFRESH, invalid).status_code == 400
    requests.post(emulator.url + REFRESH, data=b"not json", timeout=5)
    requests.get(emulator.url + "/api/v1/queue/1", timeout=5)
    log = emulator.get("/emulator/requests", bodies=1)["requests"]
    token_entry, *api = log
    assert token_entry["body"] is None  # the client secret is never kept
    assert "operation" not in token_entry
    assert [_key_fields(r) for r in api] == [
        ("POST", REFRESH, "inventory_specific", "refresh", "token", 200, "L", 1, 1),
        (
            "POST",
            "/api/commerce/inventory/v5/inventory/adjust",
            "unified_commerce",
            "adjust",
            "token",
            200,
            "WH",
            1,
            2,
        ),
        ("PUT", "/usp/inventories/absolute", "increff", "absolute", "increff", 200, "wd", 1, None),
        ("POST", REFRESH, "inventory_specific", "refresh", "token", 400, None, None, None),
        ("POST", REFRESH, "inventory_specific", "refresh", "refused", 401, None, None, None),
        # the legacy host's queue path: not served by default (no document places it here)
        ("GET", "/api/v1/queue/1", "inventory_v5", "queue", "refused", 404, None, None, 1),
    ]
    assert [r["body"] for r in api] == [translated, native, increff, invalid, "not json", None]
    assert [(r["tenant"], r["site"]) for r in api[:3]] == [
        (emulator.tenant, None),
        (emulator.tenant, "12"),
        (None, None),
    ]
    assert (api[2]["domain"], api[2]["username"]) == ("demo", "demo-user")
    assert "demo-password" not in str(log)
    assert "body" not in emulator.get("/emulator/requests")["requests"][1]


def _key_fields(entry: dict) -> tuple:
    return (
        entry["method"],
        entry["path"],
        entry["destination"],
        entry["operation"],
        entry["auth"],
        entry["status"],
        entry["locationName"],
        entry["items"],
        entry["jobID"],
    )


def test_fault_settings_take_seed_or_fault_seed_and_refuse_unknown_names(emulator):
    url = emulator.url + "/emulator/faults"
    answer = requests.post(url, json={"fault_seed": 7, "step_seconds": 0.5}, timeout=5)
    assert answer.status_code == 200
    assert (answer.json()["seed"], answer.json()["step_seconds"]) == (7, 0.5)
    assert requests.get(url, timeout=5).json() == {
        "seed": 7,
        "error_rate": 0.0,
        "error_statuses": [500, 502, 503, 504],
        "rate_limit_rate": 0.0,
        "retry_after": 1.0,
        "drop_before_rate": 0.0,
        "drop_after_rate": 0.0,
        "latency": 0.0,
        "step_seconds": 0.5,
        "fail_sku_prefix": None,
        "failed_item_count": "processed",
        "increff_reject_sku_prefix": None,
    }
    assert requests.post(url, json={"seed": 3}, timeout=5).json()["seed"] == 3
    for bad in (
        {"seed": 1, "fault_seed": 2},
        {"nope": 1},
        {"latency": -1},
        {"fail_sku_prefix": 1},
        {"failed_item_count": "some"},
    ):
        assert requests.post(url, json=bad, timeout=5).status_code == 400, bad


def test_statuses_without_a_name_still_get_a_json_problem(emulator):
    emulator.script({"status": 599})
    emulator.faults(error_rate=1.0, error_statuses=[520])
    scripted = _post(emulator, REFRESH, _body(1))
    assert (scripted.status_code, scripted.json()["error"]) == (599, "Scripted")
    injected = _post(emulator, REFRESH, _body(1))
    assert (injected.status_code, injected.json()["error"]) == (520, "Injected fault")
    headers = {
        "authUsername": "demo-user",
        "authPassword": "demo-password",
        "authDomainName": "demo",
    }
    increff = requests.put(
        emulator.url + "/usp/inventories/absolute",
        json={"locationCode": "W", "products": []},
        headers=headers,
        timeout=5,
    )
    assert increff.status_code == 520
    assert increff.json() == {
        "code": "SERVER_ERROR",
        "message": "Error",
        "description": "[the server failed]",
    }
