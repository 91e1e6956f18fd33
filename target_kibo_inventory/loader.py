"""The run's loader, shared by all sinks: one batcher, the destination, and the ledger of what
the destination accepted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from target_kibo_inventory.batching import Batcher, Request
from target_kibo_inventory.client import AmbiguousRequestError, ApiError, Sender
from target_kibo_inventory.destinations.base import Answer, AnswerError, Destination, FailedItem
from target_kibo_inventory.dispatch import Dispatcher
from target_kibo_inventory.journal import Journal


class Ledger:
    """What the destination accepted and no STATE message reported yet; thread-safe.

    `jobs`: requests answered with a job ID (Kibo). `requests`: requests answered item by
    item (Increff).
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[dict[str, Any]]] = {"jobs": [], "requests": []}
        self._lock = threading.Lock()

    def record(self, kind: str, entry: dict[str, Any]) -> None:
        """Note an accepted request ('jobs' or 'requests')."""
        with self._lock:
            self._entries[kind].append(entry)

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """The entries noted since the last call (`jobs` always, `requests` when any)."""
        with self._lock:
            taken = self._entries
            self._entries = {"jobs": [], "requests": []}
        return {kind: entries for kind, entries in taken.items() if entries or kind == "jobs"}

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._entries.values())


class InventoryLoader:
    """Buffers items by location and sends each request when it is due, in order per location.

    Everything that differs between APIs comes from the destination; `on_failed_items` is
    told of the items a destination refused in an accepted request (it sets them aside, or
    raises to stop the run).
    """

    def __init__(
        self,
        destination: Destination,
        client: Sender,
        journal: Journal,
        logger: logging.Logger,
        *,
        max_buffered_items: int,
        max_parallel_requests: int,
        resend_ambiguous_adjusts: bool,
        maybe_applied_wait_seconds: float,
        stopping: threading.Event,
        on_failed_items: Callable[[Request, list[FailedItem]], None],
    ) -> None:
        self.destination = destination
        self.client = client
        self.journal = journal
        self.logger = logger
        self.batcher = Batcher(
            full_sizes={op: destination.full_size(op) for op in destination.operations},
            steps={op: destination.cost_step(op) for op in destination.operations},
            max_buffered=max_buffered_items,
        )
        self.ledger = Ledger()
        self.dispatcher = Dispatcher(
            self._send, max_parallel=max_parallel_requests, max_queued=2 * max_parallel_requests
        )
        self.resend_ambiguous_adjusts = resend_ambiguous_adjusts
        self.maybe_applied_wait = maybe_applied_wait_seconds
        self.on_failed_items = on_failed_items
        self.stopping = stopping
        """Set on SIGTERM: waits end early."""
        self._late_copy_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, operation: str, location: str, item: dict[str, Any], stream: str) -> None:
        """Buffer one item (encoded once, here) and send whatever request is now due."""
        encoded = self.destination.encode_item(location, item)
        if self.journal.enabled and self.journal.received(location, encoded, operation):
            self._add_released(stream)
            return
        self._batch(operation, location, encoded, stream)

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

    def _batch(self, operation: str, location: str, encoded: bytes, stream: str) -> None:
        with self._lock:
            for request in self.batcher.add(operation, location, encoded, stream):
                self.dispatcher.submit(request)

    def _add_released(self, stream: str) -> None:
        """Items the journal held back and then found were not applied: send them now."""
        released, self.journal.released = self.journal.released, []
        for location, encoded, operation in released:
            self._batch(operation, location, encoded, stream)

    def _send(self, request: Request) -> None:
        what = (
            f"{request.operation} of {request.count} items at location "
            f"'{request.location}' (stream {request.stream})"
        )
        http = self.destination.request(request.operation, request.location, request.parts)
        self._wait_for_late_copies(request.location)
        self.journal.sending(request)
        try:
            content = self.client.send(
                http,
                what,
                resend_if_maybe_applied=self._may_resend(request.operation),
                on_late_copy=lambda started: self._late_copy_possible(request, started),
            )
        except AmbiguousRequestError as error:
            raise AmbiguousRequestError(
                f"{error}. It was not sent again, so that it cannot be applied twice. Check "
                "this location's stock (or Kibo's job queue) before running again, or set "
                "adjust_retry_ambiguous: true to retry such requests (at-least-once)."
            ) from None
        except ApiError:
            self.journal.not_applied(request)
            raise
        answer = self._read(request, content, what)
        self.journal.accepted(request, answer.job_id)
        self._record(request, answer, what)

    def _may_resend(self, operation: str) -> bool:
        """Absolute counts may be sent twice; deltas only when adjust_retry_ambiguous says so."""
        return operation != "adjust" or self.resend_ambiguous_adjusts

    def _read(self, request: Request, content: bytes, what: str) -> Answer:
        try:
            return self.destination.read_answer(request.operation, content, request.parts)
        except AnswerError as error:
            raise ApiError(f"The API accepted the {what} but {error}: {content[:500]!r}") from None

    def _record(self, request: Request, answer: Answer, what: str) -> None:
        """Note what the destination accepted; hand over the items it refused."""
        location_key = self.destination.location_key
        if answer.job_id is not None:
            entry = {
                "jobID": answer.job_id,
                "operation": request.operation,
                location_key: request.location,
                "items": request.count,
                "stream": request.stream,
            }
            self.ledger.record("jobs", entry)
            self.logger.info("Job %s accepted: %s.", answer.job_id, what)
        else:
            entry = {
                "destination": self.destination.name,
                location_key: request.location,
                "items": request.count,
                "succeeded": answer.succeeded,
                "failed": len(answer.failed),
                "stream": request.stream,
            }
            self.ledger.record("requests", entry)
            self.logger.info(
                "Accepted: %s; %d succeeded, %d failed.", what, answer.succeeded, len(answer.failed)
            )
        if answer.failed:
            self.on_failed_items(request, answer.failed)

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
