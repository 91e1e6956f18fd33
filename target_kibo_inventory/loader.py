"""The run's loader, shared by all sinks: one batcher, the API, and the ledger of accepted jobs."""

from __future__ import annotations

import logging
import threading
import time
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

    def __init__(self, settings: Settings, logger: logging.Logger, journal: Journal) -> None:
        self.logger = logger
        self.batcher = Batcher(
            full_sizes={op: settings.batch_items(op) for op in OPERATIONS},
            steps={"refresh": REFRESH_COST_STEP, "adjust": settings.adjust_batch_items},
            max_buffered=settings.max_buffered_items,
        )
        self.api = KiboTranslationApi(settings.base_url, settings.api_package)
        self.client = KiboClient(settings, logger)
        self.ledger = JobLedger()
        self.journal = journal
        self.dispatcher = Dispatcher(
            self._send,
            max_parallel=settings.max_parallel_requests,
            max_queued=2 * settings.max_parallel_requests,
        )
        self.maybe_applied_wait = settings.maybe_applied_wait_seconds
        self.stopping = threading.Event()
        """Set on SIGTERM: waits end early."""
        self._late_copy_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, location: str, item: dict[str, Any], stream: str) -> None:
        """Buffer one item (serialized once, here) and send whatever request is now due."""
        encoded = _encode(item)
        if self.journal.enabled and self.journal.received(location, encoded, operation):
            self._add_released(stream)
            return
        self._batch(operation, location, encoded, stream)

    def _batch(self, operation: str, location: str, encoded: bytes, stream: str) -> None:
        with self._lock:
            for request in self.batcher.add(operation, location, encoded, stream):
                self.dispatcher.submit(request)

    def _add_released(self, stream: str) -> None:
        """Items the journal held back and then found were not applied: send them now."""
        released, self.journal.released = self.journal.released, []
        for location, encoded, operation in released:
            self._batch(operation, location, encoded, stream)

    def flush(self) -> None:
        """Send every buffered item and wait until all were accepted: the drain before STATE."""
        with self._lock:
            for request in self.batcher.drain():
                self.dispatcher.submit(request)
            self.dispatcher.wait()

    def _late_copy_possible(self, request: Request, started: float) -> None:
        """A try of this request may still land, late: newer requests there must wait."""
        until = started + self.maybe_applied_wait
        self._late_copy_until[request.location] = max(
            until, self._late_copy_until.get(request.location, 0.0)
        )

    def _wait_for_late_copies(self, location: str) -> None:
        """Before a newer request for a location, wait out a late copy of an earlier try."""
        wait = self._late_copy_until.pop(location, 0.0) - time.monotonic()
        if wait > 0:
            self.logger.warning(
                "Waiting %.0f s before sending newer items to location '%s': an earlier try "
                "there may have been applied without an answer, and a late copy of it must "
                "not land after them (maybe_applied_wait_seconds).",
                wait,
                location,
            )
            if self.stopping.wait(wait):
                raise InterruptedError(f"stopped while waiting to send to location '{location}'")

    def close(self) -> None:
        """Stop the request threads and release the HTTP connections."""
        self.dispatcher.close()
        self.client.close()

    def _send(self, request: Request) -> None:
        what = (
            f"{request.operation} of {request.count} items at location "
            f"'{request.location}' (stream {request.stream})"
        )
        self._wait_for_late_copies(request.location)
        self.journal.sending(request)
        try:
            content = self.client.post(
                self.api.url(request.operation),
                self.api.body(request.location, request.parts),
                what,
                idempotent=request.operation == "refresh",
                on_late_copy=lambda started: self._late_copy_possible(request, started),
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
