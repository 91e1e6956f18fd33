"""The emulator's SQLite inventory and its job queue, applied one job at a time."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Any

IDENTIFIERS = ("partNumber", "upc", "sku")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    location TEXT NOT NULL,
    item_count INTEGER NOT NULL,
    items TEXT NOT NULL,
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


def _row(location: str, item: dict[str, Any]) -> tuple[Any, ...]:
    """An item as a row; it is identified at its location by partNumber, else sku, else upc."""
    extra = {k: v for k, v in item.items() if k not in IDENTIFIERS and k != "quantity"}
    product = item.get("partNumber") or item.get("sku") or item.get("upc")
    return (
        location,
        product,
        *(item.get(name, "") for name in IDENTIFIERS),
        int(item["quantity"]),
        json.dumps(extra, sort_keys=True),
    )


class Store:
    """Inventory by location, and the queue of jobs that changes it (in job order)."""

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._changed = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self._worker.start()

    def add_job(self, operation: str, location: str, items: list[dict], path: str) -> int:
        """Queue a job; return its jobID."""
        with self._changed:
            cursor = self._db.execute(
                "INSERT INTO jobs (type, location, item_count, items, path, status, added) "
                "VALUES (?, ?, ?, ?, ?, 'PENDING', ?)",
                (operation.upper(), location, len(items), json.dumps(items), path, _now()),
            )
            self._changed.notify_all()
            return int(cursor.lastrowid or 0)

    def _work(self) -> None:
        while True:
            with self._changed:
                row = self._db.execute(
                    "SELECT job_id, type, location, items FROM jobs "
                    "WHERE status = 'PENDING' ORDER BY job_id LIMIT 1"
                ).fetchone()
                if row is None:
                    self._changed.wait()
                    continue
                self._apply(*row)
                self._changed.notify_all()

    def _apply(self, job_id: int, job_type: str, location: str, items_json: str) -> None:
        started = _now()
        statement = _REFRESH if job_type == "REFRESH" else _ADJUST
        rows = [_row(location, item) for item in json.loads(items_json)]
        self._db.execute("BEGIN")
        self._db.executemany(statement, rows)
        self._db.execute(
            "UPDATE jobs SET status = 'SUCCESS', started = ?, finished = ? WHERE job_id = ?",
            (started, _now(), job_id),
        )
        self._db.execute("COMMIT")

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every queued job has been applied; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._db.execute(
                "SELECT 1 FROM jobs WHERE status IN ('PENDING', 'WORKING') LIMIT 1"
            ).fetchone():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def inventory(self, location: str | None = None) -> list[dict[str, Any]]:
        """Stock records, optionally of one location."""
        query = "SELECT location, part_number, upc, sku, quantity, fields FROM inventory"
        args: tuple[str, ...] = ()
        if location is not None:
            query, args = query + " WHERE location = ?", (location,)
        with self._changed:
            rows = self._db.execute(query + " ORDER BY 1, 2, 3, 4", args).fetchall()
        return [_stock(*row) for row in rows]

    def job(self, job_id: int, *, with_items: bool = False) -> dict[str, Any] | None:
        """A job's status, in the shape of Kibo's JobQueueResponse."""
        columns = _JOB_COLUMNS + (", items" if with_items else "")
        with self._changed:
            row = self._db.execute(
                f"SELECT {columns} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return _job(row) if row else None

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, oldest first."""
        with self._changed:
            rows = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY job_id").fetchall()
        return [_job(row) for row in rows]

    def reset(self) -> None:
        """Forget the inventory and the jobs (job IDs keep increasing)."""
        with self._changed:
            self._db.execute("DELETE FROM jobs")
            self._db.execute("DELETE FROM inventory")


def _stock(
    location: str, part_number: str, upc: str, sku: str, quantity: int, fields: str
) -> dict[str, Any]:
    ids = {k: v for k, v in zip(IDENTIFIERS, (part_number, upc, sku), strict=True) if v}
    return {"locationName": location, **ids, "quantity": quantity, **json.loads(fields)}


def _job(row: tuple[Any, ...]) -> dict[str, Any]:
    job_id, job_type, location, count, path, status, added, started, finished = row[:9]
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
    if len(row) > 9:
        job["items"] = json.loads(row[9])
    return job
