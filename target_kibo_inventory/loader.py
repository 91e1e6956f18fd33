"""The run's loader, shared by all sinks.

It holds one batcher, the destination, the ledger of what the destination accepted and, with
`wait_for_jobs`, the jobs waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.batching import Batcher, Request
from target_kibo_inventory.client import AmbiguousRequestError, ApiError, Sender
from target_kibo_inventory.dispatch import Dispatcher
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.jobs import Job, JobError, JobLog, JobWaiter, poll_delays
from target_kibo_inventory.rules import clip
from target_kibo_inventory.summary import RunStats

if TYPE_CHECKING:
    from target_kibo_inventory.dead_letter import DeadLetters
    from target_kibo_inventory.destinations.base import Answer, Destination, JobStatus
    from target_kibo_inventory.dry_run import DryRun
    from target_kibo_inventory.journal import Journal
    from target_kibo_inventory.settings import Settings

ACCEPTED_LINES_AT_INFO = 20
"""A drain's first "accepted" lines go to INFO, the rest to DEBUG (its drain line counts all)."""
LATE_COPY_POLL_SECONDS = (1.0, 10.0)
"""Get Jobs while waiting out a late copy: every second at first, at most every 10 s."""
LATE_COPY_CLOCK_MARGIN_SECONDS = 1.0
"""A late copy is a job added after its try began, less this much for the clocks' skew."""


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
        )


@dataclass
class _Record:
    """One record's item on its way to the batcher (held while the journal cannot tell)."""

    operation: str
    location: str
    key: bytes
    item: bytes
    quantity: int
    stream: str
    source: Any
    reread: bool = False


@dataclass
class LateCopy:
    """Tries of a location's request that may still land, late."""

    until: float
    """Monotonic time until which the location's next request waits."""
    began: float
    """Wall-clock time the earliest such try began."""
    operation: str
    items: int
    request: Request
    tries: int = 1


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
        """How many entries wait for the next `take`."""
        with self._lock:
            return sum(len(entries) for entries in self._entries.values())


