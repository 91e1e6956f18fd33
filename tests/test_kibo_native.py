"""Unit tests of Kibo's native Unified Commerce destination (`api_style: unified_commerce`):
hosts, paths, headers, token requests, bodies, item fields and their rules, answers, errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from target_kibo_inventory import rules
from target_kibo_inventory.auth import BearerAuth, TokenAuth
from target_kibo_inventory.batching import encode_item
from target_kibo_inventory.destinations.kibo.native import (
    ADJUST_ITEMS,
    REFRESH_ITEMS,
    KiboUnifiedCommerce,
)
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.destinations.registry import build, config_schema, read_settings
from target_kibo_inventory.errors import AnswerError, RuleError, SettingsError
from target_kibo_inventory.mapping import (
    FieldMapError,
    InvalidRecordError,
    RecordMapper,
    api_fields,
    check_field_map,
)
from target_kibo_inventory.settings import Settings
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import lines, record, schema

DEFAULTS = {k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v}
NATIVE = {
    "tenant_id": "100234",
    "api_key": "app-id",
    "api_secret": "app-secret",
    "api_style": "unified_commerce",
}
SANDBOX = "https://t100234.sandbox.mozu.com"


def _settings(**config) -> Settings:
    return read_settings({**DEFAULTS, **config})


def _native(**config) -> KiboUnifiedCommerce:
    destination = build(_settings(**{**NATIVE, **config}))
    assert isinstance(destination, KiboUnifiedCommerce)
    return destination


def _response(status: int, body: dict | str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (json.dumps(body) if isinstance(body, dict) else body).encode()
    return response


def test_the_style_picks_the_destination():
    assert isinstance(build(_settings(**{**NATIVE, "api_style": "translated"})), KiboTranslated)
    assert isinstance(build(_settings(**NATIVE)), KiboUnifiedCommerce)
    native = _native()
    assert (native.name, native.operations, native.location_key) == (
        "kibo",
        ("refresh", "adjust"),
        "locationCode",
    )


@pytest.mark.parametrize(
    ("config", "host"),
    [
        ({}, SANDBOX),
        ({"environment": "sandbox"}, SANDBOX),
        ({"environment": "tp3"}, "https://t100234.tp3.mozu.com"),
        ({"environment": "stg1"}, "https://t100234.stg1.mozu.com"),
        ({"base_url": "https://t100234.sb.usc1.kibocommerce.com"}, None),
        ({"base_url": "https://t100234.sb.usc1.kibocommerce.com/"}, None),
        ({"base_url": "https://t100234.sb.usc1.kibocommerce.com/api"}, None),  # the spec's server
        ({"base_url": "https://t100234.sb.usc1.kibocommerce.com/api/"}, None),
        (
            {"base_url": "https://t100234.sb.usc1.kibocommerce.com", "environment": "production"},
            None,
        ),
    ],
)
def test_hosts_per_environment_and_base_url(config, host):
    host = host or "https://t100234.sb.usc1.kibocommerce.com"
    native = _native(**config)
    assert native.host == host
    assert native.request("refresh", "L", []).url == (
        host + "/api/commerce/inventory/v5/inventory/refresh"
    )
    assert native.request("adjust", "L", []).url == (
        host + "/api/commerce/inventory/v5/inventory/adjust"
    )
    assert native.job_queue.job_url(7) == host + "/api/commerce/inventory/v1/queue/7"
    assert (
        native.job_queue.job_url("01234567") == host + "/api/commerce/inventory/v1/queue/01234567"
    )


def test_eu_and_local_hosts_through_base_url():
    eu = _native(base_url="https://t100234.tp1.euw1.kibocommerce.com")
    assert eu.request("refresh", "L", []).url == (
        "https://t100234.tp1.euw1.kibocommerce.com/api/commerce/inventory/v5/inventory/refresh"
    )
    local = _native(base_url="http://127.0.0.1:8700", auth_url="http://127.0.0.1:8700/t")
    assert local.job_queue.job_url(1) == "http://127.0.0.1:8700/api/commerce/inventory/v1/queue/1"


def test_headers_carry_the_tenant_and_the_site_when_set():
    assert _native().headers() == {"x-vol-tenant": "100234"}
    assert _native(site_id="5").headers() == {"x-vol-tenant": "100234", "x-vol-site": "5"}
    assert _native(site_id="").headers() == {"x-vol-tenant": "100234"}


def test_auth_is_an_oauth2_token_from_kibo_home_by_default():
    auth = _native().auth()
    assert isinstance(auth, TokenAuth)
    token = auth.token_request
    assert token.url == "https://home.mozu.com/api/platform/applications/authtickets/oauth"
    assert (token.client_id, token.client_secret, token.form) == ("app-id", "app-secret", "json")
    custom = _native(auth_url="https://home.euw1.kibocommerce.com/token", token_request="basic")
    assert (custom.auth().token_request.url, custom.auth().token_request.form) == (
        "https://home.euw1.kibocommerce.com/token",
        "basic",
    )


def test_production_alone_is_refused_naming_the_pods():
    with pytest.raises(SettingsError) as error:
        _native(environment="production")
    message = str(error.value)
    assert "environment 'production' names no host of Kibo's native API" in message
    assert "https://t100234.tpN.mozu.com/api" in message
    assert "tp1, tp2, tp3, tp4, tp5, stg1, stg2" in message


@pytest.mark.parametrize("pod", ["tp1", "stg2"])
def test_the_translated_style_refuses_a_pod(pod):
    with pytest.raises(SettingsError, match=f"environment '{pod}' is a pod of Kibo's native API"):
        build(_settings(**{**NATIVE, "api_style": "translated", "environment": pod}))


@pytest.mark.parametrize(
    ("missing", "names"),
    [
        ({"api_secret": None}, "Setting 'api_secret' is required"),
        ({"api_secret": ""}, "Setting 'api_secret' is required"),
        ({"tenant_id": None, "api_key": None}, "Settings 'tenant_id', 'api_key' are required"),
    ],
)
def test_tenant_key_and_secret_are_required(missing, names):
    with pytest.raises(SettingsError) as error:
        build(_settings(**{**NATIVE, **missing}))
    assert names in str(error.value)
    if "api_secret" in missing:
        assert "the Client Secret (api_secret) that Kibo assigns" in str(error.value)
        assert "Dev Center" in str(error.value)


def test_the_native_api_takes_no_bearer_key():
    config = {**NATIVE, "auth_method": "bearer_api_key", "api_secret": None}
    with pytest.raises(SettingsError, match=r"Kibo's native API takes only OAuth 2\.0"):
        build(_settings(**config))


def test_the_translated_style_takes_the_key_alone_only_when_asked():
    with pytest.raises(SettingsError, match="Setting 'api_secret' is required"):
        build(_settings(tenant_id="t", api_key="k"))
    translated = build(_settings(tenant_id="t", api_key="k", auth_method="bearer_api_key"))
    assert isinstance(translated, KiboTranslated)
    assert isinstance(translated.auth(), BearerAuth)
    with pytest.raises(SettingsError, match="auth_method 'bearer_api_key' sends api_key itself"):
        build(_settings(tenant_id="t", api_key="k", api_secret="s", auth_method="bearer_api_key"))


def test_body_names_the_location_code():
    native = _native()
    items = [encode_item({"sku": "A", "quantity": 1}), b'{"sku":"B","quantity":2}']
    request = native.request("adjust", 'WH "1"', [b",".join(items)])
    assert request.method == "POST"
    assert json.loads(request.body) == {
        "locationCode": 'WH "1"',
        "items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}],
    }


def test_limits_are_kibo_s():
    native = _native()
    assert (native.full_size("refresh"), native.cost_step("refresh")) == (12000, 3000)
    assert (native.full_size("adjust"), native.cost_step("adjust")) == (1000, 1000)
    smaller = _native(refresh_batch_items=6000, adjust_batch_items=500)
    assert (smaller.full_size("refresh"), smaller.full_size("adjust")) == (6000, 500)


@pytest.mark.parametrize(
    ("content", "job_id"),
    [(b'{"jobID": 76543210}', 76543210), (b'{ "jobID": 01234567 }', "01234567")],
)
def test_job_id_is_read_as_given(content, job_id):
    assert _native().read_answer("refresh", content, []).job_id == job_id


@pytest.mark.parametrize("content", [b"{}", b'{"jobID": null}', b"ok"])
def test_answers_without_a_job_id_are_refused(content):
    with pytest.raises(AnswerError):
        _native().read_answer("adjust", content, [])


def test_error_body_and_refusal_name_tenant_site_and_credentials():
    native = _native(site_id="5")
    body = {"error": "Forbidden", "message": "x-vol-site must be this tenant's site 6"}
    assert native.error_message(_response(403, body)) == "x-vol-site must be this tenant's site 6"
    assert native.error_message(_response(500, "plain text")) == "plain text"
    refused = native.refused_message(403, "refresh of 1 items at location 'L'", "no")
    assert refused.startswith("Kibo refused the tenant, site or credentials (HTTP 403)")
    assert "tenant '100234' (x-vol-tenant), site '5' (x-vol-site)" in refused
    assert "api_key/api_secret" in refused
    assert "app-secret" not in refused
    assert refused.endswith("Server said: no")
    siteless = _native().refused_message(401, "x", "y")
    assert "no site (x-vol-site is sent only when site_id is set)" in siteless


# The item fields: as the spec's RefreshItem and AdjustItem name them.

REFRESH_FIELDS = [
    "partNumber",
    "upc",
    "sku",
    "quantity",
    "binID",
    "LTD",
    "floor",
    "safetyStock",
    "retailPrice",
    "currencyID",
    "inventoryLocatorName",
    "attributes",
    "tags",
    "deliveryDate",
    "externalID",
    "lotCode",
    "condition",
    "serialNumber",
    "date",
]
ADJUST_FIELDS = [
    "partNumber",
    "upc",
    "sku",
    "quantity",
    "binID",
    "tags",
    "deliveryDate",
    "externalID",
    "lotCode",
    "condition",
    "serialNumber",
    "date",
]


def test_item_fields_are_the_spec_s():
    assert [f.name for f in REFRESH_ITEMS.fields] == REFRESH_FIELDS
    assert [f.name for f in ADJUST_ITEMS.fields] == ADJUST_FIELDS
    assert (REFRESH_ITEMS.location.name, REFRESH_ITEMS.location.fallbacks) == (
        "locationCode",
        ("locationName",),
    )
    assert api_fields(_native()) == ["locationCode", "locationName", *REFRESH_FIELDS]


def test_field_map_takes_the_native_names_only():
    native = _native()
    check_field_map({"locationCode": "store", "LTD": "priority", "lotCode": "lot"}, native)
    check_field_map({"locationName": "store"}, native)
    with pytest.raises(FieldMapError, match=r"unknown API field\(s\) ltd; the API fields of"):
        check_field_map({"ltd": "priority"}, native)


def _mapper(operation="refresh", field_map=None, properties=None, location=None):
    items = REFRESH_ITEMS if operation == "refresh" else ADJUST_ITEMS
    schema = {"properties": properties or {}}
    return RecordMapper("s", schema, (), items, field_map or {}, location)


def test_the_location_code_falls_back_to_the_location_name():
    m = _mapper()
    assert m.map({"sku": "A", "quantity": 1, "location_name": "N"}, 1).location == "N"
    assert m.map({"sku": "A", "quantity": 1, "locationName": "N"}, 1).location == "N"
    both = {"sku": "A", "quantity": 1, "location_name": "N", "location_code": "C"}
    assert m.map(both, 1).location == "C"
    assert m.map({**both, "locationCode": "CC"}, 1).location == "CC"
    mapped = _mapper(field_map={"locationName": "store"}).map(
        {"sku": "A", "quantity": 1, "store": "S"}, 1
    )
    assert mapped.location == "S"
    by_code = _mapper(field_map={"locationCode": "wh", "locationName": "store"})
    assert by_code.map({"sku": "A", "quantity": 1, "store": "S", "wh": "W"}, 1).location == "W"
    assert by_code.map({"sku": "A", "quantity": 1, "store": "S"}, 1).location == "S"
    assert _mapper(location="Main").map({"sku": "A", "quantity": 1}, 1).location == "Main"


def test_every_field_maps_from_its_name_or_snake_case():
    record = {
        "part_number": 12,
        "upc": "U",
        "sku": "S",
        "location_code": "WH1",
        "quantity": "4",
        "bin_id": 2,
        "ltd": "1.5",
        "floor": 1,
        "safety_stock": 2,
        "retail_price": 9.99,
        "currency_id": 840,
        "inventory_locator_name": "A5",
        "attributes": ["x"],
        "tags": {"channel": "web"},
        "delivery_date": "2020-09-28T12:00:00-0500",
        "external_id": "E1",
        "lot_code": "L7",
        "condition": "new",
        "serial_number": 123,
        "date": "2024-01-31T00:00:00Z",
    }
    mapped = _mapper().map(record, 1)
    assert mapped.location == "WH1"
    assert mapped.item == {
        "partNumber": "12",
        "upc": "U",
        "sku": "S",
        "quantity": 4,
        "binID": 2,
        "LTD": 1.5,
        "floor": 1,
        "safetyStock": 2,
        "retailPrice": 9.99,
        "currencyID": 840,
        "inventoryLocatorName": "A5",
        "attributes": ["x"],
        "tags": {"channel": "web"},
        "deliveryDate": "2020-09-28T12:00:00-0500",
        "externalID": "E1",
        "lotCode": "L7",
        "condition": "new",
        "serialNumber": "123",
        "date": "2024-01-31T00:00:00Z",
    }
    assert _mapper().map({"sku": "S", "quantity": 1, "LTD": 3, "location_name": "L"}, 1).item == {
        "sku": "S",
        "quantity": 1,
        "LTD": 3,
    }
    mapped = _mapper(field_map={"LTD": "priority", "deliveryDate": "eta"}).map(
        {
            "sku": "S",
            "quantity": 1,
            "priority": 2,
            "eta": "2030-01-01T00:00:00Z",
            "location_name": "L",
        },
        1,
    )
    assert mapped.item == {
        "sku": "S",
        "quantity": 1,
        "LTD": 2,
        "deliveryDate": "2030-01-01T00:00:00Z",
    }


def test_adjust_items_take_only_the_adjust_fields():
    properties = {
        name: {} for name in ("sku", "quantity", "location_code", "ltd", "floor", "lot_code")
    }
    m = _mapper("adjust", properties=properties)
    record = {
        "sku": "S",
        "quantity": -2,
        "location_code": "L",
        "ltd": 1,
        "floor": 1,
        "lot_code": "7",
    }
    assert m.map(record, 1).item == {"sku": "S", "quantity": -2, "lotCode": "7"}
    assert m.ignored(api_fields(_native()), {}) == ["LTD", "floor"]
    assert _mapper("refresh", properties=properties).ignored(api_fields(_native()), {}) == []
    mapped_only = _mapper("adjust", properties={"sku": {}, "quantity": {}, "prio": {}})
    assert mapped_only.ignored(api_fields(_native()), {"LTD": "prio"}) == ["LTD"]


@pytest.mark.parametrize(
    ("operation", "field", "value", "rule"),
    [
        ("refresh", "quantity", -1, "must be an integer ≥ 0 for refresh"),
        ("refresh", "quantity", 2**31, "must be an integer ≤ 2147483647"),
        ("adjust", "quantity", -(2**31) - 1, "must be an integer ≥ -2147483648"),
        ("refresh", "bin_id", 0, "must be an integer ≥ 1"),
        ("refresh", "inventory_locator_name", "A" * 51, "must be at most 50 characters"),
        ("refresh", "attributes", ["a"] * 64, "must hold at most 63 attributes"),
        ("refresh", "ltd", "high", "must be a number"),
        ("refresh", "floor", 1.5, "must be an integer"),
        ("refresh", "tags", ["web"], "must be an object of strings (tag category name → tag"),
        ("adjust", "tags", {"channel": 1}, "must be an object of strings"),
        ("refresh", "delivery_date", "2020-09-28", "must be a date-time with a UTC offset"),
        ("adjust", "date", "2024-01-31T00:00:00", "which has no offset (add Z or ±hh:mm)"),
        ("refresh", "date", "2020-02-30T00:00:00Z", "which is no such date or time"),
        ("adjust", "external_id", "", None),  # empty: left out, like any empty field
        ("adjust", "lot_code", ["L"], "must be a non-empty string"),
    ],
)
def test_rules_of_the_fields(operation, field, value, rule):
    record = {"sku": "S", "quantity": 1, "location_name": "L", field: value}
    if rule is None:
        assert "externalID" not in _mapper(operation).map(record, 1).item
        return
    with pytest.raises(InvalidRecordError) as error:
        _mapper(operation).map(record, 3)
    assert rule in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-09-28T12:00:00-0500", "2020-09-28T12:00:00-0500"),
        ("2020-09-28T12:00:00-05:00", "2020-09-28T12:00:00-05:00"),
        ("2020-09-28T12:00:00Z", "2020-09-28T12:00:00Z"),
        ("2020-09-28T12:00:00.123456+05:30", "2020-09-28T12:00:00.123456+05:30"),
        (" 2024-02-29T23:59:59+0000 ", "2024-02-29T23:59:59+0000"),
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05+00:00"),
        (
            datetime(2030, 1, 2, tzinfo=timezone(timedelta(hours=-5))),
            "2030-01-02T00:00:00-05:00",
        ),
    ],
)
def test_date_times_with_an_offset(value, expected):
    assert rules.date_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2020-09-28",
        "2020-09-28 12:00:00Z",
        "2020-09-28T12:00Z",
        "2020-09-28T12:00:00-05",
        "2020-09-28T12:00:00+24:00",
        "2020-09-28T12:00:00+05:60",
        "2023-02-29T00:00:00Z",
        "2020-09-28T24:00:00Z",
        "\uff12\uff10\uff12\uff10-09-28T12:00:00Z",  # full-width digits
        "yesterday",
        20200928,
        None,
        datetime(2030, 1, 2),  # naive: no offset
    ],
)
def test_date_times_refused(value):
    with pytest.raises(RuleError, match="must be a date-time with a UTC offset"):
        rules.date_time(value)


def test_string_maps():
    assert rules.string_map({"channel": "web", "season": ""}) == {"channel": "web", "season": ""}
    assert rules.string_map({}) == {}
    for value in (["a"], {"a": 1}, {"a": None}, "a=b", None):
        with pytest.raises(RuleError, match="must be an object of strings"):
            rules.string_map(value)


class _Recorder:
    """A client that records each request and answers it with a job ID."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, request, what, **_):
        self.sent.append(request)
        return b'{"jobID": 1}'

    def close(self) -> None:
        pass


