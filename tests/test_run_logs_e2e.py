"""End to end: logs an operator can read. The summary counts what the emulator received; each
retry is logged once; a known error is one ERROR line (its traceback at DEBUG); one line per
drain; the credentials are checked before the input is read; a table on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time

import pytest

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from tests.harness import TARGET, lines, output_of, record, run_target, schema, start_target, state


def _summary(stderr: str) -> dict:
    """The summary's METRIC entry (the SDK's `METRIC: {json}` console convention)."""
    [point] = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in stderr.splitlines()
        if "METRIC: " in line and '"kibo_inventory_summary"' in line
    ]
    assert (point["type"], point["metric"]) == ("summary", "kibo_inventory_summary")
    return point["value"]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def test_the_summary_counts_what_the_emulator_received(queue_emulator, tmp_path):
    emulator = queue_emulator  # wait_for_jobs on the translated endpoints: the assumed queue
    emulator.script({"status": 503}, {"status": 429, "retry_after": 0})
    messages = [
        schema("stock"),
        *(record("stock", sku=f"S{i}", location_name="Big", quantity=1) for i in range(7000)),
        *(record("stock", sku=f"S{i}", location_name="Small", quantity=2) for i in range(10)),
        record("stock", sku="NEG", location_name="Small", quantity=-1),  # dead-lettered
        state({"bookmarks": {"stock": 7011}}),
    ]
    config = emulator.config(
        refresh_batch_items=3000, wait_for_jobs=True, on_invalid_record="dead_letter"
    )
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    summary = _summary(run.stderr)
    sent = emulator.api_requests()
    accepted = [r for r in sent if r["status"] == 200]
    jobs = {job["jobID"]: job["status"] for job in emulator.jobs()}
    assert summary["requests"] == len(accepted) == 4
    assert summary["retries"] == len(sent) - len(accepted) == 2
    assert summary["items"] == sum(r["items"] for r in accepted) == 7010
    assert (summary["records"], summary["dead_lettered"]) == (7011, 1)
    assert (summary["optimum_requests"], summary["cost_steps"], summary["optimum_cost_steps"]) == (
        4,
        4,
        4,
    )
    assert summary["jobs"] == {"accepted": 4, "SUCCESS": 4}
    by_location = {place["location"]: place for place in summary["locations"]}
    for location in ("Big", "Small"):
        here = [r for r in accepted if r["locationName"] == location]
        place = by_location[location]
        assert place["items"] == sum(r["items"] for r in here)
        assert place["requests"] == len(here)
        assert {j["jobID"]: j["status"] for j in place["jobs"]} == {
            r["jobID"]: jobs[r["jobID"]] for r in here
        }
    assert re.search(
        r"Summary \(kibo, succeeded\): 7,011 records, 7,010 distinct items \(0 collapsed\) at 2 "
        r"location\(s\); 4 requests "
        r"sent \(optimum 4\), 4 cost steps \(optimum 4\); 4 jobs \(4 SUCCESS\); 1 dead-lettered; "
        r"2 retries; [\d.]+ s\.",
        run.stderr,
    )
    # each retry logged once, by the target: not again by the backoff library
    assert run.stderr.count("retrying in") == 2
    assert "Backing off" not in run.stderr
    assert "Giving up" not in run.stderr
    assert "target-kibo-inventory summary" not in run.stderr  # stderr is no terminal here


def test_a_known_error_is_one_error_line_with_its_traceback_at_debug(emulator, tmp_path):
    messages = [schema("stock"), record("stock", sku="A", location_name="L", quantity=1)]
    emulator.script({"status": 400, "message": "items[0].sku: unknown product"})
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "HTTP 400 for refresh of 1 items at location 'L' (stream stock): items[0].sku" in error
    assert "Traceback" not in run.stderr
    assert error == run.stderr.rstrip().splitlines()[-1]  # the last word of the run

    (tmp_path / "debug").mkdir()
    emulator.script({"status": 400, "message": "items[0].sku: unknown product"})
    debug = subprocess.run(
        [TARGET, "--config", "../config.json"],
        input=lines(messages),
        capture_output=True,
        text=True,
        env={**os.environ, "LOGLEVEL": "DEBUG"},
        cwd=tmp_path / "debug",
        check=False,
    )
    assert debug.returncode == 1
    assert len(_errors(debug.stderr)) == 1
    traceback = debug.stderr.index("Traceback of the error below:")
    assert "| DEBUG" in debug.stderr[traceback - 100 : traceback]
    assert "target_kibo_inventory.client.ApiError: HTTP 400" in debug.stderr[traceback:]
    assert traceback < debug.stderr.index("| ERROR")


def test_an_unknown_error_keeps_its_traceback(emulator, tmp_path):
    batch = {"type": "BATCH", "stream": "stock", "encoding": {}, "manifest": []}
    run = run_target(emulator.config(), [schema("stock"), batch], tmp_path)
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert "sent a BATCH message" in run.stderr


def test_settings_errors_are_one_line_each_without_the_sdk_closing_line(emulator, tmp_path):
    run = run_target(emulator.config(operation="upsert"), "", tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "'upsert' is not one of ['refresh', 'adjust']" in error
    assert "Config validation failed" not in run.stderr


def test_one_line_per_drain_and_accepted_lines_at_debug_past_twenty(emulator, tmp_path):
    messages = [
        schema("stock"),
        *(record("stock", sku="A", location_name=f"Store {i:02d}", quantity=i) for i in range(25)),
        state({"bookmarks": {"stock": 25}}),
    ]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    accepted = [line for line in run.stderr.splitlines() if re.search(r"Job \d+ accepted", line)]
    assert len(accepted) == 20
    assert all("| INFO" in line for line in accepted)
    [drain] = [line for line in run.stderr.splitlines() if "| Drain: " in line]
    assert "Drain: 25 request(s) sent, 25 items at 25 location(s); 25 job(s); 5 more " in drain
    assert "'accepted' line(s) at DEBUG." in drain


@pytest.mark.slow  # the rest of the input is waited for 5 s (DISCARD_SECONDS)
def test_a_wrong_key_fails_at_start_up_while_the_tap_has_written_nothing(emulator, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(emulator.config(api_key="wrong-key-000")))
    started = time.monotonic()
    target = start_target(tmp_path)  # a tap that has not written a line yet
    try:
        assert target.wait(timeout=20) == 1
    finally:
        target.stdin.close()
    assert time.monotonic() - started < 15
    stderr = output_of(target)[1]
    [error] = _errors(stderr)
    assert "The credentials check at start-up (before reading any input) failed" in error
    assert "Kibo refused the tenant or API key (HTTP 401) for the access token request" in error
    assert "Check api_key (the Application ID), api_secret (the Client Secret) and auth_url" in (
        error
    )
    assert "Traceback" not in stderr
    assert "wrong-key-000" not in stderr
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [(KIBO_TOKEN_PATH, 401)]


def test_the_check_can_be_turned_off(emulator, tmp_path):
    """Nothing is checked before the input is read: the record is read, then its request finds
    the wrong key (a check at start-up fails before reading any input: 0 records)."""
    config = emulator.config(api_key="wrong-key-000", check_credentials_at_start=False)
    (tmp_path / "config.json").write_text(json.dumps(config))
    target = start_target(tmp_path)
    target.stdin.write(lines([schema("s"), record("s", sku="A", location_name="L", quantity=1)]))
    target.stdin.close()
    assert target.wait(timeout=60) == 1
    stderr = output_of(target)[1]
    assert "credentials check at start-up" not in stderr
    assert "Summary (kibo, failed): 1 records" in stderr
    assert "Kibo refused the tenant or API key (HTTP 401) for the access token request" in stderr
    assert [(r["path"], r["status"]) for r in emulator.requests()] == [(KIBO_TOKEN_PATH, 401)]


def test_a_table_is_printed_when_stderr_is_a_terminal(emulator, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(emulator.config()))
    messages = [
        schema("stock"),
        *(record("stock", sku=f"S{i}", location_name="Main St", quantity=1) for i in range(3)),
    ]
    primary, secondary = pty.openpty()
    target = start_target(tmp_path, stderr=secondary)
    os.close(secondary)
    target.stdin.write(lines(messages))
    target.stdin.close()
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert target.wait(timeout=60) == 0
    output_of(target)
    text = output.decode().replace("\r\n", "\n")
    assert "target-kibo-inventory summary (kibo, succeeded)" in text
    [job] = emulator.jobs()
    assert re.search(rf"Main St\s+refresh\s+3\s+1 \(1\)\s+1\s+{job['jobID']} accepted", text)
    assert re.search(r"total\s+3\s+1 \(1\)\s+1\s+1 accepted", text)
