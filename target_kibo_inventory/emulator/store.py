"""The emulator's SQLite inventory and its job queue, applied one job at a time.

Accepting a job only queues its request body in memory, so answering never waits for the
inventory; a worker applies the queued jobs in jobID order (refresh sets, adjust adds) while
no request has arrived for a moment, or at once when someone waits for the stock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

IDENTIFIERS = ("partNumber", "upc", "sku")
QUIET_SECONDS = 0.05
"""Jobs are applied once no request has arrived for this long (or when someone waits)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    location TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    body TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    added TEXT NOT NULL,
    started TEXT,
    finished TEXT
);
CREATE TABLE IF NOT EXISTS inventory (
    location TEXT NOT NULL,
    product TEXT NOT NULL,
    part_number TEXT NOT NULL,
    upc TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (location, product)
);
"""
_REFRESH = """
INSERT INTO inventory (location, product, part_number, upc, sku, quantity, fields)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET quantity = excluded.quantity, fields = excluded.fields,
    part_number = excluded.part_number, upc = excluded.upc, sku = excluded.sku
"""
_ADJUST = """
INSERT INTO inventory (location, product, part_number, upc, sku, quantity, fields)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity
"""
_JOB_COLUMNS = "job_id, type, location, item_count, path, status, added, started, finished"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class _Job:
    job_id: int
    type: str
    location: str
    item_count: int
    body: bytes
    path: str
    added: str

    def row(self) -> tuple[Any, ...]:
        return (
            self.job_id,
            self.type,
            self.location,
            self.item_count,
            self.path,
            "PENDING",
            self.added,
            None,
            None,
        )


def _row(location: str, item: dict[str, Any]) -> tuple[Any, ...]:
    """An item as a row; it is identified at its location by partNumber, else sku, else upc."""
    extra = (
        json.dumps({k: v for k, v in item.items() if k not in IDENTIFIERS and k != "quantity"})
        if len(item) > 2
        else "{}"
    )
    part_number, upc, sku = item.get("partNumber", ""), item.get("upc", ""), item.get("sku", "")
    product = part_number or sku or upc
    return (location, product, part_number, upc, sku, int(item["quantity"]), extra)


class Store:
    """Inventory by location, and the queue of jobs that changes it (in job order)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        last = self._db.execute("SELECT MAX(job_id) FROM jobs").fetchone()[0]
        self._next_id = (last or 0) + 1
        self._pending: deque[_Job] = deque()
        self._db_lock = threading.Lock()
        self._changed = threading.Condition()
        self._waiters = 0
        self._last_request = 0.0
        self._worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self._worker.start()

    def add_job(self, operation: str, location: str, count: int, body: bytes, path: str) -> int:
        """Queue a job (its whole request body); return its jobID."""
        with self._changed:
            job = _Job(self._next_id, operation.upper(), location, count, body, path, _now())
            self._next_id += 1
            self._pending.append(job)
            self._last_request = time.monotonic()
            self._changed.notify_all()
            return job.job_id

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                quiet = time.monotonic() - self._last_request
                if not self._waiters and quiet < QUIET_SECONDS:
                    self._changed.wait(QUIET_SECONDS - quiet)
                    continue
                job = self._pending[0]
            self._apply(job)
            with self._changed:
                if self._pending and self._pending[0] is job:  # unless a reset dropped it
                    self._pending.popleft()
                self._changed.notify_all()

    def _apply(self, job: _Job) -> None:
        started = _now()
        items = json.loads(job.body)["items"]
        rows = [_row(job.location, item) for item in items]
        with self._db_lock:
            self._db.execute("BEGIN")
            self._db.executemany(_REFRESH if job.type == "REFRESH" else _ADJUST, rows)
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, 'SUCCESS', ?, ?, ?)",
                (
                    job.job_id,
                    job.type,
                    job.location,
                    job.item_count,
                    job.body.decode(),
                    job.path,
                    job.added,
                    started,
                    _now(),
                ),
            )
            self._db.execute("COMMIT")

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Wait until every queued job has been applied; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._waiters += 1
            self._changed.notify_all()
            try:
                while self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(remaining)
            finally:
                self._waiters -= 1
        return True

    def inventory(self, location: str | None = None) -> list[dict[str, Any]]:
        """Stock records, optionally of one location."""
        query = "SELECT location, part_number, upc, sku, quantity, fields FROM inventory"
        args: tuple[str, ...] = ()
        if location is not None:
            query, args = query + " WHERE location = ?", (location,)
        with self._db_lock:
            rows = self._db.execute(query + " ORDER BY 1, 2, 3, 4", args).fetchall()
        return [_stock(*row) for row in rows]

    def job(self, job_id: int, *, with_items: bool = False) -> dict[str, Any] | None:
        """A job's status, in the shape of Kibo's JobQueueResponse."""
        with self._changed, self._db_lock:
            row = self._db.execute(
                f"SELECT {_JOB_COLUMNS}, body FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            pending = next((j for j in self._pending if j.job_id == job_id), None)
        if row is not None:
            return _job(row[:9], row[9] if with_items else None)
        if pending is not None:
            return _job(pending.row(), pending.body if with_items else None)
        return None

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, oldest first."""
        with self._changed, self._db_lock:
            rows = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY job_id").fetchall()
            pending = [job.row() for job in self._pending]
        by_id = {row[0]: row for row in pending} | {row[0]: row for row in rows}
        return [_job(by_id[job_id]) for job_id in sorted(by_id)]

    def reset(self) -> None:
        """Forget the inventory and the jobs, queued ones too (job IDs keep increasing)."""
        with self._changed, self._db_lock:
            self._pending.clear()
            self._db.execute("DELETE FROM jobs")
            self._db.execute("DELETE FROM inventory")


def _stock(
    location: str, part_number: str, upc: str, sku: str, quantity: int, fields: str
) -> dict[str, Any]:
    ids = {k: v for k, v in zip(IDENTIFIERS, (part_number, upc, sku), strict=True) if v}
    return {"locationName": location, **ids, "quantity": quantity, **json.loads(fields)}


def _job(row: tuple[Any, ...], body: bytes | str | None = None) -> dict[str, Any]:
    job_id, job_type, location, count, path, status, added, started, finished = row
    job = {
        "jobID": job_id,
        "type": job_type,
        "locationCode": location,
        "itemCount": count,
        "path": path,
        "status": status,
        "added": added,
        "started": started,
        "finished": finished,
        "hasData": True,
    }
    if body is not None:
        job["items"] = json.loads(body)["items"]
    return job