def test_batching_and_limits_are_unchanged_in_process(tmp_path, monkeypatch):
    """Per location: full refresh requests of refresh_batch_items, adjusts of at most 1000."""
    monkeypatch.chdir(tmp_path)
    config = {
        **NATIVE,
        "refresh_batch_items": 3000,
        "stream_operations": {"counts": "refresh", "moves": "adjust"},
    }
    messages = [schema("counts"), schema("moves")]
    messages += [record("counts", sku=f"A{i}", location_name="L1", quantity=i) for i in range(7000)]
    messages += [record("counts", sku=f"B{i}", location_name="L2", quantity=1) for i in range(10)]
    messages += [record("moves", sku=f"C{i}", location_name="L3", quantity=-1) for i in range(2500)]
    recorder = _Recorder()
    target = TargetKiboInventory(config=config, client=recorder)
    assert isinstance(target.destination, KiboUnifiedCommerce)
    target.listen(io.StringIO(lines(messages)))
    sizes = sorted(
        (
            r.url.rsplit("/", 1)[1],
            json.loads(r.body)["locationCode"],
            len(json.loads(r.body)["items"]),
        )
        for r in recorder.sent
    )
    assert sizes == [
        ("adjust", "L3", 500),
        ("adjust", "L3", 1000),
        ("adjust", "L3", 1000),
        ("refresh", "L1", 1000),
        ("refresh", "L1", 3000),
        ("refresh", "L1", 3000),
        ("refresh", "L2", 10),
    ]
    assert {r.url.rsplit("/", 1)[0] for r in recorder.sent} == {
        SANDBOX + "/api/commerce/inventory/v5/inventory"
    }
