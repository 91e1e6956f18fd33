"""The run's loader, shared by all sinks: items in, requests out, in order per location.

It holds one batcher; what the destination accepted goes to its job tracker, and a late copy of
a failed try is kept from landing after newer items by its late-copy guard.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.batching import Batcher, Request, Spill, encode_item, identity_by
from target_kibo_inventory.client import AmbiguousRequestError, ApiError, Sender
from target_kibo_inventory.dispatch import Dispatcher
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.late_copies import LateCopyGuard
from target_kibo_inventory.summary import RunStats
from target_kibo_inventory.tracking import JobTracker

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Hashable
    from pathlib import Path

    from target_kibo_inventory.dead_letter import DeadLetters
    from target_kibo_inventory.destinations.base import Answer, Destination
    from target_kibo_inventory.dry_run import DryRun
    from target_kibo_inventory.journal import Journal
    from target_kibo_inventory.settings import Settings


@dataclass(frozen=True)
class LoaderOptions:
    """How the loader runs: the settings it reads (`from_settings`), and a dry run's writer."""

    max_buffered_items: int
    max_parallel_requests: int
    resend_ambiguous_adjusts: bool = False
    """adjust_retry_ambiguous: an adjust that may have been applied is sent again."""
    maybe_applied_wait_seconds: float = 0.0
    wait_for_jobs: bool = False
    job_wait_timeout_seconds: float = 3600.0
    job_log_path: str | None = None
    dry_run: DryRun | None = None
    """With a dry run, each request is written to a file instead of sent."""
    counts_only: bool = False
    """No stream is sent as adjust: at the memory cap, counts are set aside on disk (Spill)
    rather than sent early, so that requests stay full."""

    @classmethod
    def from_settings(cls, settings: Settings, dry_run: DryRun | None = None) -> LoaderOptions:
        """The options the run's settings give."""
        return cls(
            max_buffered_items=settings.max_buffered_items,
            max_parallel_requests=settings.max_parallel_requests,
            resend_ambiguous_adjusts=settings.adjust_retry_ambiguous,
            maybe_applied_wait_seconds=settings.maybe_applied_wait_seconds,
            wait_for_jobs=settings.wait_for_jobs,
            job_wait_timeout_seconds=settings.job_wait_timeout_seconds,
            job_log_path=settings.job_log_path,
            dry_run=dry_run,
            counts_only="adjust" not in settings.operations,
        )


@dataclass
class _Record:
    """One record's item on its way to the batcher (held while the journal cannot tell)."""

    operation: str
    location: str
    key: Hashable
    item: bytes
    quantity: int
    stream: str
    source: Any
    reread: bool = False


