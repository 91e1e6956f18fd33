"""End to end: a movement counts as applied only once it is known applied (its job SUCCESS).

A FAILED job whose answer shows nothing was applied gives its movements back to the resumed
run; one whose answer cannot tell is an incident, settled by journal_resolve; a job still
pending when the run stopped is read again when the run resumes.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.harness import (
    EmulatorClient,
    Run,
    lines,
    output_of,
    record,
    run_target,
    schema,
    start_target,
    state,
)

pytestmark = pytest.mark.slow  # several CLI runs each, waiting on the tap and the emulator


def _move(sku: str, delta: int) -> dict:
    return record("moves", sku=sku, location_name="L", quantity=delta)


BEFORE = [schema("moves"), _move("A", 1), state({"bookmarks": {"moves": 1}})]
AFTER = [_move("BAD1", 5), _move("A", 2), state({"bookmarks": {"moves": 3}})]
"""The tap's input: [A +1] STATE(1) [BAD1 +5, A +2] STATE(3); resumed from STATE 1, AFTER."""


@pytest.fixture
def emulator(queue_emulator: EmulatorClient) -> EmulatorClient:
    """wait_for_jobs on the translated endpoints reads the job queue there, which no document
    places on the translation host: an assumption the emulator plays when asked."""
    return queue_emulator


def _config(emulator, **settings):
    return emulator.config(operation="adjust", wait_for_jobs=True, **settings)


def _tap_pausing_after_state_1(config: dict, tmp_path) -> Run:
    """The tap sends BEFORE, waits until the target wrote STATE 1, then sends AFTER."""
    (tmp_path / "config.json").write_text(json.dumps({**config, "drain_interval_seconds": 1}))
    target = start_target(tmp_path)
    target.stdin.write(lines(BEFORE))
    target.stdin.flush()
    first = target.stdout.readline()  # the idle tap's items were sent, their job ended
    target.stdin.write(lines(AFTER))
    target.stdin.close()
    out, err = output_of(target)
    return Run(target.returncode, first + out, err)


def _first_run_fails(emulator, tmp_path, **settings) -> None:
    emulator.faults(fail_sku_prefix="BAD", **settings)
    run = _tap_pausing_after_state_1(_config(emulator), tmp_path)
    assert run.returncode == 1
    assert "ended FAILED" in run.stderr
    assert "No STATE was written past it" in run.stderr
    assert run.states[-1]["bookmarks"] == {"moves": 1}  # the run resumes from STATE 1
    assert emulator.stock() == {("L", "A"): 1}


def _resume(emulator, tmp_path, **settings):
    emulator.faults(fail_sku_prefix=None)  # the cause is cleared
    return run_target(_config(emulator, **settings), [schema("moves"), *AFTER], tmp_path)


def test_a_failed_jobs_movements_are_sent_again_when_the_run_resumes(emulator, tmp_path):
    _first_run_fails(emulator, tmp_path)
    resumed = _resume(emulator, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stock() == {("L", "A"): 3, ("L", "BAD1"): 5}


def test_a_failed_job_whose_answer_cannot_tell_is_an_incident_until_resolved(emulator, tmp_path):
    _first_run_fails(emulator, tmp_path, failed_item_count="sent")
    refused = _resume(emulator, tmp_path)
    assert refused.returncode == 1
    assert "ended FAILED, and its answer cannot tell whether any item was applied" in (
        refused.stderr
    )
    assert emulator.stock() == {("L", "A"): 1}  # nothing sent, not even the sure part
    incident = re.search(r'journal_resolve: \{"(\w+)": "applied"\}', refused.stderr).group(1)

    resolved = _resume(emulator, tmp_path, journal_resolve={incident: "not_applied"})
    assert resolved.returncode == 0, resolved.stderr
    assert emulator.stock() == {("L", "A"): 3, ("L", "BAD1"): 5}


def test_a_job_still_pending_when_the_wait_timed_out_is_read_again_on_resume(emulator, tmp_path):
    emulator.faults(fail_sku_prefix="BAD", step_seconds=2)
    run = run_target(
        _config(emulator, job_wait_timeout_seconds=0.5), [*BEFORE[:2], *AFTER], tmp_path
    )
    assert run.returncode == 1
    assert "job_wait_timeout_seconds" in run.stderr
    while any(job["status"] not in ("SUCCESS", "FAILED") for job in emulator.jobs()):
        time.sleep(0.05)  # Kibo finishes the job after the run stopped: it FAILED
    assert {job["status"] for job in emulator.jobs()} == {"FAILED"}

    emulator.faults()  # the cause is cleared
    resumed = run_target(_config(emulator), [*BEFORE[:2], *AFTER], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stock() == {("L", "A"): 3, ("L", "BAD1"): 5}
