"""End to end: SIGTERM says what really happened and cuts waits short; an idle tap's records
are sent within drain_interval_seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.harness import lines, output_of, record, schema, start_target

pytestmark = pytest.mark.slow  # each waits for a drain interval or a job step by design

HOLD_OPEN = "import sys, time; sys.stdout.write(sys.argv[1]); sys.stdout.flush(); time.sleep(60)"
"""A tap that writes its messages, then stays silent with its output open."""


def _pipeline(
    tmp_path, config: dict, messages: list[dict], stderr=subprocess.PIPE
) -> tuple[subprocess.Popen, ...]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    tap = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, lines(messages)], stdout=subprocess.PIPE
    )
    target = start_target(tmp_path, stdin=tap.stdout, stderr=stderr)
    tap.stdout.close()
    return tap, target


def _wait_for(condition, seconds: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


def _stock(n: int) -> list[dict]:
    return [
        schema("stock"),
        *(record("stock", sku=f"S{i}", location_name="L", quantity=i) for i in range(n)),
    ]


DRAIN_INTERVAL = 1.0
CHECKED_EVERY = 1.0
"""The target looks whether a drain is due once a second (README: drain_interval_seconds)."""
ALLOWANCE = 1.0
"""For reading 10 records and sending one request, on a busy machine."""


def test_an_idle_taps_records_are_sent_within_the_drain_interval(emulator, tmp_path):
    """The tap writes 10 records once the target has started (its credentials check got the
    token; the interval counts from the start, before it), then sits idle. The records are
    sent within the interval, plus the second in which the target looks, of the tap's last
    write: timed on the emulator's clock from that write, so a slow start-up does not count."""
    config = emulator.config(drain_interval_seconds=DRAIN_INTERVAL, check_credentials_at_start=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    target = start_target(tmp_path)
    try:
        _wait_for(emulator.requests, 60)  # started: the credentials check got the token
        target.stdin.write(lines(_stock(10)))
        target.stdin.flush()
        idle_since = time.monotonic()
        _wait_for(emulator.api_requests, 60)
        [sent] = emulator.api_requests()
        idle = sent["start"] - idle_since
        print(f"\n[idle tap] 10 items sent after the tap sat idle {idle:.2f} s, its output open")
        assert sent["items"] == 10
        assert idle <= DRAIN_INTERVAL + CHECKED_EVERY + ALLOWANCE
        assert target.poll() is None  # sent while the input was open
    finally:
        target.terminate()
        output_of(target)


def test_sigterm_without_a_tap_state_says_none_was_written_and_names_the_jobs(emulator, tmp_path):
    tap, target = _pipeline(tmp_path, emulator.config(drain_interval_seconds=1), _stock(5))
    _wait_for(lambda: emulator.api_requests(), 10)
    target.send_signal(signal.SIGTERM)
    stdout, stderr = target.communicate(timeout=60)
    tap.kill()
    tap.wait()
    assert target.returncode == 128 + signal.SIGTERM
    assert stdout == ""  # no STATE: the tap sent none
    assert "the tap had sent no STATE, so none was written" in stderr
    assert "Accepted and in no STATE: jobs [1]" in stderr
    assert "the state was written" not in stderr


def test_sigterm_cuts_a_retry_wait_short(emulator, tmp_path):
    emulator.script({"status": 429, "retry_after": 100})
    log = tmp_path / "target.err"
    with log.open("w") as err:
        tap, target = _pipeline(tmp_path, emulator.config(drain_interval_seconds=1), _stock(5), err)
    _wait_for(lambda: "retrying in 100.0 s" in log.read_text(), 10)  # it waits 100 s now
    start = time.monotonic()
    target.send_signal(signal.SIGTERM)
    target.wait(timeout=60)
    stopped_in = time.monotonic() - start
    output_of(target)  # closes its pipes
    stderr = log.read_text()
    tap.kill()
    tap.wait()
    print(f"\n[SIGTERM during a 100 s Retry-After] stopped in {stopped_in:.1f} s")
    assert stopped_in < 10
    assert target.returncode == 128 + signal.SIGTERM
    assert "retrying in 100.0 s" in stderr
    assert "not every record received was accepted (Stopping: not tried again after HTTP 429" in (
        stderr
    )
    assert "no STATE was written past them" in stderr
    assert [r["status"] for r in emulator.api_requests()] == [429]


def test_sigterm_while_waiting_for_jobs_says_all_were_accepted_and_names_them(
    queue_emulator, tmp_path
):
    """Issue 17, item 8: every record was accepted, the jobs were not final yet (wait_for_jobs
    on the translated endpoints: the emulator serves the assumed job queue there)."""
    emulator = queue_emulator
    emulator.faults(step_seconds=60)  # the job stays WORKING
    config = emulator.config(wait_for_jobs=True, drain_interval_seconds=1)
    messages = [*_stock(5), {"type": "STATE", "value": {"bookmarks": {"stock": 5}}}]
    tap, target = _pipeline(tmp_path, config, messages)
    _wait_for(lambda: any("/queue/" in r["path"] for r in emulator.queue_requests()), 20)
    target.send_signal(signal.SIGTERM)
    stdout, stderr = target.communicate(timeout=60)
    tap.kill()
    tap.wait()
    [job] = emulator.get("/emulator/jobs")["jobs"]
    assert target.returncode == 128 + signal.SIGTERM
    assert stdout == ""  # no STATE past a job that may still fail
    [error] = [line for line in stderr.splitlines() if "| ERROR" in line]
    assert (
        "Stopped by SIGTERM before the end of the input: every record received was accepted, "
        f"but not every job was final yet (1 job(s) not finished: job {job['jobID']} (refresh of "
        "5 items at location 'L', stream stock), last seen "
    ) in error
    assert "They may still fail, so no STATE was written past them" in error
    assert f"Accepted and in no STATE: jobs [{job['jobID']}]" in error
    assert "not every record received was accepted" not in stderr
    assert "Traceback" not in stderr
