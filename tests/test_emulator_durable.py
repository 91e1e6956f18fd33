"""Durable jobs: a `kibo-emulator --db file` killed with SIGKILL loses no answered jobID."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import AbstractContextManager

import requests

from target_kibo_inventory.emulator.server import DEMO_API_KEY, DEMO_API_SECRET, DEMO_TENANT
from tests.harness import EmulatorClient, emulator_cli

REFRESH = "/inv/api/v5/inventory/refresh/"


def _emulator(db: str, *args: str) -> AbstractContextManager[tuple[str, subprocess.Popen]]:
    """A kibo-emulator subprocess on a free port; yields (url, process); killed at the end."""
    return emulator_cli("--db", db, *args)


def _headers(url: str) -> dict[str, str]:
    """The tenant and an access token of the command line's demo credentials."""
    return EmulatorClient(url, DEMO_TENANT, DEMO_API_KEY, DEMO_API_SECRET).headers()


def _refresh(url: str, sku: str, quantity: int) -> int:
    body = {"locationName": "L", "items": [{"sku": sku, "quantity": quantity}]}
    answer = requests.post(url + REFRESH, json=body, headers=_headers(url), timeout=10)
    answer.raise_for_status()
    return answer.json()["jobID"]


def _send_until_killed(
    url: str, headers: dict[str, str], worker: int, answered: dict[int, tuple[str, int]]
) -> None:
    """Refresh a new SKU per request until the emulator is gone; remember every answer."""
    session = requests.Session()
    session.headers.update(headers)
    for n in range(100_000):
        sku, quantity = f"W{worker}-{n}", n + 1
        body = {"locationName": "L", "items": [{"sku": sku, "quantity": quantity}]}
        try:
            answer = session.post(url + REFRESH, json=body, timeout=10)
            answered[answer.json()["jobID"]] = (sku, quantity)
        except (requests.RequestException, ValueError):  # killed: no (complete) answer
            return


def test_sigkill_under_concurrent_requests_loses_no_answered_job(tmp_path):
    db = str(tmp_path / "inventory.sqlite")
    answered: dict[int, tuple[str, int]] = {}
    with _emulator(db) as (url, process):
        headers = _headers(url)  # one token for all: none is asked for after the kill
        threads = [
            threading.Thread(target=_send_until_killed, args=(url, headers, w, answered))
            for w in range(16)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(answered) < 400:
            assert any(t.is_alive() for t in threads), "every sender stopped early"
            assert time.monotonic() < deadline, f"{len(answered)} answers in 120 s"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=30)
    assert len(answered) >= 400
    with _emulator(db) as (url, _):
        jobs = {
            j["jobID"]: j
            for j in requests.get(url + "/emulator/jobs?wait=1", timeout=60).json()["jobs"]
        }
        stock = {
            r["sku"]: r["quantity"]
            for r in requests.get(url + "/emulator/inventory", timeout=30).json()["inventory"]
        }
        next_id = _refresh(url, "after-restart", 1)
    missing = sorted(set(answered) - set(jobs))
    assert not missing, f"answered but lost: {missing[:10]}"
    assert {jobs[i]["status"] for i in answered} == {"SUCCESS"}
    assert all(stock[sku] == quantity for sku, quantity in answered.values())
    assert next_id == max(jobs) + 1  # the jobID sequence continues
    print(f"\n[SIGKILL] {len(answered)} answered jobs, {len(jobs)} in the db, all applied")


def test_jobs_left_pending_or_working_are_queued_again_on_restart(tmp_path):
    db = str(tmp_path / "inventory.sqlite")
    with _emulator(db, "--step-seconds", "30") as (url, process):
        ids = [_refresh(url, f"S{n}", n) for n in range(1, 4)]
        deadline = time.monotonic() + 10
        while _statuses(url, ids) != ["WORKING", "PENDING", "PENDING"]:
            assert time.monotonic() < deadline, _statuses(url, ids)
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    with _emulator(db) as (url, _):
        jobs = requests.get(url + "/emulator/jobs?wait=1", timeout=30).json()["jobs"]
        stock = requests.get(url + "/emulator/inventory", timeout=30).json()["inventory"]
    assert [(j["jobID"], j["status"]) for j in jobs] == [(i, "SUCCESS") for i in ids]
    assert [(r["sku"], r["quantity"]) for r in stock] == [("S1", 1), ("S2", 2), ("S3", 3)]


def test_the_database_is_in_wal_mode_and_a_reset_keeps_the_jobid_sequence(tmp_path):
    db = str(tmp_path / "inventory.sqlite")
    with _emulator(db) as (url, _):
        assert [_refresh(url, "A", 1), _refresh(url, "B", 2)] == [1, 2]
        requests.post(url + "/emulator/reset", timeout=10).raise_for_status()
    with _emulator(db) as (url, _):
        assert _refresh(url, "C", 3) == 3
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _statuses(url: str, ids: list[int]) -> list[str]:
    return [requests.get(f"{url}/emulator/jobs/{i}", timeout=5).json()["status"] for i in ids]


OLD_SCHEMA = """
CREATE TABLE jobs (job_id INTEGER PRIMARY KEY, type TEXT NOT NULL, location TEXT NOT NULL,
    item_count INTEGER NOT NULL, body TEXT NOT NULL, path TEXT NOT NULL, status TEXT NOT NULL,
    added TEXT NOT NULL, started TEXT, finished TEXT);
CREATE TABLE inventory (location TEXT NOT NULL, product TEXT NOT NULL,
    part_number TEXT NOT NULL, upc TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
    fields TEXT NOT NULL, PRIMARY KEY (location, product));
INSERT INTO jobs VALUES (1, 'REFRESH', 'L', 1,
    '{"locationName":"L","items":[{"sku":"A","quantity":4}]}', '/api/v5/inventory/refresh',
    'SUCCESS', '2024-01-01T00:00:00.000+00:00', '2024-01-01T00:00:00.100+00:00',
    '2024-01-01T00:00:00.200+00:00');
INSERT INTO inventory VALUES ('L', 'A', '', '', 'A', 4, '{}');
"""


def test_a_database_of_the_previous_emulator_is_read_and_extended(tmp_path):
    db = str(tmp_path / "old.sqlite")
    with sqlite3.connect(db) as connection:
        connection.executescript(OLD_SCHEMA)
    with _emulator(db) as (url, _):
        assert _refresh(url, "B", 5) == 2
        jobs = requests.get(url + "/emulator/jobs?wait=1", timeout=10).json()["jobs"]
        stock = requests.get(url + "/emulator/inventory", timeout=10).json()["inventory"]
    assert [(j["jobID"], j["status"], j["messages"]) for j in jobs] == [
        (1, "SUCCESS", []),
        (2, "SUCCESS", []),
    ]
    assert [(r["sku"], r["quantity"]) for r in stock] == [("A", 4), ("B", 5)]
