"""Kibo's job queue: statuses over time, simulated step time, failed jobs, the queue endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH, Emulator, Faults, Options

TENANT, API_KEY, SECRET, SITE = "100234", "queue-key", "queue-secret", "5"
REFRESH = "/inv/api/v5/inventory/refresh/"
ADJUST = "/api/v5/inventory/adjust"
QUEUES = {
    "/api/v1/queue": "inventory_v5",
    "/inv/api/v1/queue": "inventory_specific",
    "/api/commerce/inventory/v1/queue": "unified_commerce",
}
SPEC_FIELDS = {
    "jobID",
    "tenantID",
    "locationCode",
    "type",
    "status",
    "success",
    "itemCount",
    "messages",
    "added",
    "started",
    "finished",
    "originalFilename",
    "hasData",
}


class Oms:
    """An in-process emulator and the headers a client of each API family sends."""

    def __init__(self, **faults: float | str) -> None:
        options = Options(site=SITE, translated_queue=True)  # also the legacy host's paths
        self.server = Emulator(TENANT, API_KEY, SECRET, faults=Faults(**faults), options=options)
        self.url = self.server.start()
        token = requests.post(
            self.url + KIBO_TOKEN_PATH,
            json={
                "client_id": API_KEY,
                "client_secret": SECRET,
                "grant_type": "client_credentials",
            },
            timeout=5,
        ).json()["access_token"]
        self.native = {
            "x-vol-tenant": TENANT,
            "x-vol-site": SITE,
            "Authorization": f"Bearer {token}",
        }
        self.translated = dict(self.native)  # every Kibo API: an access token, the site

    def post(self, path: str, location: str, items: list[dict]) -> int:
        body = {"locationName": location, "items": items}
        answer = requests.post(self.url + path, json=body, headers=self.translated, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["jobID"]

    def get(self, path: str, headers: dict | None = None, **params) -> requests.Response:
        headers = self.translated if headers is None else headers
        return requests.get(self.url + path, headers=headers, params=params, timeout=30)

    def job(self, job_id: int, queue: str = "/api/v1/queue") -> dict:
        answer = self.get(f"{queue}/{job_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def oms() -> Iterator[Oms]:
    oms = Oms()
    yield oms
    oms.server.stop()


@pytest.fixture
def slow_oms() -> Iterator[Oms]:
    oms = Oms(step_seconds=0.4)
    yield oms
    oms.server.stop()


def _items(count: int, prefix: str = "S") -> list[dict]:
    return [{"sku": f"{prefix}{n}", "quantity": n} for n in range(count)]


def _watch(oms: Oms, ids: list[int], seconds: float) -> list[tuple[str, ...]]:
    """The distinct (status of each job) tuples seen while polling, in order; each read with
    one Get Jobs request (a snapshot: jobs read one by one may show both WORKING, the first read
    before it ended and the second after the next began)."""
    seen: list[tuple[str, ...]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listed = {job["jobID"]: job["status"] for job in oms.get("/api/v1/queue").json()}
        statuses = tuple(listed[i] for i in ids)
        if not seen or seen[-1] != statuses:
            seen.append(statuses)
        if set(statuses) == {"SUCCESS"}:
            break
        time.sleep(0.02)
    return seen


def test_statuses_go_pending_working_success_one_job_at_a_time(slow_oms):
    first = slow_oms.post(REFRESH, "L", _items(3001))  # 2 steps: 0.8 s
    second = slow_oms.post(REFRESH, "L", _items(10))  # 1 step: 0.4 s
    seen = _watch(slow_oms, [first, second], seconds=10)
    order = [
        ("PENDING", "PENDING"),  # for 50 ms, unless a poll comes later
        ("WORKING", "PENDING"),
        ("SUCCESS", "WORKING"),
        ("SUCCESS", "SUCCESS"),
    ]
    between = ("SUCCESS", "PENDING")  # for an instant: the first ended, the second not begun
    assert [statuses for statuses in seen if statuses != between] in (order, order[1:])
    one, two = slow_oms.job(first), slow_oms.job(second)
    assert set(one) == SPEC_FIELDS
    assert (one["success"], one["messages"], one["itemCount"], one["tenantID"]) == (
        True,
        [],
        3001,
        int(TENANT),
    )
    assert one["added"] <= one["started"] < one["finished"] <= two["started"] < two["finished"]
    assert _seconds(one["started"], one["finished"]) >= 0.8
    assert 0.4 <= _seconds(two["started"], two["finished"]) < 0.8


def test_a_pending_job_reads_as_the_spec_says(slow_oms):
    slow_oms.post(REFRESH, "L", _items(3001))  # WORKING for 0.8 s
    job_id = slow_oms.post(ADJUST, "L", [{"upc": "U", "quantity": -2}])
    job = slow_oms.job(job_id)
    assert job == {
        "jobID": job_id,
        "tenantID": int(TENANT),
        "locationCode": "L",
        "type": "ADJUST",
        "status": "PENDING",
        "success": False,
        "itemCount": 1,
        "messages": [],
        "added": job["added"],
        "started": None,
        "finished": None,
        "originalFilename": None,
        "hasData": True,
    }


def test_waiting_for_the_stock_starts_jobs_at_once(slow_oms):
    slow_oms.post(REFRESH, "L", _items(2))
    start = time.monotonic()
    stock = slow_oms.get("/emulator/inventory", wait=1).json()["inventory"]
    assert [r["quantity"] for r in stock] == [0, 1]
    assert 0.4 <= time.monotonic() - start < 2


def test_a_job_with_a_failing_sku_ends_failed_and_applies_nothing(oms):
    oms.server.set_faults(Faults(fail_sku_prefix="BAD"))
    failed = oms.post(REFRESH, "L", [{"sku": "OK", "quantity": 1}, {"sku": "BAD-1", "quantity": 2}])
    adjust = oms.post(ADJUST, "L", [{"partNumber": "P", "upc": "BAD-U", "quantity": 1}])
    fine = oms.post(REFRESH, "M", [{"sku": "OK", "quantity": 3}])
    oms.get("/emulator/jobs", wait=1)
    job = oms.job(failed)
    assert (job["status"], job["success"]) == ("FAILED", False)
    assert job["finished"] is not None
    assert job["messages"] == ["items[1].sku BAD-1: failed (fail_sku_prefix BAD)"]
    assert oms.job(adjust)["messages"] == ["items[0].upc BAD-U: failed (fail_sku_prefix BAD)"]
    assert oms.job(fine)["status"] == "SUCCESS"
    stock = oms.get("/emulator/inventory").json()["inventory"]
    assert stock == [{"locationName": "M", "sku": "OK", "quantity": 3}]


@pytest.mark.parametrize("queue", list(QUEUES))
def test_get_job_on_each_package_with_that_package_credentials(oms, queue):
    job_id = oms.post(REFRESH, "L", _items(2))
    oms.get("/emulator/jobs", wait=1)
    headers = oms.native if QUEUES[queue] == "unified_commerce" else oms.translated
    answer = oms.get(f"{queue}/{job_id}", headers)
    assert answer.status_code == 200
    assert answer.json()["status"] == "SUCCESS"
    assert set(answer.json()) == SPEC_FIELDS
    assert oms.get(f"{queue}/{job_id}/", headers).status_code == 200
    missing = oms.get(f"{queue}/999", headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Job Not Found", "message": "no job 999"}
    assert oms.get(f"{queue}/abc", headers).status_code == 400
    assert oms.get(f"{queue}/{job_id}", {**headers, "x-vol-tenant": "9"}).status_code == 401
    assert oms.get(f"{queue}/{job_id}", {**headers, "Authorization": "Bearer x"}).status_code == 401


def test_the_native_queue_wants_a_token_and_the_site(oms):
    job_id = oms.post(REFRESH, "L", _items(1))
    queue = f"/api/commerce/inventory/v1/queue/{job_id}"
    api_key = oms.get(queue, {**oms.native, "Authorization": f"Bearer {API_KEY}"})
    assert api_key.status_code == 401
    assert "access token" in api_key.json()["message"]
    no_site = {k: v for k, v in oms.native.items() if k != "x-vol-site"}
    assert oms.get(queue, no_site).status_code == 403
    assert oms.get(queue, {**oms.native, "x-vol-site": "6"}).status_code == 403


def test_get_jobs_newest_first_by_location_type_and_limit(oms):
    ids = [
        oms.post(REFRESH, "A", _items(1)),
        oms.post(ADJUST, "B", _items(2)),
        oms.post(REFRESH, "B", _items(3)),
        oms.post(ADJUST, "A", _items(4)),
    ]
    for queue, family in QUEUES.items():
        headers = oms.native if family == "unified_commerce" else oms.translated
        every = oms.get(queue, headers)
        assert every.status_code == 200
        assert [j["jobID"] for j in every.json()] == ids[::-1]
        assert all(set(j) == SPEC_FIELDS for j in every.json())
    listed = [j["jobID"] for j in oms.get("/api/v1/queue", locationCode="B").json()]
    assert listed == [ids[2], ids[1]]
    listed = [j["jobID"] for j in oms.get("/api/v1/queue", types="ADJUST").json()]
    assert listed == [ids[3], ids[1]]
    listed = oms.get("/api/v1/queue", types=["REFRESH", "ADJUST"], limit=3).json()
    assert [j["jobID"] for j in listed] == ids[:0:-1]
    listed = oms.get("/api/v1/queue", types="REFRESH,ADJUST", locationCode="A", limit=1).json()
    assert [j["jobID"] for j in listed] == [ids[3]]
    assert oms.get("/api/v1/queue", locationCode="nowhere").json() == []
    assert oms.get("/api/v1/queue", limit=0).status_code == 400
    assert oms.get("/api/v1/queue", types="REFRESHES").status_code == 400
    assert oms.get("/api/v1/queue", {"x-vol-tenant": TENANT}).status_code == 401


def test_queue_requests_are_logged_apart_from_inventory_requests(oms):
    job_id = oms.post(REFRESH, "L", _items(1))
    oms.get(f"/inv/api/v1/queue/{job_id}")
    oms.get("/api/v1/queue", locationCode="L")
    oms.get("/api/commerce/inventory/v1/queue/77", {"x-vol-tenant": TENANT})
    queue = [r for r in oms.server.requests() if r.get("operation") == "queue"]
    assert [
        (r["method"], r["path"], r["destination"], r["auth"], r["status"], r["jobID"])
        for r in queue
    ] == [
        ("GET", f"/inv/api/v1/queue/{job_id}", "inventory_specific", "token", 200, job_id),
        ("GET", "/api/v1/queue", "inventory_v5", "token", 200, None),
        ("GET", "/api/commerce/inventory/v1/queue/77", "unified_commerce", "refused", 401, 77),
    ]
    assert (queue[0]["locationName"], queue[1]["locationName"], queue[1]["jobs"]) == ("L", "L", 1)
    assert oms.server.in_flight == 0


def test_by_default_only_the_native_api_s_queue_is_served(emulator):
    """The OpenAPI spec places Get Job and Get Jobs under /api/commerce/inventory/v1/queue; the
    legacy OMS host's /inv/api/v1/queue and /api/v1/queue are served only when asked for
    (`--translated-job-queue`), since no document places them on the translation host."""
    headers = emulator.headers()
    job_id = requests.post(
        emulator.url + REFRESH,
        json={"locationName": "L", "items": _items(1)},
        headers=headers,
        timeout=5,
    ).json()["jobID"]
    emulator.jobs()  # every job done
    for path in ("/inv/api/v1/queue", "/api/v1/queue"):
        for url in (f"{emulator.url}{path}", f"{emulator.url}{path}/{job_id}"):
            missing = requests.get(url, headers=headers, timeout=5)
            assert missing.status_code == 404, url
            assert missing.json()["message"].startswith("no such path: /")
    native = f"{emulator.url}/api/commerce/inventory/v1/queue"
    assert requests.get(f"{native}/{job_id}", headers=headers, timeout=5).json()["status"] == (
        "SUCCESS"
    )
    assert [j["jobID"] for j in requests.get(native, headers=headers, timeout=5).json()] == [job_id]


def test_queue_requests_meet_no_faults_nor_scripted_answers(oms):
    job_id = oms.post(REFRESH, "L", _items(1))
    oms.server.set_faults(Faults(error_rate=1.0))
    oms.server.script([{"status": 503}])
    assert oms.get(f"/api/v1/queue/{job_id}").status_code == 200
    answer = requests.post(
        oms.url + REFRESH,
        json={"locationName": "L", "items": []},
        headers=oms.translated,
        timeout=5,
    )
    assert answer.status_code == 503  # the script was kept for the next write


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
