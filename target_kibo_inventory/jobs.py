"""Waiting for jobs, and the job log.

Each accepted job is polled on its destination's job queue until it is SUCCESS or FAILED,
locations concurrently, with a backoff per job. The waiter knows nothing of HTTP: the
loader gives it `read` (one poll of one job) and `on_final` (what a final status means for
the run).
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.files import AppendFile
from target_kibo_inventory.redaction import redact
from target_kibo_inventory.rules import clip

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Sequence

    from target_kibo_inventory.destinations.base import JobStatus

POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 30.0
POLL_JITTER = 0.1
"""Each wait is within ±10% of its step, so that jobs accepted together are not polled in
lockstep."""
SHOWN_JOBS = 20
"""Most jobs an error names (with the count of all)."""
SHOWN_MESSAGES = 10
"""Most messages of a failed job an error shows (with the count of all)."""
WAITING_STATUSES = frozenset({"PENDING", "WORKING"})


class JobError(RuntimeError):
    """A job ended FAILED, could not be read, or did not finish in time."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


class JobFailedError(JobError):
    """A job ended FAILED."""


class JobWaitTimeoutError(JobError):
    """Jobs were still pending when job_wait_timeout_seconds ran out."""


class JobsNotFinalError(JobWaitTimeoutError):
    """The run is stopping (SIGTERM) while accepted jobs are not final: its message names them."""


