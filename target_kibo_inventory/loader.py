"""The run's loader, shared by all sinks: one batcher, the API, and the ledger of accepted jobs."""

from __future__ import annotations

import logging
import threading
from typing import Any

import msgspec

from target_kibo_inventory.batching import Batcher, Request
from target_kibo_inventory.client import AmbiguousRequestError, ApiError, KiboClient
from target_kibo_inventory.destinations import KiboTranslationApi
from target_kibo_inventory.destinations.kibo import MissingJobIdError
from target_kibo_inventory.dispatch import Dispatcher
from target_kibo_inventory.journal import Journal
from target_kibo_inventory.limits import REFRESH_COST_STEP
from target_kibo_inventory.settings import OPERATIONS, Settings

_encode = msgspec.json.Encoder().encode


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
    """Buffers items by location and sends each request when it is due, in order per location."""

    def __init__(self, settings: Settings, logger: logging.Logger) -> None:
        self.logger = logger
        self.batcher = Batcher(
            full_sizes={op: settings.batch_items(op) for op in OPERATIONS},
            steps={"refresh": REFRESH_COST_STEP, "adjust": settings.adjust_batch_items},
            max_buffered=settings.max_buffered_items,
        )
        self.api = KiboTranslationApi(settings.base_url, settings.api_package)
        self.client = KiboClient(settings, logger)
        self.ledger = JobLedger()
        self.journal = Journal(
            settings.journal_file, settings.adjust_retry_ambiguous, settings.journal_resolve
        )
        self.dispatcher = Dispatcher(
            self._send,
            max_parallel=settings.max_parallel_requests,
            max_queued=2 * settings.max_parallel_requests,
        )
        self._lock = threading.Lock()

    def add(self, operation: str, location: str, item: dict[str, Any], stream: str) -> None:
        """Buffer one item (serialized once, here) and send whatever request is now due."""
        encoded = _encode(item)
        if self.journal.enabled and self.journal.received(location, encoded, operation):
            return
        with self._lock:
            for request in self.batcher.add(operation, location, encoded, stream):
                self.dispatcher.submit(request)

    def flush(self) -> None:
        """Send every buffered item and wait until all were accepted: the drain before STATE."""
        with self._lock:
            for request in self.batcher.drain():
                self.dispatcher.submit(request)
            self.dispatcher.wait()

    def close(self) -> None:
        """Stop the request threads and release the HTTP connections."""
        self.dispatcher.close()
        self.client.close()
        self.journal.close()

    def _send(self, request: Request) -> None:
        what = (
            f"{request.operation} of {request.count} items at location "
            f"'{request.location}' (stream {request.stream})"
        )
        self.journal.sending(request)
        try:
            content = self.client.post(
                self.api.url(request.operation),
                self.api.body(request.location, request.parts),
                what,
                idempotent=request.operation == "refresh",
            )
        except AmbiguousRequestError:
            raise
        except ApiError:
            self.journal.not_applied(request)
            raise
        try:
            job_id = self.api.job_id(content)
        except MissingJobIdError as error:
            raise ApiError(f"The API accepted the {what} but {error}: {content[:500]!r}") from None
        self.journal.accepted(request, job_id)
        self.ledger.record(
            {
                "jobID": job_id,
                "operation": request.operation,
                "locationName": request.location,
                "items": request.count,
                "stream": request.stream,
            }
        )
        self.logger.info("Job %s accepted: %s.", job_id, what)
