"""What the destination accepted: the ledger for the next STATE, the job log, waiting for jobs.

The loader hands over each accepted request (`JobTracker.accepted`); with `wait_for_jobs` each
job is polled on the destination's job queue (jobs.JobWaiter) until it is final, and a FAILED
one goes to the dead letters (set aside, or raised to stop the run).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.client import ApiError
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.jobs import Job, JobError, JobLog, JobWaiter

if TYPE_CHECKING:
    from target_kibo_inventory.batching import Request
    from target_kibo_inventory.client import Sender
    from target_kibo_inventory.dead_letter import DeadLetters
    from target_kibo_inventory.destinations.base import Answer, Destination, JobStatus
    from target_kibo_inventory.journal import Journal
    from target_kibo_inventory.loader import LoaderOptions
    from target_kibo_inventory.summary import RunStats


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

    def pop_unreported(self) -> dict[str, list[dict[str, Any]]]:
        """The entries noted since the last call, removed (`jobs` always, `requests` when any)."""
        with self._lock:
            taken = self._entries
            self._entries = {"jobs": [], "requests": []}
        return {kind: entries for kind, entries in taken.items() if entries or kind == "jobs"}

    def __len__(self) -> int:
        """How many entries wait for the next `pop_unreported`."""
        with self._lock:
            return sum(len(entries) for entries in self._entries.values())


class JobTracker:
    """Notes each accepted request; with `wait_for_jobs`, polls each job until it is final.

    A job's entry goes to the ledger (the next STATE), the log and the job log; the items a
    destination refused in an accepted request, and a FAILED job, go to `dead_letters`.
    """

    def __init__(
        self,
        destination: Destination,
        client: Sender,
        journal: Journal,
        dead_letters: DeadLetters,
        stats: RunStats,
        logger: logging.Logger,
        options: LoaderOptions,
        stopping: threading.Event,
    ) -> None:
        """`stopping` is set on SIGTERM: waiting for jobs ends."""
        self.destination = destination
        self.client = client
        self.journal = journal
        self.dead_letters = dead_letters
        self.stats = stats
        self.logger = logger
        self.ledger = Ledger()
        self.job_log = JobLog(options.job_log_path) if options.job_log_path else None
        self.wait_timeout_seconds = options.job_wait_timeout_seconds
        self.waiter = self._waiter(options, stopping)
        self._unfinished_logged = False

    def _waiter(self, options: LoaderOptions, stopping: threading.Event) -> JobWaiter | None:
        """The job waiter of `wait_for_jobs`; None in a dry run or without a job queue."""
        if not options.wait_for_jobs or options.dry_run is not None:
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
            stopping=stopping,
        )

    @property
    def waits(self) -> bool:
        """Whether accepted jobs are polled until final."""
        return self.waiter is not None

    @property
    def waiting(self) -> bool:
        """Whether some accepted job is not final yet."""
        return self.waiter is not None and self.waiter.pending > 0

    def check(self) -> None:
        """Raise the first failure of a job (before more is sent)."""
        if self.waiter is not None:
            self.waiter.check()

    def accepted(self, request: Request, answer: Answer, description: str) -> None:
        """Note an accepted request in the journal, the ledger and the logs; track its job."""
        waited = self.waiter is not None and answer.job_id is not None
        self.journal.accepted(request, answer.job_id, final=not waited)
        self.stats.request_done(request.operation, request.location, request.count, answer.job_id)
        level = logging.INFO if self.stats.accepted_line_at_info() else logging.DEBUG
        if answer.job_id is not None:
            self._job_accepted(request, answer.job_id, description, level)
        else:
            self._items_answered(request, answer, description, level)
        if answer.failed:
            self.dead_letters.failed_items(
                self.destination.name,
                request.location,
                request.stream_label,
                answer.failed,
                request.sources,
            )

    def _job_accepted(
        self, request: Request, job_id: int | str, description: str, level: int
    ) -> None:
        entry = {
            "jobID": job_id,
            "operation": request.operation,
            self.destination.location_key: request.location,
            "items": request.count,
            "stream": request.stream_label,
        }
        self.ledger.record("jobs", entry)
        self.logger.log(level, "Job %s accepted: %s.", job_id, description)
        if self.waiter is not None:
            self.waiter.track(self._job(request, entry))
        elif self.job_log is not None:
            self.job_log.write(self._job_log_line(entry))

    def _items_answered(
        self, request: Request, answer: Answer, description: str, level: int
    ) -> None:
        entry = {
            "destination": self.destination.name,
            self.destination.location_key: request.location,
            "items": request.count,
            "succeeded": answer.succeeded,
            "failed": len(answer.failed),
            "stream": request.stream_label,
        }
        self.ledger.record("requests", entry)
        self.logger.log(
            level,
            "Accepted: %s; %d succeeded, %d failed.",
            description,
            answer.succeeded,
            len(answer.failed),
        )
        if self.job_log is not None:
            self.job_log.write({**self._job_log_line(entry), "jobID": None})

    def wait_until_final(self) -> None:
        """Wait until every accepted job is final (at most job_wait_timeout_seconds)."""
        if self.waiter is not None and self.waiter.pending:
            self.logger.info(
                "Waiting for %d job(s) to finish before writing the state (wait_for_jobs).",
                self.waiter.pending,
            )
            self.waiter.wait(self.wait_timeout_seconds)

    def stop(self) -> None:
        """Stop polling; the jobs never seen final go to the job log with their last status.

        Once only: a failing run calls this before the loader closes.
        """
        if self.waiter is not None:
            self.waiter.close()
            if self.job_log is not None and not self._unfinished_logged:
                self._unfinished_logged = True
                for job in self.waiter.unfinished():
                    self.job_log.write({**self._job_log_line(job.entry), "status": job.status})
        if self.job_log is not None:
            self.job_log.close()

    def _job(self, request: Request, entry: dict[str, Any]) -> Job:
        keep_items = self.dead_letters.keeps_failed_jobs
        return Job(
            entry["jobID"],
            request.operation,
            request.location,
            request.count,
            request.stream_label,
            entry,
            list(request.item_chunks) if keep_items else None,
            incident=request.incident,
        )

    def _read_job(self, job: Job) -> JobStatus:
        """One poll of a job on the destination's job queue."""
        description = f"the status of {job.describe()}"
        queue = self.destination.job_queue
        if queue is None:
            raise JobError(
                f"Could not read {description}: {self.destination.name} has no job queue."
            )
        url = queue.job_url(job.job_id)
        try:
            content = self.client.get(url, description)
            [status] = queue.read_jobs(content)
        except (ApiError, AnswerError, ValueError) as error:
            raise JobError(
                f"Could not read {description} from {url}: {error}. The job was accepted; check "
                "it in the job queue before running again (a 404 means this job queue does not "
                "know it: check api_package)."
            ) from None
        return status

    def _job_final(self, job: Job, status: JobStatus) -> None:
        """A job is SUCCESS or FAILED: note it everywhere; a FAILED one goes to the dead letters."""
        job.status = status.status
        job.entry["status"] = status.status
        if status.item_count is not None:
            job.entry["itemCount"] = status.item_count
        self.stats.job_final(job.job_id, status.status)
        self.journal.job_final(job.location, job.incident, applied=_applied(status))
        if self.job_log is not None:
            line = self._job_log_line(job.entry)
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

    def _job_log_line(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A ledger entry as a job log line (the location under one name for every API)."""
        line = {"destination": self.destination.name}
        for key, value in entry.items():
            line["location" if key == self.destination.location_key else key] = value
        line.setdefault("operation", "refresh")
        return line


def read_job_status(
    destination: Destination, client: Sender, job_id: int | str
) -> tuple[str, int | None] | None:
    """A job's status and itemCount, read from the job queue (None: there is none)."""
    queue = destination.job_queue
    if queue is None:
        return None
    [status] = queue.read_jobs(client.get(queue.job_url(job_id), f"job {job_id}"))
    return status.status, status.item_count


def _applied(status: JobStatus) -> bool | None:
    """Whether a final job applied its items: SUCCESS yes; FAILED with itemCount 0 no.

    A FAILED job with another itemCount, or none, cannot tell (None).
    """
    if status.status == "SUCCESS":
        return True
    return False if status.item_count == 0 else None
