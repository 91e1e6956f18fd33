"""Unit tests of the destination objects: URLs, bodies, answers, errors, settings they need."""

from __future__ import annotations

import json

import pytest
import requests

from target_kibo_inventory.batching import encode_item
from target_kibo_inventory.destinations.base import Answer
from target_kibo_inventory.destinations.increff import Increff
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.destinations.registry import build, config_schema, read_settings
from target_kibo_inventory.errors import AnswerError, SettingsError
from target_kibo_inventory.settings import Settings

DEFAULTS = {k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v}
KIBO = {
    "tenant_id": "t",
    "api_key": "k",
    "api_secret": "s",
    "base_url": "https://t-translation.mozu.com",
}
INCREFF = {
    "destination": "increff",
    "base_url": "https://acme.increff.com",
    "increff_auth_username": "user",
    "increff_auth_password": "pw-secret",
    "increff_auth_domain": "acme",
}


def _settings(**config) -> Settings:
    return read_settings({**DEFAULTS, **config})


def _response(status: int, body: dict | str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if isinstance(body, dict) else body).encode()
    return response


def test_kibo_urls_per_package():
    specific = KiboTranslated(_settings(**KIBO))
    v5 = KiboTranslated(_settings(**KIBO, api_package="inventory_v5"))
    host = "https://t-translation.mozu.com"
    assert specific.request("refresh", "L", []).url == host + "/inv/api/v5/inventory/refresh/"
    assert specific.request("adjust", "L", []).url == host + "/inv/api/v5/inventory/adjust/"
    assert v5.request("refresh", "L", []).url == host + "/api/v5/inventory/refresh"
    assert v5.request("adjust", "L", []).url == host + "/api/v5/inventory/adjust"
    assert specific.job_queue.job_url(7) == host + "/inv/api/v1/queue/7"
    assert v5.job_queue.job_url(7) == host + "/api/v1/queue/7"


def test_kibo_job_queue_per_package_and_increff_without_one():
    specific = KiboTranslated(_settings(**KIBO))
    v5 = KiboTranslated(_settings(**KIBO, api_package="inventory_v5"))
    host = "https://t-translation.mozu.com"
    assert specific.job_queue.jobs_url(None, limit=1) == host + "/inv/api/v1/queue?limit=1"
    assert v5.job_queue.jobs_url("Main St", types=["REFRESH"], limit=20) == (
        host + "/api/v1/queue?locationCode=Main+St&types=REFRESH&limit=20"
    )
    [job] = specific.job_queue.read_jobs(b'{"jobID": 7, "status": "PENDING", "itemCount": 3}')
    assert (job.job_id, job.status, job.final) == (7, "PENDING", False)
    increff = Increff(_settings(**INCREFF))
    assert increff.job_queue is None  # declared: Increff answers SKU by SKU


@pytest.mark.parametrize(
    ("environment", "host"),
    [
        ("sandbox", "https://t-translation.sandbox.mozu.com"),
        ("production", "https://t-translation.mozu.com"),
    ],
)
def test_kibo_hosts_per_environment(environment, host):
    kibo = KiboTranslated(_settings(**{**KIBO, "base_url": None, "environment": environment}))
    assert kibo.host == host


def test_kibo_body_is_joined_from_encoded_items():
    kibo = KiboTranslated(_settings(**KIBO))
    items = [encode_item({"sku": "A", "quantity": 1}), b'{"sku":"B","quantity":2}']
    request = kibo.request("refresh", 'Store "1"', [b",".join(items)])
    assert request.method == "POST"
    assert json.loads(request.body) == {
        "locationName": 'Store "1"',
        "items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}],
    }


@pytest.mark.parametrize(
    ("content", "job_id"),
    [
        (b'{"jobID": 76543210}', 76543210),
        (b'{"jobID": "01234567"}', "01234567"),
        (b'{ "jobID": 01234567 }', "01234567"),  # the guide's own example, not valid JSON
    ],
)
def test_kibo_job_id_is_read_as_given(content, job_id):
    assert KiboTranslated(_settings(**KIBO)).read_answer("refresh", content, []).job_id == job_id


