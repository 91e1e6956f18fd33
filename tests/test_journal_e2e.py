"""End to end: the crash journal keeps adjusts exactly-once where runs fail, share a folder,
or are killed at the worst moment (the real CLI, the resumable tap, the emulator)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.test_crash_resume_e2e import (
    RECORDS,
    Pipeline,
    _config,
    _expected,
    _kill_while_an_adjust_is_in_flight,
    _wait_until_landed,
)

pytestmark = pytest.mark.slow  # sleeps no fixed time, but waits on the emulator and the tap

PAUSES = "2000,4000,6000,8000,10000"


def _journal(tmp_path, emulator):
    return tmp_path / f"kibo-inventory-journal-{emulator.tenant}"


def _applied(emulator) -> int:
    return sum(job["itemCount"] for job in emulator.jobs())


def test_a_tap_that_fails_part_way_leaves_its_tail_for_the_resume(emulator, tmp_path):
    config = _config(emulator, "adjust")
    failed = Pipeline(tmp_path, config, "adjust", "--die-at", "10250", records=20000)
    assert failed.wait() == 0  # the target read its input to the end
    states, stderr = failed.finish()
    assert states[-1]["bookmarks"]["stock"]["position"] == 10000
    assert "250 adjust item(s) at 3 location(s) came after the tap's last STATE" in stderr
    assert _journal(tmp_path, emulator).is_dir()

    resumed = Pipeline(tmp_path, config, "adjust", records=20000)
    assert resumed.wait() == 0, resumed.finish()[1][-3000:]
    resumed.finish()
    print(f"\n[tap failed at 10250] {_applied(emulator)} items applied for 20000 records")
    assert _applied(emulator) == 20000
    assert emulator.stock() == _expected("adjust", 20000)
    assert not _journal(tmp_path, emulator).exists()  # the tap ended with a STATE


def test_a_run_that_moved_on_is_not_blocked_by_a_failed_taps_tail(emulator, tmp_path):
    config = _config(emulator, "adjust")
    failed = Pipeline(tmp_path, config, "adjust", "--die-at", "10250", records=20000)
    assert failed.wait() == 0
    failed.finish()
    (tmp_path / "state.json").write_text(json.dumps({"bookmarks": {"stock": {"position": 12000}}}))

    moved_on = Pipeline(tmp_path, config, "adjust", records=20000)
    assert moved_on.wait() == 0
    _, stderr = moved_on.finish()
    assert stderr.count("the input moved on, so they are not skipped") == 3
    assert _applied(emulator) == 10250 + 8000
    assert not _journal(tmp_path, emulator).exists()


def test_partitions_with_disjoint_locations_share_the_working_directory(emulator, tmp_path):
    config = _config(emulator, "adjust")
    a_args = ("--locations", "North Store,South Store", "--pause-at", PAUSES)
    a = Pipeline(tmp_path, config, "adjust", *a_args, "--hang-at", "7100", name="a-")
    b = Pipeline(tmp_path, config, "adjust", "--locations", "Warehouse", name="b-")
    assert b.wait() == 0, b.finish()[1][-3000:]
    b.finish()
    a_before_the_hang = {k: v for k, v in _expected("adjust", 7100).items() if k[0] != "Warehouse"}
    b_whole = {k: v for k, v in _expected("adjust").items() if k[0] == "Warehouse"}
    a.wait_until_idle(emulator, 7000, {**a_before_the_hang, **b_whole})
    a.kill()  # partition A dies with items applied after its last state
    a.finish()
    assert list(_journal(tmp_path, emulator).glob("North-Store-*.jsonl"))

    b_again = Pipeline(tmp_path, config, "adjust", "--locations", "Warehouse", name="b-")
    assert b_again.wait() == 0, b_again.finish()[1][-3000:]  # unaffected by A's journal
    b_again.finish()
    a_resumed = Pipeline(
        tmp_path, config, "adjust", "--locations", "North Store,South Store", name="a-"
    )
    assert a_resumed.wait() == 0, a_resumed.finish()[1][-3000:]
    a_resumed.finish()
    assert _applied(emulator) == RECORDS
    assert emulator.stock() == _expected("adjust")
    assert not _journal(tmp_path, emulator).exists()


def test_a_stale_resolution_never_answers_the_next_incident(emulator, tmp_path):
    config = _kill_while_an_adjust_is_in_flight(emulator, tmp_path)
    stderr = (tmp_path / "target.err").read_text()
    resumed = Pipeline(tmp_path, config, "adjust")
    assert resumed.wait() != 0
    _, stderr = resumed.finish()
    first = re.search(r'journal_resolve: \{"(\w+)": "applied"\}', stderr).group(1)
    _wait_until_landed(emulator)
    settled = {**config, "journal_resolve": {first: "applied"}}
    done = Pipeline(tmp_path, settled, "adjust")
    assert done.wait() == 0, done.finish()[1][-3000:]
    done.finish()

    (tmp_path / "state.json").unlink()  # the next day's feed, and another crash in flight
    _kill_while_an_adjust_is_in_flight(emulator, tmp_path)
    _wait_until_landed(emulator)
    requests_before = len(emulator.api_requests())
    stale = Pipeline(tmp_path, settled, "adjust")  # journal_resolve still names the old one
    assert stale.wait() != 0
    _, stderr = stale.finish()
    assert f"journal_resolve names '{first}', which match no open incident" in stderr
    assert len(emulator.api_requests()) == requests_before  # refused before sending anything


def test_a_kill_right_after_a_state_resumes_exactly_from_either_state(emulator, tmp_path):
    """Killed between writing STATE 2 and recording it in the journal: resumed from STATE 2
    (Meltano read it) or from STATE 1 (it did not), every delta lands once."""
    config = _config(emulator, "adjust")
    for resume_from in (-1, -2):
        workdir = tmp_path / str(-resume_from)
        workdir.mkdir()
        killed = Pipeline(
            workdir,
            config,
            "adjust",
            "--pause-at",
            PAUSES,
            target=(sys.executable, str(Path(__file__).with_name("crashing_target.py")), "2"),
        )
        assert killed.wait() == -9
        states, _ = killed.finish(resume_from)
        assert len(states) == 2
        resumed = Pipeline(workdir, config, "adjust")
        assert resumed.wait() == 0, resumed.finish()[1][-3000:]
        resumed.finish()
        print(f"\n[killed after STATE 2, resumed from STATE {3 + resume_from}] exact")
        assert _applied(emulator) == RECORDS
        assert emulator.stock() == _expected("adjust")
        emulator.post("/emulator/reset", {})
