"""The run's loader, shared by all sinks: one batcher, the API, and the ledger of accepted jobs."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from target_kibo_inventory.batching import Batcher, Request
from target_kibo_inventory.client import ApiError, KiboClient
from target_kibo_inventory.destinations import KiboTranslationApi
from target_kibo_inventory.destinations.kibo import MissingJobIdError
from target_kibo_inventory.settings import Settings

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class JobLedger:
    """Jobs accepted by the API and not yet reported in a STATE message; thread-safe."""

    def __init__(self) -> None:
        self._jobs: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, job: dict[str, Any]) -> None:
        """Note an accepted job."""
        with self._lock:
            self._jobs.append(job)

    def take(self) -> list[dict[str, Any]]:
        """Return the jobs noted since the last call, and forget them."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        return jobs

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


class InventoryLoader:
    """Buffers items by location and sends each request when it is due, in order."""

    def __init__(self, settings: Settings, logger: logging.Logger) -> None:
        self.logger = logger
        self.batcher = Batcher(
            {"refresh": settings.refresh_batch_items, "adjust": settings.adjust_batch_items}
        )
        self.api = KiboTranslationApi(settings.base_url, settings.api_package)
        self.client = KiboClient(settings, logger)
        self.ledger = JobLedger()
        self._lock = threading.Lock()

    def add(self, operation: str, location: str, item: dict[str, Any], stream: str) -> None:
        """Buffer one item (serialized once, here) and send whatever request is now full."""
        encoded = _encode(item).encode()
        with self._lock:
            for request in self.batcher.add(operation, location, encoded, stream):
                self._send(request)

    def flush(self) -> None:
        """Send every buffered item: the drain before a STATE message."""
        with self._lock:
            for request in self.batcher.drain():
                self._send(request)

    def close(self) -> None:
        """Release the HTTP connections."""
        self.client.close()

    def _send(self, request: Request) -> None:
        what = (
            f"{request.operation} of {len(request.items)} items at location "
            f"'{request.location}' (stream {request.stream})"
        )
        content = self.client.post(
            self.api.url(request.operation),
            self.api.body(request.location, request.items),
            what,
        )
        try:
            job_id = self.api.job_id(content)
        except MissingJobIdError as error:
            raise ApiError(f"The API accepted the {what} but {error}: {content[:500]!r}") from None
        self.ledger.record(
            {
                "jobID": job_id,
                "operation": request.operation,
                "locationName": request.location,
                "items": len(request.items),
                "stream": request.stream,
            }
        )
        self.logger.info("Job %s accepted: %s.", job_id, what)
