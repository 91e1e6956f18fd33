"""The `kibo-emulator` command line: the new options, end to end over HTTP."""

from __future__ import annotations

import subprocess

import requests

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from tests.harness import BIN, EmulatorClient
from tests.test_emulator import REFRESH, _serving

NEW_OPTIONS = (
    "--site",
    "--step-seconds",
    "--fail-sku-prefix",
    "--increff-username",
    "--increff-password",
    "--increff-domain",
    "--increff-reject-sku-prefix",
    "--accept-api-key-as-bearer",
    "--translated-job-queue",
    "--increff-example-answers",
)


def test_help_lists_the_new_options():
    done = subprocess.run(
        [str(BIN / "kibo-emulator"), "--help"], capture_output=True, text=True, check=True
    )
    for option in NEW_OPTIONS:
        assert option in done.stdout


def test_cli_options_reach_each_api(tmp_path):
    args = [
        *("--tenant", "42", "--api-key", "k", "--api-secret", "s", "--site", "9"),
        *("--step-seconds", "1", "--fail-sku-prefix", "BAD"),
        *("--increff-username", "u", "--increff-password", "p", "--increff-domain", "d"),
        *("--increff-reject-sku-prefix", "NO", "--db", str(tmp_path / "db.sqlite")),
    ]
    with _serving(*args) as url:
        faults = requests.get(url + "/emulator/faults", timeout=5).json()
        assert (faults["step_seconds"], faults["fail_sku_prefix"]) == (1.0, "BAD")
        assert faults["increff_reject_sku_prefix"] == "NO"
        form = {"client_id": "k", "client_secret": "s", "grant_type": "client_credentials"}
        token = requests.post(url + KIBO_TOKEN_PATH, json=form, timeout=5).json()["access_token"]
        native = {"x-vol-tenant": "42", "Authorization": f"Bearer {token}", "x-vol-site": "9"}
        body = {"locationCode": "W", "items": [{"sku": "BAD1", "quantity": 1}]}
        refresh = url + "/api/commerce/inventory/v5/inventory/refresh"
        job_id = requests.post(refresh, json=body, headers=native, timeout=5).json()["jobID"]
        wrong_site = requests.post(
            refresh, json=body, headers={**native, "x-vol-site": "8"}, timeout=5
        )
        assert wrong_site.status_code == 403
        queue = f"{url}/api/commerce/inventory/v1/queue/{job_id}"
        status = "PENDING"
        while status == "PENDING":  # a job starts within 50 ms; then it works one step (1 s)
            status = requests.get(queue, headers=native, timeout=5).json()["status"]
        assert status == "WORKING"
        job = requests.get(f"{url}/emulator/jobs/{job_id}?wait=1", timeout=10).json()
        assert (job["status"], job["tenantID"]) == ("FAILED", 42)
        increff = {"authUsername": "u", "authPassword": "p", "authDomainName": "d"}
        products = [
            {"channelSkuCode": "NO1", "quantity": 1},
            {"channelSkuCode": "OK", "quantity": 2},
        ]
        answer = requests.put(
            url + "/usp/inventories/absolute",
            json={"locationCode": "W", "products": products},
            headers=increff,
            timeout=5,
        )
        assert answer.json() == {"failureProducts": ["NO1"], "successProducts": ["OK"]}
        stock = requests.get(url + "/emulator/inventory", timeout=5).json()["inventory"]
        assert stock == [{"locationName": "W", "sku": "OK", "quantity": 2}]


def test_cli_defaults_follow_the_documents_and_options_relax_them():
    """By default: the demo credentials, OAuth tokens only, the native job queue only. The
    options accept the key as a bearer, serve the translated packages' queue paths, and name
    Increff's SKUs as the guide's example does."""
    refresh = {"locationName": "L", "items": [{"sku": "ITEM302", "quantity": 1}]}
    increff = {"authUsername": "demo-user", "authPassword": "demo-password"}
    products = {"locationCode": "W", "products": [{"channelSkuCode": "ITEM302", "quantity": 1}]}
    key = {"x-vol-tenant": "demo", "Authorization": "Bearer demo-key"}
    relaxed = ("--accept-api-key-as-bearer", "--translated-job-queue", "--increff-example-answers")
    for args, expected in (((), (401, 404, "ITEM302")), (relaxed, (200, 200, "302"))):
        with _serving(*args) as url:
            oauth = EmulatorClient(url, "demo", "demo-key", "demo-secret").headers()
            assert requests.post(url + REFRESH, json=refresh, headers=oauth, timeout=5).ok
            with_key = requests.post(url + REFRESH, json=refresh, headers=key, timeout=5)
            queue = requests.get(url + "/inv/api/v1/queue", headers=oauth, timeout=5)
            answer = requests.put(
                url + "/usp/inventories/absolute",
                json=products,
                headers={**increff, "authDomainName": "demo"},
                timeout=5,
            ).json()
            assert (with_key.status_code, queue.status_code, answer["successProducts"][0]) == (
                expected
            )


def _refresh(emulator, location: str, items: list[dict]) -> None:
    answer = requests.post(
        emulator.url + "/inv/api/v5/inventory/refresh/",
        json={"locationName": location, "items": items},
        headers=emulator.headers(),  # the tenant and an access token
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def _view(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "kibo-emulator"), *args], capture_output=True, text=True, timeout=120
    )


def test_stock_prints_a_table_per_location(emulator):
    _refresh(
        emulator,
        "Boston",
        [
            {"upc": "0001", "quantity": 12, "inventoryLocatorName": "A1"},
            {"upc": "0002", "quantity": 1200},
        ],
    )
    _refresh(emulator, "Austin", [{"sku": "HAT", "quantity": 3}])
    done = _view("stock", "--url", emulator.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Austin (1 item)\n"
        "  sku  quantity\n"
        "  HAT  3\n"
        "\n"
        "Boston (2 items)\n"
        "  upc   quantity  inventoryLocatorName\n"
        "  0001  12        A1\n"
        "  0002  1200\n"
    )
    one = _view("stock", "--url", emulator.url, "--location", "Austin")
    assert one.stdout.startswith("Austin (1 item)\n")
    assert "Boston" not in one.stdout


def test_requests_prints_the_request_log(emulator):
    _refresh(emulator, "Boston", [{"upc": "0001", "quantity": 12}])
    done = _view("requests", "--url", emulator.url)
    assert done.returncode == 0, done.stderr
    [header, token, row] = done.stdout.splitlines()  # the token request, then the refresh
    assert token.split() == ["POST", KIBO_TOKEN_PATH, "200"]
    assert header.split() == [
        "method",
        "path",
        "operation",
        "locationName",
        "items",
        "status",
        "jobID",
    ]
    assert row.split() == [
        "POST",
        "/inv/api/v5/inventory/refresh/",
        "refresh",
        "Boston",
        "1",
        "200",
        "1",
    ]


def test_a_view_without_an_emulator_says_so(tmp_path):
    done = _view("stock", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("kibo-emulator stock: no emulator answered at http://127.0.0.1:9")
    assert "Traceback" not in done.stderr
