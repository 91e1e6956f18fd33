"""The emulator's SQLite inventory and its durable job queue, worked one job at a time.

A job is committed to SQLite (PENDING, with its whole request body) before its jobID is
answered. A worker takes the queued jobs in jobID order: it marks one WORKING, waits its
simulated processing time (`step_seconds` per started 3000-item step), then applies it
(refresh sets, adjust adds) and marks it SUCCESS, or, when it was accepted with failures,
marks it FAILED without applying anything. Jobs start while no job has been queued for a
moment, or at once when someone waits. On start, jobs left PENDING or WORKING are queued
again and the jobID sequence continues. WAL with synchronous=NORMAL: a commit survives a
killed process (not a power cut) without an fsync per job.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, NamedTuple

IDENTIFIERS = ("partNumber", "upc", "sku")
QUIET_SECONDS = 0.05
"""Jobs start once no job has been queued for this long (or when someone waits)."""
STEP_ITEMS = 3000
"""Kibo processes a job in steps of this many items."""

_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
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
    finished TEXT,
    failures TEXT NOT NULL DEFAULT '[]'
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
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
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
ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity,
    fields = CASE excluded.fields WHEN '{}' THEN fields ELSE json_patch(fields, excluded.fields) END
"""
_JOB = """
SELECT job_id, type, location, item_count, status, added, started, finished, failures, path, body
FROM jobs WHERE job_id = ?
"""
_JOBS = """
SELECT job_id, type, location, item_count, status, added, started, finished, failures, path
FROM jobs
WHERE (:location IS NULL OR location = :location)
    AND (:types IS NULL OR type IN (SELECT value FROM json_each(:types)))
ORDER BY CASE WHEN :newest_first THEN -job_id ELSE job_id END
LIMIT :limit
"""
"""Jobs of a location and of a JSON array of types (NULL: any), at most `limit` (-1: all)."""
_PLAIN_ITEM_FIELDS = 2
"""An identifier and the quantity: an item of no other fields."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Job(NamedTuple):
    job_id: int
    type: str
    location: str
    item_count: int


def _row(location: str, item: dict[str, Any]) -> tuple[Any, ...]:
    """An item as a row; it is identified at its location by partNumber, else sku, else upc."""
    extra = (
        json.dumps({k: v for k, v in item.items() if k not in IDENTIFIERS and k != "quantity"})
        if len(item) > _PLAIN_ITEM_FIELDS
        else "{}"
    )
    part_number, upc, sku = item.get("partNumber", ""), item.get("upc", ""), item.get("sku", "")
    product = part_number or sku or upc
    return (location, product, part_number, upc, sku, int(item["quantity"]), extra)


class Store:
    """Inventory by location, and the durable queue of jobs that changes it (in job order)."""

    def __init__(self, path: str = ":memory:", tenant_id: int | None = None) -> None:
        self.tenant_id = tenant_id
        self.step_seconds = 0.0
        self.failed_item_count = "processed"
        """What a FAILED job answers as itemCount (see Faults.failed_item_count)."""
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._pending: deque[_Job] = deque(self._unfinished())
        self._next_id = self._last_job_id() + 1
        self._generation = 0
        """Counts resets: a job started before one is neither applied nor marked."""
        self._db_lock = threading.Lock()
        self._changed = threading.Condition()
        self._waiters = 0
        self._last_request = 0.0
        self._worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self._worker.start()

    def _migrate(self) -> None:
        """Add the `failures` column to a jobs table of an older emulator."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "failures" not in columns:
            self._db.execute("ALTER TABLE jobs ADD COLUMN failures TEXT NOT NULL DEFAULT '[]'")

    def _unfinished(self) -> list[_Job]:
        """Jobs a previous run left PENDING or WORKING, PENDING again, in jobID order."""
        self._db.execute(
            "UPDATE jobs SET status = 'PENDING', started = NULL WHERE status = 'WORKING'"
        )
        rows = self._db.execute(
            "SELECT job_id, type, location, item_count FROM jobs"
            " WHERE status = 'PENDING' ORDER BY job_id"
        ).fetchall()
        return [_Job(*row) for row in rows]

    def _last_job_id(self) -> int:
        last = self._db.execute("SELECT MAX(job_id) FROM jobs").fetchone()[0] or 0
        reset = self._db.execute("SELECT value FROM meta WHERE name = 'last_job_id'").fetchone()
        return max(last, reset[0] if reset else 0)

    # Accepting jobs

    def add_job(
        self,
        operation: str,
        location: str,
        count: int,
        body: bytes,
        path: str,
        failures: list[str] | None = None,
    ) -> int:
        """Commit a PENDING job (its whole request body) and queue it; return its jobID.

        A job with failures (messages naming the failing items) will end FAILED.
        """
        with self._changed:
            job = _Job(self._next_id, operation.upper(), location, count)
            with self._db_lock:
                self._db.execute(
                    "INSERT INTO jobs (job_id, type, location, item_count, body, path, status,"
                    " added, failures) VALUES (?, ?, ?, ?, ?, ?, 'PENDING', ?, ?)",
                    (*job, body.decode(), path, _now(), json.dumps(failures or [])),
                )
            self._next_id += 1
            self._pending.append(job)
            self._last_request = time.monotonic()
            self._changed.notify_all()
            return job.job_id

    def set_stock(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Set these (location, item) counts at once, in one transaction (no job)."""
        rows = [_row(location, item) for location, item in items]
        with self._db_lock:
            self._db.execute("BEGIN")
            self._db.executemany(_REFRESH, rows)
            self._db.execute("COMMIT")

    # The worker

    def _work(self) -> None:
        while True:
            job, generation = self._next_job()
            self._mark_working(job, generation)
            self._simulate(job, generation)
            self._finish(job, generation)
            with self._changed:
                if self._pending and self._pending[0] is job:  # unless a reset dropped it
                    self._pending.popleft()
                self._changed.notify_all()

    def _next_job(self) -> tuple[_Job, int]:
        """The first queued job, once no job was queued for a moment or someone waits."""
        with self._changed:
            while True:
                if not self._pending:
                    self._changed.wait()
                    continue
                quiet = time.monotonic() - self._last_request
                if self._waiters or quiet >= QUIET_SECONDS:
                    return self._pending[0], self._generation
                self._changed.wait(QUIET_SECONDS - quiet)

    def _mark_working(self, job: _Job, generation: int) -> None:
        with self._db_lock:
            if generation == self._generation:
                self._db.execute(
                    "UPDATE jobs SET status = 'WORKING', started = ? WHERE job_id = ?",
                    (_now(), job.job_id),
                )

    def _simulate(self, job: _Job, generation: int) -> None:
        """Sleep the job's processing time: step_seconds per started 3000-item step."""
        deadline = time.monotonic() + math.ceil(job.item_count / STEP_ITEMS) * self.step_seconds
        with self._changed:
            while generation == self._generation and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())

    def _finish(self, job: _Job, generation: int) -> None:
        """Apply the job and mark it SUCCESS, or mark it FAILED (nothing applied)."""
        with self._db_lock:
            if generation != self._generation:
                return
            body, failures = self._db.execute(
                "SELECT body, failures FROM jobs WHERE job_id = ?", (job.job_id,)
            ).fetchone()
        failed = failures != "[]"
        rows = [] if failed else [_row(job.location, item) for item in json.loads(body)["items"]]
        with self._db_lock:
            if generation != self._generation:
                return
            self._db.execute("BEGIN")
            self._db.executemany(_REFRESH if job.type == "REFRESH" else _ADJUST, rows)
            self._db.execute(
                "UPDATE jobs SET status = ?, finished = ? WHERE job_id = ?",
                ("FAILED" if failed else "SUCCESS", _now(), job.job_id),
            )
            self._db.execute("COMMIT")

    def wait_idle(self, timeout: float = 120.0) -> bool:
        """Wait until every queued job has finished; False on timeout."""
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

    # Views

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
        """A job in the shape of Kibo's JobQueueResponse, plus its path (and items)."""
        with self._db_lock:
            row = self._db.execute(_JOB, (job_id,)).fetchone()
        if row is None:
            return None
        job = self._view(row[:-1])
        if with_items:
            job["items"] = json.loads(row[-1])["items"]
        return job

    def jobs(
        self,
        location: str | None = None,
        types: list[str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Jobs (of a location, of these types), oldest or newest first, at most `limit`."""
        args = {
            "location": location,
            "types": json.dumps(types) if types else None,
            "newest_first": newest_first,
            "limit": -1 if limit is None else int(limit),
        }
        with self._db_lock:
            rows = self._db.execute(_JOBS, args).fetchall()
        return [self._view(row) for row in rows]

    def job_body(self, job_id: int) -> str | None:
        """The request body of a job as received (None if it is gone)."""
        with self._db_lock:
            row = self._db.execute("SELECT body FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def _view(self, row: tuple[Any, ...]) -> dict[str, Any]:
        job_id, job_type, location, count, status, added, started, finished, failures, path = row
        return {
            "jobID": job_id,
            "tenantID": self.tenant_id,
            "locationCode": location,
            "type": job_type,
            "status": status,
            "success": status == "SUCCESS",
            "itemCount": 0
            if status == "FAILED" and self.failed_item_count == "processed"
            else count,
            "messages": json.loads(failures) if status == "FAILED" else [],
            "added": added,
            "started": started,
            "finished": finished,
            "originalFilename": None,
            "hasData": True,
            "path": path,
        }

    def reset(self) -> None:
        """Forget the inventory and the jobs, queued ones too (job IDs keep increasing)."""
        with self._changed, self._db_lock:
            self._generation += 1
            self._pending.clear()
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_job_id', ?)", (self._next_id - 1,)
            )
            self._db.execute("DELETE FROM jobs")
            self._db.execute("DELETE FROM inventory")
            self._db.execute("COMMIT")
            self._changed.notify_all()


def _stock(
    location: str, part_number: str, upc: str, sku: str, quantity: int, fields: str
) -> dict[str, Any]:
    ids = {k: v for k, v in zip(IDENTIFIERS, (part_number, upc, sku), strict=True) if v}
    return {"locationName": location, **ids, "quantity": quantity, **json.loads(fields)}
