"""End to end: wait_for_jobs polls each accepted job on its package's job queue until it is
SUCCESS or FAILED, and the STATE reporting it comes after; failed jobs stop the run or are set
aside; the wait is bounded; the job log keeps every job across runs; a late copy is confirmed
through Get Jobs instead of waited out."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.harness import (
    EmulatorClient,
    lines,
    output_of,
    record,
    run_in_process,
    run_target,
    run_with_a_late_first_try,
    schema,
    start_target,
    state,
)

BOOKMARKS = {"bookmarks": {"stock": {"replication_key_value": "2026-11-28T08:00:00+00:00"}}}


@pytest.fixture
def emulator(queue_emulator: EmulatorClient) -> EmulatorClient:
    """wait_for_jobs on the translated endpoints reads the job queue there, which no document
    places on the translation host: an assumption the emulator plays when asked
    (`--translated-job-queue`)."""
    return queue_emulator


def _records(counts: dict[str, int], prefix: str = "S", quantity: int = 1) -> list[dict]:
    return [
        record("stock", sku=f"{prefix}{i}", location_name=location, quantity=quantity)
        for location, n in counts.items()
        for i in range(n)
    ]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


@pytest.mark.slow  # the emulator's jobs take their time
def test_the_state_is_written_once_the_queue_says_success(emulator, tmp_path):
    """9 job steps of 1.3 s: the run lasts over 10 s, so progress lines show too."""
    emulator.faults(step_seconds=1.3)
    messages = [schema("stock"), *_records({"L1": 21000, "L2": 5000}), state(BOOKMARKS)]
    config = emulator.config(wait_for_jobs=True, job_log_path="jobs.jsonl")
    (tmp_path / "config.json").write_text(json.dumps(config))
    target = start_target(tmp_path)
    target.stdin.write(lines(messages))
    target.stdin.close()
    started = time.monotonic()
    state_line = target.stdout.readline()  # blocks until the target writes its STATE
    state_at = time.monotonic() - started
    jobs_then = emulator.get("/emulator/jobs")["jobs"]  # not waiting: the queue as it was
    assert target.wait(timeout=120) == 0
    stderr = output_of(target)[1]

    assert [job["status"] for job in jobs_then] == ["SUCCESS"] * 3  # all done before the STATE
    assert state_at > 9 * 1.3  # the jobs took that long in the queue
    emitted = json.loads(state_line)
    assert emitted["bookmarks"] == BOOKMARKS["bookmarks"]
    jobs = emitted["kibo_inventory"]["jobs"]
    assert sorted((j["locationName"], j["items"], j["status"], j["itemCount"]) for j in jobs) == [
        ("L1", 9000, "SUCCESS", 9000),
        ("L1", 12000, "SUCCESS", 12000),
        ("L2", 5000, "SUCCESS", 5000),
    ]
    polls = [r for r in emulator.queue_requests() if r["jobID"] is not None]
    assert {r["path"] for r in polls} == {f"/inv/api/v1/queue/{j['jobID']}" for j in jobs}
    assert len(polls) <= 15  # a backoff per job (1, 2, 4, 8 s ...), never a tight loop
    assert "Waiting for 3 job(s) to finish before writing the state (wait_for_jobs)." in stderr
    assert "Drain: 3 request(s) sent, 26000 items at 2 location(s); 3 job(s), all finished" in (
        stderr
    )
    progress = [line for line in stderr.splitlines() if "| Progress: " in line]
    assert progress, stderr[-3000:]
    assert "26,000 records read" in progress[-1]
    assert re.search(
        r"3 requests sent \(0 in flight\), 0 retries, 3 jobs accepted, \d finished", (progress[-1])
    )
    logged = [json.loads(line) for line in (tmp_path / "jobs.jsonl").read_text().splitlines()]
    assert sorted((j["jobID"], j["location"], j["items"], j["status"]) for j in logged) == sorted(
        (j["jobID"], j["locationName"], j["items"], "SUCCESS") for j in jobs
    )
    assert all(j["destination"] == "kibo" and j["stream"] == "stock" and j["time"] for j in logged)


def _failing_messages() -> list[dict]:
    return [
        schema("stock"),
        *_records({"L1": 3}),
        record("stock", sku="OK-1", location_name="L2", quantity=4),
        record("stock", sku="BAD-1", location_name="L2", quantity=5),
        state(BOOKMARKS),
    ]


def test_a_failed_job_stops_the_run_naming_it_and_showing_its_messages(emulator, tmp_path):
    emulator.faults(fail_sku_prefix="BAD")
    run = run_target(emulator.config(wait_for_jobs=True), _failing_messages(), tmp_path)
    assert run.returncode == 1
    [failed] = [j for j in emulator.jobs() if j["status"] == "FAILED"]
    [error] = _errors(run.stderr)
    assert (
        f"Kibo job {failed['jobID']} (refresh of 2 items at location 'L2', stream stock) ended "
        "FAILED, itemCount 0: items[1].sku BAD-1: failed (fail_sku_prefix BAD). No STATE was "
        "written past it." in error
    )
    assert "on_invalid_record: dead_letter" in error
    assert "Traceback" not in run.stderr
    assert run.states == []  # the bookmark does not move past stock that failed to apply
    assert emulator.stock("L2") == {}


def test_a_failed_job_is_set_aside_with_its_items_under_dead_letter(emulator, tmp_path):
    emulator.faults(fail_sku_prefix="BAD")
    config = emulator.config(
        wait_for_jobs=True, on_invalid_record="dead_letter", dead_letter_path="dead.jsonl"
    )
    run = run_in_process(config, _failing_messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    [failed] = [j for j in emulator.jobs() if j["status"] == "FAILED"]
    [line] = [json.loads(text) for text in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert {k: line[k] for k in ("jobID", "location", "operation", "status", "messages")} == {
        "jobID": failed["jobID"],
        "location": "L2",
        "operation": "refresh",
        "status": "FAILED",
        "messages": ["items[1].sku BAD-1: failed (fail_sku_prefix BAD)"],
    }
    assert line["items"] == [{"sku": "OK-1", "quantity": 4}, {"sku": "BAD-1", "quantity": 5}]
    [emitted] = run.states
    statuses = {j["locationName"]: j["status"] for j in emitted["kibo_inventory"]["jobs"]}
    assert statuses == {"L1": "SUCCESS", "L2": "FAILED"}
    assert emitted["kibo_inventory"]["dead_letter"] == {
        "path": "dead.jsonl",
        "records": 0,
        "failed_jobs": 1,
    }
    assert "1 job(s) ended FAILED and were set aside in dead.jsonl" in run.stderr
    assert emulator.stock() == {("L1", f"S{i}"): 1 for i in range(3)}


def test_the_wait_is_bounded_and_names_the_jobs_still_pending(emulator, tmp_path):
    emulator.faults(step_seconds=60)
    config = emulator.config(wait_for_jobs=True, job_wait_timeout_seconds=1.5)
    messages = [schema("stock"), *_records({"L1": 3}), state(BOOKMARKS)]
    started = time.monotonic()
    run = run_in_process(config, messages, tmp_path)
    assert time.monotonic() - started < 30
    assert run.returncode == 1
    [job] = emulator.get("/emulator/jobs")["jobs"]
    [error] = _errors(run.stderr)
    assert (
        f"After 1.5 s (job_wait_timeout_seconds), 1 job(s) not finished: job {job['jobID']} "
        "(refresh of 3 items at location 'L1', stream stock), last seen WORKING" in error
    )
    assert "Traceback" not in run.stderr
    assert run.states == []


@pytest.mark.parametrize(
    ("package", "queue"),
    [("inventory_specific", "/inv/api/v1/queue"), ("inventory_v5", "/api/v1/queue")],
)
def test_jobs_are_polled_on_the_queue_of_their_package(
    emulator, tmp_path, run_case, package, queue
):
    config = emulator.config(wait_for_jobs=True, api_package=package)
    run = run_case(config, [schema("stock"), *_records({"L1": 2, "L2": 2})], tmp_path)
    assert run.returncode == 0, run.stderr
    job_ids = {r["jobID"] for r in emulator.api_requests()}
    reads = emulator.queue_requests()
    assert reads[0]["path"] == queue  # the credentials check: Get Jobs
    assert {r["path"] for r in reads[1:]} == {f"{queue}/{job_id}" for job_id in job_ids}
    assert {(r["status"], r["auth"]) for r in reads} == {(200, "token")}
    [emitted] = run.states
    assert {j["status"] for j in emitted["kibo_inventory"]["jobs"]} == {"SUCCESS"}


def test_the_job_log_keeps_every_job_across_runs(emulator, tmp_path):
    config = emulator.config(job_log_path="history/jobs.jsonl")
    (tmp_path / "history").mkdir()
    for run_number in (1, 2):
        messages = [schema("stock"), *_records({"L1": 2, f"R{run_number}": 1}), state(BOOKMARKS)]
        run = run_in_process(config, messages, tmp_path)
        assert run.returncode == 0, run.stderr
    logged = [
        json.loads(line) for line in (tmp_path / "history/jobs.jsonl").read_text().splitlines()
    ]
    jobs = emulator.jobs()
    assert sorted(j["jobID"] for j in logged) == [j["jobID"] for j in jobs]
    assert sorted((j["location"], j["items"]) for j in logged) == [
        ("L1", 2),
        ("L1", 2),
        ("R1", 1),
        ("R2", 1),
    ]
    assert all("status" not in j for j in logged)  # not waited for: the status is not known
    assert {(j["destination"], j["operation"], j["stream"]) for j in logged} == {
        ("kibo", "refresh", "stock")
    }


def test_a_job_log_in_a_folder_that_does_not_exist_is_refused_at_start_up(emulator, tmp_path):
    run = run_in_process(emulator.config(job_log_path="nowhere/jobs.jsonl"), "", tmp_path)
    assert run.returncode == 1
    assert "Setting 'job_log_path' ('nowhere/jobs.jsonl') is in a directory that does not" in (
        run.stderr
    )
    assert emulator.requests() == []


@pytest.mark.slow  # the emulator's jobs take their time
def test_a_late_copy_is_confirmed_through_the_job_queue_instead_of_waited_out(emulator, tmp_path):
    """As in test_faults_e2e: the first try times out and lands 3 s later. With wait_for_jobs
    the newer request goes once Get Jobs shows that copy, not after the 60 s wait."""
    stderr, elapsed, _ = run_with_a_late_first_try(
        emulator, tmp_path, maybe_applied_wait_seconds=60, wait_for_jobs=True
    )
    jobs = emulator.jobs()
    assert len(jobs) == 3  # the retry, the late first try, the newer request
    newest = max(jobs, key=lambda j: j["jobID"])
    assert emulator.job(newest["jobID"], items=True)["items"][0]["quantity"] == 2
    assert set(emulator.stock().values()) == {2}  # the newer counts landed last
    assert re.search(r"Waiting up to 5\d s before sending newer items to location 'L'", stderr)
    assert re.search(
        r"The late copy of the earlier try at location 'L' landed as job\(s\) \d", (stderr)
    )
    assert elapsed < 30
    gets = [r for r in emulator.queue_requests() if r["jobID"] is None and r["locationName"]]
    assert gets  # Get Jobs at 'L'
    assert all(r["path"] == "/inv/api/v1/queue" for r in gets)


def test_a_job_the_queue_does_not_know_is_an_error_naming_it(emulator, tmp_path):
    emulator.faults(step_seconds=60)
    config = emulator.config(wait_for_jobs=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    target = start_target(tmp_path)
    target.stdin.write(lines([schema("stock"), *_records({"L1": 3}), state(BOOKMARKS)]))
    target.stdin.close()
    while not (jobs := emulator.get("/emulator/jobs")["jobs"]):
        time.sleep(0.05)
    emulator.post("/emulator/reset", {})  # the queue forgets the job before its first poll
    assert target.wait(timeout=60) == 1
    stdout, stderr = output_of(target)
    job_id = jobs[0]["jobID"]
    [error] = _errors(stderr)
    assert (
        f"Could not read the status of job {job_id} (refresh of 3 items at location 'L1', "
        f"stream stock) from {emulator.url}/inv/api/v1/queue/{job_id}: HTTP 404" in error
    )
    assert f"no job {job_id}" in error
    assert "Traceback" not in stderr
    assert stdout == ""  # no STATE