def poll_delays(
    first: float = POLL_FIRST_SECONDS,
    cap: float = POLL_MAX_SECONDS,
    jitter: float = POLL_JITTER,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """The waits between polls of one job: `first`, doubling up to `cap`, each within ±jitter."""
    step = first
    while True:
        yield min(cap, step * (1 + jitter * (2 * rng() - 1)))
        step = min(cap, step * 2)


@dataclass(eq=False)
class Job:
    """An accepted job, waited for."""

    job_id: int | str
    operation: str
    location: str
    items: int
    stream: str
    entry: dict[str, Any]
    """Its entry in the ledger (the state): `status` and `itemCount` are added when known."""
    item_chunks: Sequence[bytes] | None = None
    """The items it carried, kept only to set a failed job aside with them."""
    incident: str | None = None
    """The crash journal's ID of its request (when it carried movements)."""
    accepted: float = field(default_factory=time.monotonic)
    status: str = "PENDING"
    """The last status read."""

    def describe(self) -> str:
        """`job 12 (refresh of 5 items at location 'L', stream s)`."""
        return (
            f"job {self.job_id} ({self.operation} of {self.items} items at location "
            f"'{clip(self.location)}', stream {clip(self.stream)})"
        )


def shown_messages(status: JobStatus) -> str:
    """A job's first messages, and how many more there are."""
    messages = list(status.messages)
    shown = "; ".join(clip(m) for m in messages[:SHOWN_MESSAGES]) or "(no messages)"
    more = f" (and {len(messages) - SHOWN_MESSAGES} more)" if len(messages) > SHOWN_MESSAGES else ""
    return shown + more


def failed_job_message(job: Job, status: JobStatus, *, destination: str) -> str:
    """What a FAILED job means, with its messages, and what to do."""
    counted = "" if status.item_count is None else f", itemCount {status.item_count}"
    return (
        f"{destination.capitalize()} {job.describe()} ended FAILED{counted}: "
        f"{shown_messages(status)}. "
        "No STATE was "
        "written past it. Fix what the messages name and run again, or set "
        "on_invalid_record: dead_letter to set failed jobs aside (with their items) and go on."
    )


class JobWaiter:
    """Polls accepted jobs until each is final, on `threads` threads.

    Per location only the oldest job not yet final is polled (a location's jobs are queued in
    order); when it is final, the next one is polled at once. Each job waits `poll_delays`
    between its polls, so there is never a tight loop. The first error (a FAILED job that
    `on_final` raises for, a job that cannot be read) stops the polling and is raised by
    `wait` and `check`.
    """

    def __init__(
        self,
        read: Callable[[Job], JobStatus],
        on_final: Callable[[Job, JobStatus], None],
        logger: logging.Logger,
        *,
        threads: int,
        first_delay: float = POLL_FIRST_SECONDS,
        max_delay: float = POLL_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        stopping: threading.Event | None = None,
    ) -> None:
        self._read = read
        self._stopping = stopping
        self._on_final = on_final
        self.logger = logger
        self._threads_wanted = max(1, threads)
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self._locations: dict[str, deque[Job]] = {}
        self._delays: dict[Job, Iterator[float]] = {}
        """Each job's waits between its polls."""
        self._due: list[tuple[float, int, str]] = []  # (when, tie-breaker, location)
        self._sequence = itertools.count()
        self._pending = 0
        self._error: BaseException | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._unknown_statuses: set[str] = set()
        self._changed = threading.Condition()
        self.polls = 0
        """Polls made (for the tests and the summary)."""

    @property
    def pending(self) -> int:
        """Jobs not final yet."""
        return self._pending

    def track(self, job: Job) -> None:
        """Wait for this job (behind the earlier ones of its location)."""
        with self._changed:
            self._raise_error()
            delays = self._delays[job] = poll_delays(self._first_delay, self._max_delay)
            queue = self._locations.setdefault(job.location, deque())
            queue.append(job)
            self._pending += 1
            if len(queue) == 1:
                self._schedule(job, self._clock() + next(delays))
            if len(self._threads) < min(self._threads_wanted, len(self._locations)):
                self._start_thread()
            self._changed.notify_all()

    def wait(self, timeout: float) -> None:
        """Block until every tracked job is final; raise the first error.

        Raises JobWaitTimeoutError naming the jobs still pending after `timeout` seconds, or
        JobsNotFinalError as soon as the run is stopping.
        """
        deadline = self._clock() + timeout
        with self._changed:
            while self._pending and self._error is None:
                remaining = deadline - self._clock()
                if self._stopping is not None and self._stopping.is_set():
                    raise JobsNotFinalError(self._pending_jobs())
                if remaining <= 0:
                    raise JobWaitTimeoutError(self._timeout_message(timeout))
                self._changed.wait(min(remaining, 1.0))
            self._raise_error()

    def check(self) -> None:
        """Raise the first error, if any (cheap: called before each request)."""
        if self._error is not None:
            with self._changed:
                self._raise_error()

    def unfinished(self) -> list[Job]:
        """The jobs not final yet, oldest first."""
        with self._changed:
            return [job for queue in self._locations.values() for job in queue]

    def close(self) -> None:
        """Stop polling (a poll under way ends on its own; the threads are daemons)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # The polling threads

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"kibo-jobs-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _schedule(self, job: Job, when: float) -> None:
        heapq.heappush(self._due, (when, next(self._sequence), job.location))

    def _work(self) -> None:
        while True:
            with self._changed:
                job = self._next_due()
                if job is None:
                    return
            try:
                status = self._read(job)
                self.polls += 1
                if status.final:
                    self._on_final(job, status)
                else:
                    self._note_waiting(job, status)
            except BaseException as error:
                with self._changed:
                    self._error = self._error or error
                    self._changed.notify_all()
                return
            with self._changed:
                self._after_poll(job, status.final)

    def _next_due(self) -> Job | None:
        """The next job whose poll is due, waiting for it; None once closed or failed."""
        while not self._closed and self._error is None:
            now = self._clock()
            if self._due and self._due[0][0] <= now:
                _, _, location = heapq.heappop(self._due)
                return self._locations[location][0]
            timeout = self._due[0][0] - now if self._due else None
            self._changed.wait(timeout)
        return None

    def _note_waiting(self, job: Job, status: JobStatus) -> None:
        job.status = status.status
        if status.status not in WAITING_STATUSES and status.status not in self._unknown_statuses:
            self._unknown_statuses.add(status.status)
            self.logger.warning(
                "The job queue answered status '%s' for %s, which is neither final (SUCCESS, "
                "FAILED) nor PENDING or WORKING: waiting on.",
                clip(status.status),
                job.describe(),
            )

    def _after_poll(self, job: Job, final: bool) -> None:
        now = self._clock()
        if not final:
            self._schedule(job, now + next(self._delays[job]))
            return
        del self._delays[job]
        queue = self._locations[job.location]
        queue.popleft()
        self._pending -= 1
        if queue:
            following = queue[0]
            self._schedule(following, max(now, following.accepted + self._first_delay))
        else:
            del self._locations[job.location]
        self._changed.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _pending_jobs(self) -> str:
        """The jobs not final yet, named (the first SHOWN_JOBS) and counted."""
        jobs = sorted(
            (job for queue in self._locations.values() for job in queue),
            key=lambda job: (str(type(job.job_id)), job.job_id),
        )
        shown = "; ".join(f"{job.describe()}, last seen {job.status}" for job in jobs[:SHOWN_JOBS])
        more = f" (and {len(jobs) - SHOWN_JOBS} more)" if len(jobs) > SHOWN_JOBS else ""
        return f"{len(jobs)} job(s) not finished: {shown}{more}"

    def _timeout_message(self, timeout: float) -> str:
        return (
            f"After {timeout:g} s (job_wait_timeout_seconds), {self._pending_jobs()}. They "
            "were accepted and may still "
            "finish: check them in the job queue. No STATE was written past them, so the "
            "next run sends their items again; raise job_wait_timeout_seconds if the queue "
            "is this slow."
        )


class JobLog:
    """Appends each accepted job (or item-by-item request) as one JSON line to a file.

    The file outlives the state: it is the history of every job sent.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._file = AppendFile(self.path, "the job log", "job_log_path")  # owner-only

    def write(self, entry: dict[str, Any]) -> None:
        """Append one line, with the time."""
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **entry}
        job = entry.get("jobID")
        what = (
            f"job {job}"
            if job is not None
            else f"a request at '{clip(str(entry.get('location')))}'"
        )
        text = redact(json.dumps(line, default=str))  # a job's messages may echo a secret
        self._file.write(text + "\n", f"the job log line of {what}")

    def close(self) -> None:
        """Close the file."""
        self._file.close()