class InventoryLoader:
    """Buffers items by location and sends each request when it is due, in order per location.

    Everything that differs between APIs comes from the destination. Each accepted request
    goes to `jobs` (the ledger, the job log, waiting for jobs, the items refused); `stats`
    counts what was sent. With a dry run nothing is sent: each request is written to a file.
    Items are added on the reading thread only, which waits while a drain runs; the SDK's
    drain flushes its sinks from several threads at once, so flushes take a lock. Requests go
    out on the dispatcher's threads.
    """

    def __init__(
        self,
        destination: Destination,
        client: Sender,
        journal: Journal,
        logger: logging.Logger,
        options: LoaderOptions,
        *,
        stopping: threading.Event,
        dead_letters: DeadLetters,
        stats: RunStats | None = None,
    ) -> None:
        """`stopping` is set on SIGTERM: waits end early."""
        self.destination = destination
        self.client = client
        self.journal = journal
        self.logger = logger
        operations = destination.operations
        self.batcher = Batcher(
            full_sizes={op: destination.full_size(op) for op in operations},
            steps={op: destination.cost_step(op) for op in operations},
            max_buffered=options.max_buffered_items,
            merge=destination.merge,
            bounds={op: destination.quantity_bounds(op) for op in operations},
            spill=Spill(on_first_use=self._spilling) if options.counts_only else None,
        )
        self.identity = identity_by(destination.identity_fields)
        """An item's key in the buffers."""
        self.stats = stats or RunStats(
            destination.name,
            {op: destination.full_size(op) for op in operations},
            {op: destination.cost_step(op) for op in operations},
            words=destination.words,
            dry_run=options.dry_run is not None,
        )
        self.jobs = JobTracker(
            destination, client, journal, dead_letters, self.stats, logger, options, stopping
        )
        self.late_copies = LateCopyGuard(
            destination,
            client,
            logger,
            wait_seconds=options.maybe_applied_wait_seconds,
            stopping=stopping,
            confirm=self.jobs.waits,
        )
        self.resend_ambiguous_adjusts = options.resend_ambiguous_adjusts
        self.skipped = 0
        """Movements not sent because they were applied before (a resumed or re-read tap)."""
        self._flush_lock = threading.Lock()
        self._held: dict[str, list[_Record]] = {}
        parallel = options.max_parallel_requests
        dry_run = options.dry_run
        send = self._send if dry_run is None else functools.partial(self._write_planned, dry_run)
        self.dispatcher = Dispatcher(send, max_parallel=parallel, max_queued=parallel)

    def add(
        self,
        operation: str,
        location: str,
        item: dict[str, Any],
        stream: str,
        *,
        source: Any = None,
        bookmark: tuple[Any, str] | None = None,
    ) -> None:
        """Fold one item into its location's buffers and send whatever request is now due.

        `source` names its record (for dead letters). `bookmark` is a movement's bookmark value
        and name when its stream has a bookmark: a re-read of one applied before is skipped.
        """
        journal = self.journal
        key = self.identity(item)
        encoded = encode_item(item)
        held = self._held.get(location) if self._held else None
        if operation != "adjust" and held is None:  # the common case, without a record object
            if journal.notes_counts:
                journal.note_count(location, key)
            due = self.batcher.add(
                operation, location, key, encoded, item["quantity"], stream, source=source
            )
            for request in due:
                self._submit(request)
            return
        record = _Record(operation, location, key, encoded, item["quantity"], stream, source)
        if operation != "adjust":
            held.append(record)  # type: ignore[union-attr]  # held is set: see above
            return
        if bookmark is not None:
            record.reread = journal.bookmarks.received(stream, location, *bookmark)
        verdicts = journal.movement(location, record.item, tracked=bookmark is not None)
        if verdicts is None:  # the journal cannot tell yet: hold the location's records
            self._held.setdefault(location, []).append(record)
            return
        if held is not None:
            del self._held[location]
            verdicts = self._release_held(held, verdicts)
        self._movement(record, *verdicts[-1])

    def _spilling(self, folder: Path) -> None:
        self.logger.info(
            "max_buffered_items (%d) reached: counts wait in %s until their location's "
            "requests go out (removed at the end), so that requests stay full.",
            self.batcher.max_buffered,
            folder,
        )

    def count_lane(self, stream: str) -> Callable[[str, dict[str, Any], bytes, bytes], None]:
        """`add` of a stream's plain counts (no record kept, no bookmark), in one call.

        The caller gives each item with its key (`identity`) and its encoding (`encode_item`).
        """
        journal, batcher = self.journal, self.batcher
        store = batcher.count_lane(stream)

        def add_count(location: str, item: dict[str, Any], key: bytes, encoded: bytes) -> None:
            if self._held or journal.notes_counts:
                self.add("refresh", location, item, stream)
            elif not store(location, key, encoded):
                quantity = item["quantity"]
                for request in batcher.add("refresh", location, key, encoded, quantity, stream):
                    self._submit(request)

        return add_count

    def _release_held(
        self, held: list[_Record], verdicts: list[tuple[int | None, bool]]
    ) -> list[tuple[int | None, bool]]:
        """Process a location's held records in order; return the verdicts left."""
        left = iter(verdicts)
        for record in held:
            if record.operation == "adjust":
                self._movement(record, *next(left))
            else:
                self.journal.note_count(record.location, record.key)
                self._batch(record, None)
        return list(left)

    def _movement(self, record: _Record, position: int | None, applied: bool) -> None:
        """Send a movement, unless it was applied before and no count of its item came since."""
        if (applied or record.reread) and not self.journal.was_counted(record.location, record.key):
            self.skipped += 1
            return
        self._batch(record, position)

    def flush(self) -> None:
        """Send every buffered item and wait until all were accepted."""
        with self._flush_lock:
            for request in self.batcher.drain():
                self._submit(request)
            self.dispatcher.wait()

    def flush_and_wait_for_jobs(self) -> None:
        """Before a STATE: all sent and accepted, every job waited for final; the drain's line."""
        self.flush()
        self.jobs.wait_until_final()
        line = self.stats.drain_line(jobs_waited=self.jobs.waits)
        if line is not None:
            self.logger.info(line)

    def close(self) -> None:
        """Stop the request and polling threads and release the HTTP connections."""
        self.dispatcher.close()
        self.jobs.stop()
        self.client.close()
        if self.batcher.spill is not None:
            self.batcher.spill.close()

    def _batch(self, record: _Record, move: int | None) -> None:
        due = self.batcher.add(
            record.operation,
            record.location,
            record.key,
            record.item,
            record.quantity,
            record.stream,
            source=record.source,
            move=move,
        )
        for request in due:
            self._submit(request)

    def _submit(self, request: Request) -> None:
        """Queue a request; the journal notes the input's check with one carrying movements."""
        self.journal.queued(request)
        self.dispatcher.submit(request)

    def _write_planned(self, dry_run: DryRun, request: Request) -> None:
        """A dry run's request: written to a file, not sent."""
        http = self.destination.request(request.operation, request.location, request.item_chunks)
        dry_run.write(request, http)
        self.stats.request_done(request.operation, request.location, request.count)

    def _send(self, request: Request) -> None:
        description = (
            f"{self.destination.words.request(request.operation, request.count)} at location "
            f"'{request.location}' (stream {request.stream_label})"
        )
        http = self.destination.request(request.operation, request.location, request.item_chunks)
        self.jobs.check()  # a failed job stops the run before more is sent
        self.late_copies.wait(request.location)
        self.journal.sending(request)
        self.stats.request_started()
        try:
            content = self.client.send(
                http,
                description,
                resend_if_maybe_applied=self._may_resend(request.operation),
                on_late_copy=functools.partial(self.late_copies.possible, request),
            )
        except AmbiguousRequestError as error:
            raise AmbiguousRequestError(
                f"{error}. It was not sent again, so that it cannot be applied twice. Check "
                f"this location's stock (or {self.destination.words.title}'s job queue) before "
                "running again, or set "
                "adjust_retry_ambiguous: true to retry such requests (at-least-once)."
            ) from None
        except ApiError:
            self.journal.not_applied(request)
            raise
        finally:
            self.stats.request_ended()
        answer = self._read(request, content, description)
        if answer.job_id is not None:
            self.late_copies.answered(answer.job_id)  # the retry's own: no late copy
        self.jobs.accepted(request, answer, description)

    def _may_resend(self, operation: str) -> bool:
        """Absolute counts may be sent twice; deltas only when adjust_retry_ambiguous says so."""
        return operation != "adjust" or self.resend_ambiguous_adjusts

    def _read(self, request: Request, content: bytes, description: str) -> Answer:
        try:
            return self.destination.read_answer(request.operation, content, request.item_chunks)
        except AnswerError as error:
            raise ApiError(
                f"The API accepted the {description} but {error}: {content[:500]!r}"
            ) from None
