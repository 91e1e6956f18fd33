"""Late copies: a try that may still be applied after its failure must not land after newer items.

A try that got no answer from the API itself (a timeout, a lost connection, a 502 or 504) may
still be applied, late. Before the next request for its location, the guard waits
`maybe_applied_wait_seconds` from that try's start; with `wait_for_jobs` it reads the location's
newest jobs meanwhile and stops waiting once the copy shows there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from target_kibo_inventory.client import ApiError
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.jobs import poll_delays
from target_kibo_inventory.rules import clip

if TYPE_CHECKING:
    import logging
    import threading

    from target_kibo_inventory.batching import Request
    from target_kibo_inventory.client import Sender
    from target_kibo_inventory.destinations.base import Destination, JobStatus

POLL_SECONDS = (1.0, 10.0)
"""Get Jobs while waiting out a late copy: every second at first, at most every 10 s."""
CLOCK_MARGIN_SECONDS = 1.0
"""A late copy is a job added after its try began, less this much for the clocks' skew."""


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


class LateCopyGuard:
    """Holds a location's next request until a late copy of an earlier try cannot land after it.

    The request threads call `possible` (the client's `on_late_copy`), `answered` and `wait`;
    a location's requests run one at a time, so each location's entry has one writer.
    """

    def __init__(
        self,
        destination: Destination,
        client: Sender,
        logger: logging.Logger,
        *,
        wait_seconds: float,
        stopping: threading.Event,
        confirm: bool,
    ) -> None:
        """`confirm`: read the job queue to see a copy land (with `wait_for_jobs`)."""
        self.destination = destination
        self.client = client
        self.logger = logger
        self.wait_seconds = wait_seconds
        self.stopping = stopping
        self.confirm = confirm
        self._late: dict[str, LateCopy] = {}
        self._answered: set[str] = set()

    def possible(self, request: Request, started: float) -> None:
        """A try of this request, begun at monotonic `started`, may still land, late."""
        until = started + self.wait_seconds
        began = time.time() - (time.monotonic() - started)
        late = self._late.get(request.location)
        if late is not None and late.request is request:  # another try of it
            late.until = max(late.until, until)
            late.tries += 1
            return
        self._late[request.location] = LateCopy(
            until, began, request.operation, request.count, request
        )

    def answered(self, job_id: int | str) -> None:
        """A job this run was answered with: never taken for a late copy."""
        self._answered.add(_job_key(job_id))

    def wait(self, location: str) -> None:
        """Before a newer request for a location, wait out a late copy of an earlier try."""
        late = self._late.pop(location, None)
        wait = late.until - time.monotonic() if late is not None else 0.0
        if late is None or wait <= 0:
            return
        confirm = self.confirm
        self.logger.warning(
            "Waiting %s%.0f s before sending newer items to location '%s': an earlier try "
            "there may have been applied without an answer, and a late copy of it must "
            "not land after them (maybe_applied_wait_seconds)%s.",
            "up to " if confirm else "",
            wait,
            clip(location),
            "; less once the job queue shows it landed (wait_for_jobs)" if confirm else "",
        )
        if confirm and self._landed(location, late):
            return
        remaining = late.until - time.monotonic()
        if remaining > 0 and self.stopping.wait(remaining):
            raise InterruptedError(f"stopped while waiting to send to location '{location}'")

    def _landed(self, location: str, late: LateCopy) -> bool:
        """Whether the location's newest jobs come to show a late copy of each try (else False).

        Such a copy is a job of the same type and item count, added after the first such try
        began, that is none of this run's jobs.
        """
        queue = self.destination.job_queue
        if queue is None:  # no job queue to read: wait the full time
            return False
        url = queue.jobs_url(location, types=[late.operation.upper()], limit=20)
        delays = poll_delays(*POLL_SECONDS, jitter=0.0)
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
            copies = [job.job_id for job in jobs if self._is_copy(job, late)]
            if len(copies) >= late.tries:
                self.logger.info(
                    "The late copy of the earlier try at location '%s' landed as job(s) %s: "
                    "sending the newer items now, after %.0f s.",
                    clip(location),
                    ", ".join(str(job_id) for job_id in copies),
                    time.monotonic() - started,
                )
                return True

    def _is_copy(self, job: JobStatus, late: LateCopy) -> bool:
        if _job_key(job.job_id) in self._answered:
            return False
        if (job.type or "").upper() != late.operation.upper() or job.item_count != late.items:
            return False
        added = _timestamp(job.added)
        return added is not None and added >= late.began - CLOCK_MARGIN_SECONDS


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