@pytest.mark.parametrize("content", [b"{}", b'{"jobID": null}', b'{"jobID": true}', b"[]", b"ok"])
def test_kibo_answers_without_a_job_id_are_refused(content):
    with pytest.raises(AnswerError):
        KiboTranslated(_settings(**KIBO)).read_answer("refresh", content, [])


def test_kibo_translated_sends_the_site_when_set():
    assert KiboTranslated(_settings(**KIBO)).headers() == {"x-vol-tenant": "t"}
    with_site = KiboTranslated(_settings(**KIBO, site_id="5"))
    assert with_site.headers() == {"x-vol-tenant": "t", "x-vol-site": "5"}
    refused = with_site.refused_message(401, "x", "no")
    assert "tenant 't' (x-vol-tenant), site '5' (x-vol-site)" in refused


def test_only_the_native_api_documents_the_get_jobs_it_reads():
    """The credentials check reads the job queue only where a document places it as read."""
    native = build(_settings(**KIBO, api_style="unified_commerce"))
    legacy = build(_settings(**{**KIBO, "base_url": "https://integration.shopatron.com"}))
    assert native.job_queue is not None
    assert native.job_queue.documented
    assert not _documented(build(_settings(**KIBO)))
    assert not _documented(legacy)
    assert build(_settings(**INCREFF)).job_queue is None


def _documented(destination) -> bool:
    return destination.job_queue is not None and destination.job_queue.documented


def test_kibo_a_404_of_the_translated_job_queue_says_it_is_assumed():
    kibo = KiboTranslated(_settings(**KIBO))
    queue = requests.Response()
    queue.status_code, queue.url = 404, "https://t-translation.mozu.com/inv/api/v1/queue?limit=1"
    queue._content = b'{"error": "Not Found", "message": "no such path"}'
    assert kibo.error_message(queue) == (
        "no Kibo document places the job queue on the translation host (wait_for_jobs assumes "
        "it is there; a 404 may mean it is not): set wait_for_jobs: false to load without "
        "reading it. Server said: no such path"
    )
    queue.url = "https://t-translation.mozu.com/inv/api/v5/inventory/refresh/"
    assert kibo.error_message(queue) == "no such path"
    legacy = KiboTranslated(_settings(**{**KIBO, "base_url": "https://integration.shopatron.com"}))
    queue.url = "https://integration.shopatron.com/inv/api/v1/queue/7"
    assert legacy.error_message(queue) == "no such path"


def test_kibo_needs_its_tenant_and_key():
    with pytest.raises(SettingsError, match="'tenant_id', 'api_key' are required for destination"):
        build(_settings())


def test_increff_body_headers_and_limits():
    increff = build(_settings(**INCREFF))
    assert isinstance(increff, Increff)
    assert increff.operations == ("refresh",)
    assert increff.full_size("refresh") == 300
    item = encode_item({"channelSkuCode": "ITEM302", "quantity": 40})
    request = increff.request("refresh", "wd003", [item])
    assert (request.method, request.url) == (
        "PUT",
        "https://acme.increff.com/usp/inventories/absolute",
    )
    assert json.loads(request.body) == {
        "locationCode": "wd003",
        "products": [{"channelSkuCode": "ITEM302", "quantity": 40}],
    }
    prepared = increff.auth()(requests.Request("PUT", request.url).prepare())
    assert {k: prepared.headers[k] for k in ("authUsername", "authPassword", "authDomainName")} == {
        "authUsername": "user",
        "authPassword": "pw-secret",
        "authDomainName": "acme",
    }


def _increff_answer(increff: Increff, skus: str | list[str], answer: dict) -> Answer:
    items = [encode_item({"channelSkuCode": s, "quantity": 1}) for s in skus]
    return increff.read_answer("refresh", json.dumps(answer).encode(), [b",".join(items)])


