"""End to end through the CLI: `api_style: unified_commerce` against the emulator's native
Unified Commerce endpoints (issued tokens only; `x-vol-site` when the emulator has a site)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from target_kibo_inventory.destinations.kibo.native import KiboUnifiedCommerce
from target_kibo_inventory.destinations.registry import config_schema, read_settings
from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH, Emulator, Options
from tests.harness import EmulatorClient, record, run_in_process, run_target, schema, state

TENANT, API_KEY, API_SECRET, SITE = "100234", "native-app-id", "native-app-secret-42", "5"
REFRESH = "/api/commerce/inventory/v5/inventory/refresh"
ADJUST = "/api/commerce/inventory/v5/inventory/adjust"
ANY: dict = {}


@pytest.fixture
def kibo() -> Iterator[EmulatorClient]:
    """An emulator whose tenant has site 5: the native API needs x-vol-site and a token."""
    server = Emulator(TENANT, API_KEY, API_SECRET, token_ttl=3600, options=Options(site=SITE))
    url = server.start("127.0.0.1", 0)
    yield EmulatorClient(url, TENANT, API_KEY, API_SECRET)
    server.stop()


def _config(kibo: EmulatorClient, **overrides) -> dict:
    native = {
        "api_style": "unified_commerce",
        "api_secret": kibo.api_secret,
        "auth_url": kibo.url + KIBO_TOKEN_PATH,
        "site_id": SITE,
    }
    return {k: v for k, v in kibo.config(**{**native, **overrides}).items() if v is not None}


def _logged(kibo: EmulatorClient) -> list[dict]:
    return kibo.get("/emulator/requests", bodies=1)["requests"]


def _secret_free(run) -> None:
    for secret in (API_KEY, API_SECRET):
        assert secret not in run.stderr
        assert secret not in run.stdout


def test_native_host_paths_headers_and_token_flow(kibo, tmp_path):
    """One token, fetched once with the JSON client-credentials form, then every request to
    the native path with the tenant, the site and that token; the spec's `/api` server URL
    works as base_url."""
    messages = [
        schema("stock"),
        *[record("stock", sku=f"A{i}", location_name=f"WH{i % 3}", quantity=i) for i in range(9)],
        state({"bookmarks": {"stock": 9}}),
    ]
    run = run_target(_config(kibo, base_url=kibo.url + "/api"), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    _secret_free(run)
    token, check, *calls = kibo.requests()
    assert (token["path"], token["grant"], token["status"]) == (
        KIBO_TOKEN_PATH,
        "client_credentials",
        200,
    )
    # the credentials check at start-up: Get Jobs on the native queue, with the token
    assert (check["method"], check["path"], check["operation"], check["auth"]) == (
        "GET",
        "/api/commerce/inventory/v1/queue",
        "queue",
        "token",
    )
    assert len(calls) == 3
    assert {
        (c["method"], c["path"], c["destination"], c["operation"], c["tenant"], c["site"])
        for c in calls
    } == {("POST", REFRESH, "unified_commerce", "refresh", TENANT, SITE)}
    assert {(c["auth"], c["status"]) for c in calls} == {("token", 200)}
    [final] = run.states
    assert final["bookmarks"] == {"stock": 9}
    jobs = final["kibo_inventory"]["jobs"]
    assert sorted((j["locationCode"], j["items"], j["operation"]) for j in jobs) == [
        ("WH0", 3, "refresh"),
        ("WH1", 3, "refresh"),
        ("WH2", 3, "refresh"),
    ]
    assert all("locationName" not in j for j in jobs)
    assert kibo.stock("WH1") == {("WH1", "A1"): 1, ("WH1", "A4"): 4, ("WH1", "A7"): 7}
    _job_url_reads_the_native_job_queue(kibo, jobs[0]["jobID"])


def _job_url_reads_the_native_job_queue(kibo: EmulatorClient, job_id: int) -> None:
    """The destination's job queue is the native Get Job, which answers with a token."""
    defaults = {k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v}
    settings = read_settings({**defaults, **_config(kibo)})
    native = KiboUnifiedCommerce(settings)
    form = {"client_id": API_KEY, "client_secret": API_SECRET, "grant_type": "client_credentials"}
    token = requests.post(kibo.url + KIBO_TOKEN_PATH, json=form, timeout=10).json()
    job = requests.get(
        native.job_queue.job_url(job_id),
        headers={**native.headers(), "Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert job.status_code == 200, job.text
    assert (job.json()["jobID"], job.json()["type"]) == (job_id, "REFRESH")


def test_bodies_name_the_location_code_read_as_today_or_from_a_location_code(kibo, tmp_path):
    """field_map.locationName, a locationCode/location_code property (before a location_name
    one) and the location_name setting; then field_map.locationCode, and location_name as
    the fallback when the mapped property is missing."""
    messages = [
        schema("by_store", {"sku": ANY, "store": ANY, "quantity": ANY}),
        record("by_store", sku="A", store="Boston", quantity=1),
        schema("by_code", {"sku": ANY, "location_code": ANY, "store": ANY, "quantity": ANY}),
        record("by_code", sku="B", location_code="WH-7", store="ignored", quantity=2),
        schema("by_default", {"sku": ANY, "quantity": ANY}),
        record("by_default", sku="D", quantity=4),
    ]
    config = _config(kibo, field_map={"locationName": "store"}, location_name="Fallback")
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert _bodies(kibo) == [
        {"locationCode": "Boston", "items": [{"sku": "A", "quantity": 1}]},
        {"locationCode": "Fallback", "items": [{"sku": "D", "quantity": 4}]},
        {"locationCode": "WH-7", "items": [{"sku": "B", "quantity": 2}]},
    ]
    kibo.post("/emulator/reset", {})
    messages = [
        schema("s", {"sku": ANY, "wh": ANY, "location_name": ANY, "quantity": ANY}),
        record("s", sku="E", wh="X", location_name="ignored", quantity=5),
        record("s", sku="F", location_name="Main", quantity=6),
    ]
    run = run_in_process(_config(kibo, field_map={"locationCode": "wh"}), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert _bodies(kibo) == [
        {"locationCode": "Main", "items": [{"sku": "F", "quantity": 6}]},
        {"locationCode": "X", "items": [{"sku": "E", "quantity": 5}]},
    ]


def _bodies(kibo: EmulatorClient) -> list[dict]:
    """The inventory requests' bodies, by location."""
    bodies = [r["body"] for r in _logged(kibo) if r.get("operation") not in (None, "queue")]
    assert all(set(body) == {"locationCode", "items"} for body in bodies)
    return sorted(bodies, key=lambda body: body["locationCode"])


EXTRAS = {
    "sku": "S-1",
    "part_number": "P-1",
    "location_code": "WH1",
    "quantity": "40",
    "ltd": 2.5,
    "inventory_locator_name": "Aisle 5",
    "attributes": ["A1"],
    "tags": {"channel": "web", "season": "winter"},
    "delivery_date": "2030-09-28T12:00:00-0500",
    "external_id": "PO-77",
    "lot_code": "LOT-7",
    "condition": "new",
    "serial_number": "SN-1",
    "date": "2031-01-31T00:00:00Z",
}


def test_the_native_extras_reach_kibo(kibo, tmp_path):
    """LTD (from `ltd`), tags, deliveryDate (future inventory) and the other extras."""
    messages = [schema("stock", dict.fromkeys(EXTRAS, ANY)), record("stock", **EXTRAS)]
    run = run_in_process(_config(kibo), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "whose items take no" not in run.stderr
    [row] = kibo.inventory()
    assert row == {
        "locationName": "WH1",
        "sku": "S-1",
        "partNumber": "P-1",
        "quantity": 40,
        "LTD": 2.5,
        "inventoryLocatorName": "Aisle 5",
        "attributes": ["A1"],
        "tags": {"channel": "web", "season": "winter"},
        "deliveryDate": "2030-09-28T12:00:00-0500",
        "externalID": "PO-77",
        "lotCode": "LOT-7",
        "condition": "new",
        "serialNumber": "SN-1",
        "date": "2031-01-31T00:00:00Z",
    }


def test_adjust_on_the_native_api_sends_only_adjust_fields_and_warns(kibo, tmp_path):
    counts = [schema("counts", {"sku": ANY, "location_name": ANY, "quantity": ANY})]
    counts += [record("counts", sku=s, location_name="WH1", quantity=10) for s in "AB"]
    moves = [schema("moves", dict.fromkeys(EXTRAS, ANY))]
    moves.append(record("moves", **{**EXTRAS, "sku": "A", "part_number": None, "quantity": -3}))
    moves.append(record("moves", sku="B", location_code="WH1", quantity="+4", lot_code="L9"))
    config = _config(kibo, stream_operations={"counts": "refresh", "moves": "adjust"})
    run = run_in_process(config, [*counts, *moves, state({"b": 1})], tmp_path)
    assert run.returncode == 0, run.stderr
    assert (
        "Stream 'moves' is sent as adjust, whose items take no LTD, inventoryLocatorName, "
        "attributes (destination kibo): these fields are not sent."
    ) in run.stderr
    calls = [r for r in _logged(kibo) if r.get("operation") not in (None, "queue")]
    assert [(c["path"], c["status"], c["site"], c["auth"]) for c in calls] == [
        (REFRESH, 200, SITE, "token"),
        (ADJUST, 200, SITE, "token"),
    ]
    assert calls[1]["body"] == {
        "locationCode": "WH1",
        "items": [
            {
                "sku": "A",
                "quantity": -3,
                "tags": {"channel": "web", "season": "winter"},
                "deliveryDate": "2030-09-28T12:00:00-0500",
                "externalID": "PO-77",
                "lotCode": "LOT-7",
                "condition": "new",
                "serialNumber": "SN-1",
                "date": "2031-01-31T00:00:00Z",
            },
            {"sku": "B", "quantity": 4, "lotCode": "L9"},
        ],
    }
    assert kibo.stock() == {("WH1", "A"): 7, ("WH1", "B"): 14}
    [final] = run.states
    assert [
        (j["operation"], j["locationCode"], j["stream"]) for j in final["kibo_inventory"]["jobs"]
    ] == [
        ("refresh", "WH1", "counts"),
        ("adjust", "WH1", "moves"),
    ]


def test_a_missing_api_secret_is_a_clear_start_up_error(kibo, tmp_path):
    config = _config(kibo)
    del config["api_secret"]
    run = run_in_process(
        config, [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)], tmp_path
    )
    assert run.returncode != 0
    assert (
        "Setting 'api_secret' is required for destination 'kibo' with auth_method 'oauth' (the "
        "default)" in run.stderr
    )
    assert "the Client Secret (api_secret) that Kibo assigns to your application in its Dev " in (
        run.stderr
    )
    assert "Traceback" not in run.stderr
    assert kibo.requests() == []


@pytest.mark.parametrize("pod", ["sandbox", "tp3", "stg2"])
def test_the_environment_is_the_tenant_s_pod(tmp_path, run_case, pod):
    """The host is built from the pod (a dry run shows the URLs and sends nothing)."""
    config = {
        "tenant_id": TENANT,
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "api_style": "unified_commerce",
        "environment": pod,
        "dry_run": True,
    }
    messages = [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)]
    run = run_case(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    [request] = [p for p in (tmp_path / "kibo-dry-run").iterdir() if p.name.startswith("request")]
    assert json.loads(request.read_text())["url"] == (
        f"https://t{TENANT}.{pod}.mozu.com/api/commerce/inventory/v5/inventory/refresh"
    )


def test_production_alone_is_refused_naming_the_pods(tmp_path):
    config = {
        "tenant_id": TENANT,
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "api_style": "unified_commerce",
        "environment": "production",
    }
    run = run_in_process(config, "", tmp_path)
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert "environment 'production' names no host of Kibo's native API" in error
    assert f"https://t{TENANT}.tpN.mozu.com/api" in error
    assert "tp1, tp2, tp3, tp4, tp5, stg1, stg2" in error
    assert "Traceback" not in run.stderr


def test_a_refused_site_fails_fast_naming_tenant_site_and_credentials(kibo, tmp_path):
    messages = [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)]
    run = run_target(_config(kibo, site_id=None), messages, tmp_path)
    assert run.returncode != 0
    assert "Kibo refused the tenant, site or credentials (HTTP 403)" in run.stderr
    assert f"tenant '{TENANT}' (x-vol-tenant), no site" in run.stderr
    assert f"x-vol-site must be this tenant's site {SITE}; got None" in run.stderr
    assert "retrying" not in run.stderr
    _secret_free(run)
    # refused at the credentials check at start-up (Get Jobs), before any stock moves
    assert [(r["status"], r["site"]) for r in kibo.queue_requests()] == [(403, None)]
    assert kibo.api_requests() == []
    wrong = run_target(_config(kibo, site_id="6"), messages, tmp_path)
    assert "site '6' (x-vol-site)" in wrong.stderr
    assert kibo.stock() == {}


def test_the_api_key_alone_is_never_sent_and_a_wrong_secret_stops_at_the_token(kibo, tmp_path):
    messages = [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)]
    run = run_in_process(_config(kibo, api_secret="wrong-secret"), messages, tmp_path)
    assert run.returncode != 0
    assert "Kibo refused the tenant, site or credentials (HTTP 401)" in run.stderr
    assert f"the access token request to {kibo.url}{KIBO_TOKEN_PATH}" in run.stderr
    assert "wrong-secret" not in run.stderr
    assert [r["path"] for r in kibo.requests()] == [KIBO_TOKEN_PATH]


def test_a_refused_token_is_renewed_once(kibo, tmp_path):
    kibo.script({"status": 401, "message": "token expired"})
    messages = [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)]
    run = run_in_process(_config(kibo), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Access token refused" in run.stderr
    assert [(r["path"], r["status"]) for r in kibo.requests()] == [
        (KIBO_TOKEN_PATH, 200),
        ("/api/commerce/inventory/v1/queue", 200),  # the credentials check at start-up
        (REFRESH, 401),
        (KIBO_TOKEN_PATH, 200),
        (REFRESH, 200),
    ]
    assert kibo.stock() == {("L", "A"): 1}


def test_a_bad_native_field_names_the_field_and_the_property(kibo, tmp_path):
    messages = [
        schema("stock", {"sku": ANY, "location_code": ANY, "quantity": ANY, "delivery_date": ANY}),
        record("stock", sku="A", location_code="WH1", quantity=1, delivery_date="2030-01-01"),
    ]
    run = run_in_process(_config(kibo), messages, tmp_path)
    assert run.returncode != 0
    assert (
        "Invalid record in stream 'stock', record #1 (sku='A'): field 'deliveryDate' (record "
        "property 'delivery_date') must be a date-time with a UTC offset (ISO 8601, e.g. "
        "2020-09-28T12:00:00-0500); got '2030-01-01'"
    ) in run.stderr
    assert kibo.api_requests() == []


def test_a_translated_field_map_key_is_refused_naming_the_native_fields(kibo, tmp_path):
    run = run_in_process(_config(kibo, field_map={"ltd": "priority"}), [], tmp_path)
    assert run.returncode != 0
    assert "field_map has unknown API field(s) ltd" in run.stderr
    assert "LTD" in run.stderr
    assert kibo.requests() == []
