"""A dry run: every request that would be sent is written as a JSON file instead.

Each file holds the method, URL and body of one request (and its operation, location, item
count and stream), never a header: no credential is ever written. Files are numbered in the
order the requests would have been sent (across locations, in the order they were ready).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

    from target_kibo_inventory.batching import Request
    from target_kibo_inventory.destinations.base import HttpRequest

REQUEST_FILES = "request-*.json"
SUMMARY_FILE = "summary.json"
DEAD_LETTER_FILE = "dead-letter.jsonl"


class DryRun:
    """Writes the planned requests to `folder`; those of an earlier dry run are removed first."""

    def __init__(self, folder: str, logger: logging.Logger) -> None:
        self.folder = Path(folder)
        self.logger = logger
        self.written = 0
        self._lock = threading.Lock()

    @property
    def dead_letter_path(self) -> str:
        """Where a dry run sets invalid records aside (not the real dead-letter file)."""
        return str(self.folder / DEAD_LETTER_FILE)

    def prepare(self) -> None:
        """Create the folder, and remove what an earlier dry run wrote there."""
        self.folder.mkdir(parents=True, exist_ok=True)
        old = [*self.folder.glob(REQUEST_FILES), self.folder / SUMMARY_FILE]
        old.append(self.folder / DEAD_LETTER_FILE)
        removed = 0
        for path in old:
            if path.is_file():
                path.unlink()
                removed += 1
        if removed:
            self.logger.info("Dry run: removed %d file(s) of an earlier dry run.", removed)
        self.logger.warning(
            "Dry run: nothing is sent and no STATE is written; the requests that would be sent "
            "are written to %s.",
            self.folder,
        )

    def write(self, request: Request, http: HttpRequest) -> Path:
        """Write one request that would be sent."""
        with self._lock:
            self.written += 1
            path = self.folder / f"request-{self.written:05d}.json"
        content = {
            "method": http.method,
            "url": http.url,
            "operation": request.operation,
            "location": request.location,
            "items": request.count,
            "stream": request.stream_label,
            "body": json.loads(http.body),
        }
        path.write_text(json.dumps(content, separators=(",", ":")) + "\n", encoding="utf-8")
        return path

    def write_summary(self, summary: dict[str, Any]) -> None:
        """The plan in numbers, beside the request files."""
        path = self.folder / SUMMARY_FILE
        path.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
