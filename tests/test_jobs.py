"""Unit tests, in process: the job poller's backoff, concurrency, failures and timeout; reading
Kibo's JobQueueResponse; the summary's counts."""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
from collections import defaultdict

import pytest

from target_kibo_inventory.destinations.base import JobStatus
from target_kibo_inventory.destinations.increff import WORDS as INCREFF_WORDS
from target_kibo_inventory.destinations.kibo.api import WORDS, read_job_statuses
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.jobs import (
    Job,
    JobError,
    JobFailedError,
    JobWaiter,
    JobWaitTimeoutError,
    poll_delays,
)
from target_kibo_inventory.summary import Counts, RunStats, log_summary, print_table

LOGGER = logging.getLogger("test-jobs")
WAIT = 10.0
"""Most seconds a test waits for another thread (it fails rather than hangs)."""


def _job(job_id: int, location: str = "L", items: int = 5) -> Job:
    entry = {"jobID": job_id, "locationName": location, "items": items}
    return Job(job_id, "refresh", location, items, "stock", entry)


def test_poll_delays_start_near_a_second_and_double_to_a_cap():
    delays = poll_delays(1.0, 30.0, jitter=0.0)
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    jittered = poll_delays(1.0, 30.0)  # ±10%, never above the cap
    for step, delay in zip([1, 2, 4, 8, 16, 30, 30], jittered, strict=False):
        assert 0.9 * step <= delay <= min(30.0, 1.1 * step)


class Queue:
    """A fake job queue: each job answers PENDING, WORKING, ... then its final status after
    `polls[job]` polls; it records when each job was polled."""

    def __init__(self, finals: dict[int, tuple[int, str]]) -> None:
        self.finals = finals
        self.polled: dict[int, list[float]] = defaultdict(list)
        self.concurrent = 0
        self.most_concurrent = 0
        self.lock = threading.Lock()

    def read(self, job: Job) -> JobStatus:
        with self.lock:
            self.polled[job.job_id].append(time.monotonic())
            self.concurrent += 1
            self.most_concurrent = max(self.most_concurrent, self.concurrent)
        time.sleep(0.02)
        with self.lock:
            self.concurrent -= 1
        after, final = self.finals[job.job_id]
        if len(self.polled[job.job_id]) < after:
            return JobStatus(job.job_id, "WORKING", item_count=job.items)
        return JobStatus(job.job_id, final, item_count=job.items, messages=("bad item",))


def test_the_waiter_backs_off_and_polls_locations_concurrently():
    queue = Queue({1: (4, "SUCCESS"), 2: (4, "SUCCESS"), 3: (1, "SUCCESS")})
    finished = []
    first_polls = threading.Barrier(2, timeout=WAIT)  # passed only by A and B polled at once

    def read(job: Job) -> JobStatus:
        if job.job_id in (1, 2) and not queue.polled[job.job_id]:
            first_polls.wait()
        return queue.read(job)

    waiter = JobWaiter(
        read,
        lambda job, status: finished.append((job.job_id, status.status)),
        LOGGER,
        threads=4,
        first_delay=0.1,
        max_delay=0.4,
    )
    started = time.monotonic()
    for job in (_job(1, "A"), _job(2, "B"), _job(3, "A")):
        waiter.track(job)
    waiter.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert sorted(finished) == [(1, "SUCCESS"), (2, "SUCCESS"), (3, "SUCCESS")]
    for job_id in (1, 2):  # waits of about 0.1, 0.2, 0.4 (capped), 0.4 s between polls
        times = queue.polled[job_id]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(times) == 4
        assert all(gap >= 0.9 * wait for gap, wait in zip(gaps, [0.2, 0.4, 0.4], strict=True))
    assert queue.polled[3][0] >= queue.polled[1][-1]  # A's second job after its first
    assert elapsed >= 0.7  # 0.1 + 0.2 + 0.4 + 0.4 s (less 10% jitter)
    assert waiter.polls == 9  # no tight loop


def test_a_failed_job_stops_the_wait_with_the_error_on_final():
    queue = Queue({1: (2, "FAILED"), 2: (50, "SUCCESS")})

    def on_final(job: Job, status: JobStatus) -> None:
        if status.status == "FAILED":
            raise JobFailedError(f"job {job.job_id} failed: {status.messages[0]}")

    threads_before = set(threading.enumerate())
    waiter = JobWaiter(queue.read, on_final, LOGGER, threads=2, first_delay=0.05)
    waiter.track(_job(1, "A"))
    waiter.track(_job(2, "B"))
    with pytest.raises(JobFailedError, match="job 1 failed: bad item"):
        waiter.wait(timeout=10)
    with pytest.raises(JobFailedError):
        waiter.check()  # and before each later request
    polls = sum(len(times) for times in queue.polled.values())
    for poller in set(threading.enumerate()) - threads_before:  # each ends: polling stopped
        poller.join(WAIT)
        assert not poller.is_alive(), f"{poller.name} still polls after the error"
    assert sum(len(times) for times in queue.polled.values()) <= polls + 1  # one under way