def test_increff_failure_products_decide_what_failed():
    increff = build(_settings(**INCREFF))
    assert isinstance(increff, Increff)
    answer = _increff_answer(increff, "ABCD", {"failureProducts": ["B"], "successProducts": ["A"]})
    assert answer.job_id is None
    assert answer.succeeded == 3  # C and D, in neither list, count as applied
    assert [(f.identifier, f.reason) for f in answer.failed] == [
        ("B", "Increff listed it in failureProducts")
    ]
    assert answer.failed[0].item == {"channelSkuCode": "B", "quantity": 1}
    [warning] = increff.run_warnings()
    assert warning.startswith(
        "Increff's answers did not name 2 of the 4 SKUs sent in successProducts or "
        "failureProducts as they were sent, and named 0 SKU(s) in successProducts that were not "
        "sent."
    )
    assert "Only failureProducts marks a failure, so those SKUs were counted as applied" in warning


def test_increff_s_own_example_answer_is_a_success_with_one_warning_for_the_run():
    """The guide sends ITEM302 and answers "302": not a failure; the counts of every answer of
    the run go into one warning."""
    increff = build(_settings(**INCREFF))
    assert isinstance(increff, Increff)
    assert increff.run_warnings() == []
    for _ in range(3):
        answer = _increff_answer(
            increff, ["ITEM302"], {"failureProducts": [], "successProducts": ["302"]}
        )
        assert (answer.succeeded, answer.failed) == (1, [])
    assert increff.run_warnings() == [
        "Increff's answers did not name 3 of the 3 SKUs sent in successProducts or "
        "failureProducts as they were sent, and named 3 SKU(s) in successProducts that were not "
        "sent (e.g. 'ITEM302' sent, '302' answered; Increff's own example answers '302' for "
        "'ITEM302'). Only failureProducts marks a failure, so those SKUs were counted as "
        "applied; check some of them in Increff if in doubt."
    ]


def test_increff_a_failure_named_differently_still_fails():
    """A name in failureProducts that no SKU sent has: something failed, reported under it."""
    increff = build(_settings(**INCREFF))
    assert isinstance(increff, Increff)
    answer = _increff_answer(
        increff, ["ITEM302", "ITEM7"], {"failureProducts": ["302"], "successProducts": ["7"]}
    )
    assert answer.succeeded == 1
    [failed] = answer.failed
    assert (failed.identifier, failed.item) == ("302", {"channelSkuCode": "302"})
    assert "no SKU of this request is named so" in failed.reason


def test_increff_v0_payload():
    increff = build(_settings(**INCREFF, increff_payload="v0", increff_client_id=10000900))
    item = encode_item({"clientSkuId": "SKU1", "quantity": 10})
    request = increff.request("refresh", "1000901", [item])
    line = {"clientId": 10000900, "clientSkuId": "SKU1", "quantity": 10}
    assert json.loads(request.body) == [{**line, "fulfillmentLocationId": 1000901}]
    content = json.dumps({"failureSkus": ["SKU1"], "successSkus": []}).encode()
    [failed] = increff.read_answer("refresh", content, [item]).failed
    assert failed.identifier == "SKU1"
    assert increff.run_warnings() == []


def test_increff_error_body_and_refusal():
    increff = build(_settings(**INCREFF))
    body = {"code": "BAD_DATA", "message": "Input validation failed", "description": "[x]"}
    assert increff.error_message(_response(400, body)) == "BAD_DATA Input validation failed [x]"
    refused = increff.refused_message(401, "the request", "no")
    assert (
        "Increff refused the credentials (HTTP 401) for the request: authUsername 'user'" in refused
    )
    assert "pw-secret" not in refused


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"increff_auth_domain": ""}, "'increff_auth_domain' is required for destination"),
        ({"operation": "adjust"}, "Increff takes absolute counts only"),
        ({"stream_operations": {"moves": "adjust"}}, "Increff takes absolute counts only"),
        ({"increff_payload": "v0"}, "'increff_client_id' is required for destination 'increff'"),
    ],
)
def test_increff_checks_its_settings(config, message):
    with pytest.raises(SettingsError, match=message):
        build(_settings(**{**INCREFF, **config}))