class InventoryLoader:
    """Buffers items by location and sends each request when it is due, in order per location.

    Everything that differs between APIs comes from the destination. `dead_letters` is told
    of the items a destination refused in an accepted request (it sets them aside, or raises
    to stop the run). With `wait_for_jobs` every accepted job is polled on the destination's
    job queue (`settle` waits for them before a STATE) and `dead_letters` is told of each that
    ended FAILED (it sets it aside with its items, or raises). `stats` counts what was sent;
    the job log keeps every job; with a dry run nothing is sent: each request is written to a
    file instead.
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
        self.destination = destination
        self.client = client
        self.journal = journal
        self.logger = logger
        self.batcher = Batcher(
            full_sizes={op: destination.full_size(op) for op in destination.operations},
            steps={op: destination.cost_step(op) for op in destination.operations},
            max_buffered=options.max_buffered_items,
            merge=destination.merge,
            bounds={op: destination.quantity_bounds(op) for op in destination.operations},
        )
        self._held: dict[str, list[_Record]] = {}
        self.skipped = 0
        """Movements not sent because they were applied before (a resumed or re-read tap)."""
        self.ledger = Ledger()
        parallel = options.max_parallel_requests
        self.dispatcher = Dispatcher(self._send, max_parallel=parallel, max_queued=2 * parallel)
        self.resend_ambiguous_adjusts = options.resend_ambiguous_adjusts
        self.maybe_applied_wait = options.maybe_applied_wait_seconds
        self.dead_letters = dead_letters
        self.stopping = stopping
        """Set on SIGTERM: waits end early."""
        self._late_copies: dict[str, LateCopy] = {}
        self._lock = threading.Lock()
        self.stats = stats or RunStats(
            destination.name,
            {op: destination.full_size(op) for op in destination.operations},
            {op: destination.cost_step(op) for op in destination.operations},
            words=destination.words,
        )
        self.stats.items_buffered = lambda: self.batcher.buffered_items
        self.stats.items_collapsed = lambda: self.batcher.collapsed
        self.stats.movements_skipped = lambda: self.skipped
        self.dry_run = options.dry_run
        self.job_log = JobLog(options.job_log_path) if options.job_log_path else None
        self.keep_job_items = dead_letters.keeps_failed_jobs
        self.job_wait_timeout = options.job_wait_timeout_seconds
        self.waiter = self._waiter(options) if options.wait_for_jobs else None
        self._answered_jobs: set[str] = set()
        self._unfinished_logged = False

    def _waiter(self, options: LoaderOptions) -> JobWaiter | None:
        """The job waiter of `wait_for_jobs`; None in a dry run or without a job queue."""
        if options.dry_run is not None:
            return None
        if self.destination.job_queue is None:
            self.logger.info(
                "wait_for_jobs: destination %s answers each request item by item and has "
                "no job queue, so there is nothing to wait for.",
                self.destination.name,
            )
            return None
        return JobWaiter(
            self._read_job,
            self._job_final,
            self.logger,
            threads=options.max_parallel_requests,
            stopping=self.stopping,
        )

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
        destination = self.destination
        record = _Record(
            operation,
            location,
            destination.identity(item),
            destination.encode_item(location, item),
            item["quantity"],
            stream,
            source,
        )
        held = self._held.get(location)
        if operation != "adjust":
            if held is not None:
                held.append(record)
                return
            journal.count(location, record.key)
            self._batch(record, None)
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

    def _release_held(
        self, held: list[_Record], verdicts: list[tuple[int | None, bool]]
    ) -> list[tuple[int | None, bool]]:
        """Process a location's held records in order; return the verdicts left."""
        left = iter(verdicts)
        for record in held:
            if record.operation == "adjust":
                self._movement(record, *next(left))
            else:
                self.journal.count(record.location, record.key)
                self._batch(record, None)
        return list(left)

    def _movement(self, record: _Record, position: int | None, applied: bool) -> None:
        """Send a movement, unless it was applied before and no count of its item came since."""
        if (applied or record.reread) and not self.journal.was_counted(record.location, record.key):
            self.skipped += 1
            return
        self._batch(record, position)

    def flush(self) -> None:
        """Send every buffered item and wait until all were accepted: the drain before STATE."""
        with self._lock:
            for request in self.batcher.drain():
                self._submit(request)
            self.dispatcher.wait()

    def settle(self) -> None:
        """Before a STATE is written: everything sent and accepted; then the drain's line.

        With `wait_for_jobs`, also every job final (at most job_wait_timeout_seconds).
        """
        self.flush()
        if self.waiter is not None and self.waiter.pending:
            self.logger.info(
                "Waiting for %d job(s) to finish before writing the state (wait_for_jobs).",
                self.waiter.pending,
            )
            self.waiter.wait(self.job_wait_timeout)
        self._log_drain()

    @property
    def waiting_for_jobs(self) -> bool:
        """Whether some accepted job is not final yet (with `wait_for_jobs`)."""
        return self.waiter is not None and self.waiter.pending > 0

    def close(self) -> None:
        """Stop the request and polling threads and release the HTTP connections."""
        self.dispatcher.close()
        self.stop_waiting()
        self.client.close()

    def stop_waiting(self) -> None:
        """Stop polling; the jobs never seen final go to the job log with their last status.

        Once only: a failing run calls this without closing the request threads.
        """
        if self.waiter is not None:
            self.waiter.close()
            if self.job_log is not None and not self._unfinished_logged:
                self._unfinished_logged = True
                for job in self.waiter.unfinished():
                    self.job_log.write({**self._job_log_entry(job.entry), "status": job.status})
        if self.job_log is not None:
            self.job_log.close()

    def _batch(self, record: _Record, move: int | None) -> None:
        with self._lock:
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
        """Queue a request; one carrying movements takes the journal's check of the input."""
        if request.moves and self.journal.enabled:
            request.check = self.journal.check(request.location)
        self.dispatcher.submit(request)

    def _send(self, request: Request) -> None:
        what = (
            f"{self.destination.words.request(request.operation, request.count)} at location "
            f"'{request.location}' (stream {request.stream_label})"
        )
        http = self.destination.request(request.operation, request.location, request.item_chunks)
        if self.dry_run is not None:
            self.dry_run.write(request, http)
            self.stats.request_done(request.operation, request.location, request.count)
            return
        if self.waiter is not None:
            self.waiter.check()  # a failed job stops the run before more is sent
        self._wait_for_late_copies(request.location)
        self.journal.sending(request)
        self.stats.request_started()
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
                f"this location's stock (or {self.destination.words.title}'s job queue) before "
                "running again, or set "
                "adjust_retry_ambiguous: true to retry such requests (at-least-once)."
            ) from None
        except ApiError:
            self.journal.not_applied(request)
            raise
        finally:
            self.stats.request_ended()
        answer = self._read(request, content, what)
        waited = self.waiter is not None and answer.job_id is not None
        self.journal.accepted(request, answer.job_id, final=not waited)
        self._record(request, answer, what)

    def _may_resend(self, operation: str) -> bool:
        """Absolute counts may be sent twice; deltas only when adjust_retry_ambiguous says so."""
        return operation != "adjust" or self.resend_ambiguous_adjusts

    def _read(self, request: Request, content: bytes, what: str) -> Answer:
        try:
            return self.destination.read_answer(request.operation, content, request.item_chunks)
        except AnswerError as error:
            raise ApiError(f"The API accepted the {what} but {error}: {content[:500]!r}") from None

    def _record(self, request: Request, answer: Answer, what: str) -> None:
        """Note what the destination accepted; hand over the items it refused."""
        location_key = self.destination.location_key
        self.stats.request_done(request.operation, request.location, request.count, answer.job_id)
        level = (
            logging.INFO
            if self.stats.log_accepted_at_info(ACCEPTED_LINES_AT_INFO)
            else logging.DEBUG
        )
        if answer.job_id is not None:
            entry = {
                "jobID": answer.job_id,
                "operation": request.operation,
                location_key: request.location,
                "items": request.count,
                "stream": request.stream_label,
            }
            self.ledger.record("jobs", entry)
            self.logger.log(level, "Job %s accepted: %s.", answer.job_id, what)
            self._answered_jobs.add(_job_key(answer.job_id))  # the retry's own: no late copy
            if self.waiter is not None:
                self.waiter.track(self._job(request, entry))
            elif self.job_log is not None:
                self.job_log.write(self._job_log_entry(entry))
        else:
            entry = {
                "destination": self.destination.name,
                location_key: request.location,
                "items": request.count,
                "succeeded": answer.succeeded,
                "failed": len(answer.failed),
                "stream": request.stream_label,
            }
            self.ledger.record("requests", entry)
            self.logger.log(
                level,
                "Accepted: %s; %d succeeded, %d failed.",
                what,
                answer.succeeded,
                len(answer.failed),
            )
            if self.job_log is not None:
                self.job_log.write({**self._job_log_entry(entry), "jobID": None})
        if answer.failed:
            self.dead_letters.failed_items(
                self.destination.name,
                request.location,
                request.stream_label,
                answer.failed,
                request.sources,
            )

    def _log_drain(self) -> None:
        """One INFO line per drain.

        It says what the drain sent (or planned) and, when waited for, how the jobs ended.
        """
        drain = self.stats.take_drain()
        if not drain.requests:
            return
        verb = "planned (dry run)" if self.dry_run is not None else "sent"
        jobs = f"; {drain.jobs} job(s)" if drain.jobs else ""
        if drain.jobs and self.waiter is not None:
            finals = ", ".join(f"{n} {s}" for s, n in sorted(self.stats.jobs_final.items()))
            jobs += f", all finished (this run so far: {finals})"
        hidden = drain.accepted_lines - ACCEPTED_LINES_AT_INFO
        more = f"; {hidden} more 'accepted' line(s) at DEBUG" if hidden > 0 else ""
        self.logger.info(
            "Drain: %d request(s) %s, %d items at %d location(s)%s%s.",
            drain.requests,
            verb,
            drain.items,
            len(drain.locations),
            jobs,
            more,
        )

    # Jobs (wait_for_jobs)

    def _job(self, request: Request, entry: dict[str, Any]) -> Job:
        item_chunks = list(request.item_chunks) if self.keep_job_items else None
        return Job(
            entry["jobID"],
            request.operation,
            request.location,
            request.count,
            request.stream_label,
            entry,
            item_chunks,
            incident=request.incident,
        )

    def _read_job(self, job: Job) -> JobStatus:
        """One poll of a job on the destination's job queue."""
        what = f"the status of {job.describe()}"
        queue = self.destination.job_queue
        if queue is None:
            raise JobError(f"Could not read {what}: {self.destination.name} has no job queue.")
        url = queue.job_url(job.job_id)
        try:
            content = self.client.get(url, what)
            [status] = queue.read_jobs(content)
        except (ApiError, AnswerError, ValueError) as error:
            raise JobError(
                f"Could not read {what} from {url}: {error}. The job was accepted; check it "
                "in the job queue before running again (a 404 means this job queue does not "
                "know it: check api_package)."
            ) from None
        return status

    def _job_final(self, job: Job, status: JobStatus) -> None:
        """A job is SUCCESS or FAILED: note it in the state, the log and the job log.

        A FAILED one stops the run or is set aside (`dead_letters.failed_job`).
        """
        job.status = status.status
        job.entry["status"] = status.status
        if status.item_count is not None:
            job.entry["itemCount"] = status.item_count
        self.stats.job_final(job.job_id, status.status)
        self.journal.job_final(job.location, job.incident, applied=_applied(status))
        if self.job_log is not None:
            line = self._job_log_entry(job.entry)
            if status.messages:
                line["messages"] = list(status.messages)
            self.job_log.write(line)
        if status.status == "SUCCESS":
            self.logger.debug("Job %s finished: SUCCESS.", job.job_id)
            if status.item_count is not None and status.item_count != job.items:
                self.logger.warning(
                    "%s ended SUCCESS with itemCount %d, but %d items were sent: check the "
                    "job in %s.",
                    job.describe().capitalize(),
                    status.item_count,
                    job.items,
                    self.destination.words.title,
                )
            return
        self.dead_letters.failed_job(self.destination.name, job, status)

    def _job_log_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A ledger entry as a job log line (the location under one name for every API)."""
        line = {"destination": self.destination.name}
        for key, value in entry.items():
            line["location" if key == self.destination.location_key else key] = value
        line.setdefault("operation", "refresh")
        return line

    def _late_copy_possible(self, request: Request, started: float) -> None:
        """A try of this request may still land, late: newer requests there must wait."""
        until = started + self.maybe_applied_wait
        began = time.time() - (time.monotonic() - started)
        late = self._late_copies.get(request.location)
        if late is not None and late.request is request:  # another try of it
            late.until = max(late.until, until)
            late.tries += 1
            return
        self._late_copies[request.location] = LateCopy(
            until, began, request.operation, request.count, request
        )

    def _wait_for_late_copies(self, location: str) -> None:
        """Before a newer request for a location, wait out a late copy of an earlier try.

        With `wait_for_jobs`, wait only until the job queue shows that the copy landed.
        """
        late = self._late_copies.pop(location, None)
        wait = late.until - time.monotonic() if late is not None else 0.0
        if late is None or wait <= 0:
            return
        confirm = self.waiter is not None
        self.logger.warning(
            "Waiting %s%.0f s before sending newer items to location '%s': an earlier try "
            "there may have been applied without an answer, and a late copy of it must "
            "not land after them (maybe_applied_wait_seconds)%s.",
            "up to " if confirm else "",
            wait,
            clip(location),
            "; less once the job queue shows it landed (wait_for_jobs)" if confirm else "",
        )
        if confirm and self._late_copy_landed(location, late):
            return
        remaining = late.until - time.monotonic()
        if remaining > 0 and self.stopping.wait(remaining):
            raise InterruptedError(f"stopped while waiting to send to location '{location}'")

    def _late_copy_landed(self, location: str, late: LateCopy) -> bool:
        """Whether the location's newest jobs show a late copy of each try that may land late.

        Reads them until they hold such copies (a job of the same type and item count, added
        after the first such try began, that is none of this run's jobs), or until the wait
        is over (False).
        """
        queue = self.destination.job_queue
        if queue is None:  # no job queue to read: wait the full time
            return False
        url = queue.jobs_url(location, types=[late.operation.upper()], limit=20)
        delays = poll_delays(*LATE_COPY_POLL_SECONDS, jitter=0.0)
        started = time.monotonic()
        while True:
            remaining = late.until - time.monotonic()
            if remaining <= 0:
                return False
            if self.stopping.wait(min(next(delays), remaining)):
                raise InterruptedError(f"stopped while waiting to send to location '{location}'")
            try:
                jobs = queue.read_jobs(
                    self.client.get(url, f"the jobs of location '{clip(location)}'")
                )
            except (ApiError, AnswerError) as error:
                self.logger.warning(
                    "Could not read the job queue to see the late copy land (%s): waiting the "
                    "full maybe_applied_wait_seconds.",
                    error,
                )
                return False
            copies = [job.job_id for job in jobs if self._is_late_copy(job, late)]
            if len(copies) >= late.tries:
                self.logger.info(
                    "The late copy of the earlier try at location '%s' landed as job(s) %s: "
                    "sending the newer items now, after %.0f s.",
                    clip(location),
                    ", ".join(str(job_id) for job_id in copies),
                    time.monotonic() - started,
                )
                return True

    def _is_late_copy(self, job: JobStatus, late: LateCopy) -> bool:
        if _job_key(job.job_id) in self._answered_jobs:
            return False
        if (job.type or "").upper() != late.operation.upper() or job.item_count != late.items:
            return False
        added = _timestamp(job.added)
        return added is not None and added >= late.began - LATE_COPY_CLOCK_MARGIN_SECONDS


def _applied(status: JobStatus) -> bool | None:
    """Whether a final job applied its items: SUCCESS yes; FAILED with itemCount 0 no.

    A FAILED job with another itemCount, or none, cannot tell (None).
    """
    if status.status == "SUCCESS":
        return True
    return False if status.item_count == 0 else None


def _job_key(job_id: int | str) -> str:
    """A job ID as digits without leading zeros: Kibo may answer `01234567` and list 1234567."""
    return str(job_id).lstrip("0") or "0"


def _timestamp(text: str | None) -> float | None:
    """An ISO 8601 time (UTC when it names no zone) as seconds since the epoch."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