def test_the_wait_is_bounded_and_names_the_pending_jobs():
    queue = Queue({1: (10**6, "SUCCESS"), 2: (10**6, "SUCCESS"), 3: (1, "SUCCESS")})
    waiter = JobWaiter(queue.read, lambda job, status: None, LOGGER, threads=2, first_delay=0.05)
    for job in (_job(1, "A", 12000), _job(2, "B", 7), _job(3, "C")):
        waiter.track(job)
    started = time.monotonic()
    with pytest.raises(JobWaitTimeoutError) as raised:
        waiter.wait(timeout=0.5)
    assert 0.5 <= time.monotonic() - started < WAIT  # bounded (the upper bound: no hang)
    message = str(raised.value)
    assert message.startswith("After 0.5 s (job_wait_timeout_seconds), 2 job(s) not finished")
    assert "job 1 (refresh of 12000 items at location 'A', stream stock), last seen WORKING" in (
        message
    )
    assert "job 2 (refresh of 7 items at location 'B'" in message
    assert "job 3" not in message
    assert sum(len(times) for times in queue.polled.values()) < 30  # about 4 polls a job
    waiter.close()


def test_a_job_that_cannot_be_read_stops_the_wait():
    def read(job: Job) -> JobStatus:
        raise JobError(f"Could not read the status of job {job.job_id}: HTTP 404")

    waiter = JobWaiter(read, lambda job, status: None, LOGGER, threads=1, first_delay=0.01)
    waiter.track(_job(42))
    with pytest.raises(JobError, match="job 42: HTTP 404"):
        waiter.wait(timeout=5)


def test_job_queue_answers_are_read_as_job_statuses():
    [job] = read_job_statuses(
        b'{"jobID": 7, "status": "SUCCESS", "itemCount": 3, "messages": [], '
        b'"locationCode": "L", "type": "REFRESH", "added": "2026-01-01T00:00:00.000+00:00"}'
    )
    assert (job.job_id, job.status, job.item_count, job.final) == (7, "SUCCESS", 3, True)
    assert (job.location, job.type) == ("L", "REFRESH")
    listed = read_job_statuses(
        b'[{"jobID": 2, "status": "WORKING"}, {"jobID": 1, "status": "FAILED", "messages": ["x"]}]'
    )
    assert [(j.job_id, j.final, j.messages) for j in listed] == [(2, False, ()), (1, True, ("x",))]
    for broken in (b"not json", b'{"status": "SUCCESS"}', b'[{"jobID": 1}]'):
        with pytest.raises(AnswerError):
            read_job_statuses(broken)


def test_summary_counts_requests_steps_and_their_optimum():
    stats = RunStats(
        "kibo", {"refresh": 12000, "adjust": 1000}, {"refresh": 3000, "adjust": 1000}, words=WORDS
    )
    for count, job_id in ((12000, 1), (9000, 2)):  # Location 1: 21000 items, the optimum
        stats.request_done("refresh", "Location 1", count, job_id)
    for count, job_id in ((3000, 3), (2000, 4)):  # Location 2: 5000 items in two requests
        stats.request_done("refresh", "Location 2", count, job_id)
    stats.request_done("adjust", "Location 2", 10, 5)
    stats.job_final(1, "SUCCESS")
    stats.job_final(2, "FAILED")
    summary = stats.summary("succeeded")
    assert (summary["requests"], summary["optimum_requests"]) == (5, 4)
    assert (summary["cost_steps"], summary["optimum_cost_steps"]) == (4 + 3 + 1 + 1 + 1, 7 + 2 + 1)
    assert summary["items"] == 26010
    assert summary["jobs"] == {"accepted": 5, "SUCCESS": 1, "FAILED": 1}
    first = summary["locations"][0]
    assert first["location"] == "Location 1"
    assert first["jobs"] == [{"jobID": 1, "status": "SUCCESS"}, {"jobID": 2, "status": "FAILED"}]
    assert [
        (p["location"], p["operation"], p["optimum_requests"]) for p in summary["locations"]
    ] == [
        ("Location 1", "refresh", 2),
        ("Location 2", "refresh", 1),
        ("Location 2", "adjust", 1),
    ]


def test_the_summary_speaks_the_destination_s_words(caplog):
    """Increff's summary names its inventory updates and counts neither cost steps nor jobs;
    Kibo's counts both."""
    kibo = RunStats("kibo", {"refresh": 12000}, {"refresh": 3000}, words=WORDS)
    increff = RunStats("increff", {"refresh": 300}, {"refresh": 300}, words=INCREFF_WORDS)
    kibo.request_done("refresh", "L", 9000, 7)
    increff.request_done("refresh", "wd001", 300)
    with caplog.at_level(logging.INFO):
        log_summary(logging.getLogger("test-summary"), kibo.summary("succeeded"), WORDS)
        log_summary(logging.getLogger("test-summary"), increff.summary("succeeded"), INCREFF_WORDS)
    kibo_line, increff_line = [m for m in caplog.messages if m.startswith("Summary")]
    assert "1 requests sent (optimum 1), 3 cost steps (optimum 3); 1 jobs;" in kibo_line
    assert "1 requests sent (optimum 1); 0 dead-lettered;" in increff_line
    table = io.StringIO()
    print_table(increff.summary("succeeded"), INCREFF_WORDS, table)
    header, row = table.getvalue().splitlines()[1:3]
    assert header.split() == ["location", "operation", "items", "requests", "(optimum)"]
    assert row.split() == ["wd001", "inventory", "update", "300", "1", "(1)"]
    assert "jobs accepted" not in increff.progress_line(Counts(), tracking_jobs=False)
    assert "1 jobs accepted" in kibo.progress_line(Counts(), tracking_jobs=False)
