"""End to end: with on_invalid_record dead_letter, an unusable dead_letter_path stops the run at
start-up, before any request, in one line naming the setting and the reason. (The CLI once; the
other cases run its command in process.)"""

from __future__ import annotations

import os

from tests.harness import record, run_in_process, run_target, schema, state


def _messages() -> list[dict]:
    return [
        schema("stock"),
        *(record("stock", sku=f"S{i}", location_name="L", quantity=i) for i in range(50)),
        record("stock", sku="BAD", location_name="L", quantity=-1),
        state({"bookmarks": {"stock": 51}}),
    ]


def _refused(emulator, tmp_path, path: str, reason: str, run_with=run_in_process) -> None:
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path=path)
    run = run_with(config, _messages(), tmp_path)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "dead_letter_path" in line]
    assert len(errors) == 1, run.stderr
    assert f"Setting 'dead_letter_path' ({path!r}) {reason}" in errors[0]
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []
    assert run.states == []


def test_a_directory_is_refused(emulator, tmp_path):
    (tmp_path / "out").mkdir()
    _refused(emulator, tmp_path, "out", "is a directory", run_with=run_target)  # the CLI once


def test_a_missing_directory_is_refused_and_not_created(emulator, tmp_path):
    _refused(emulator, tmp_path, "no/such/dead.jsonl", "is in a directory that does not exist")
    assert not (tmp_path / "no").exists()


def test_a_path_under_a_file_is_refused(emulator, tmp_path):
    (tmp_path / "plain").write_text("")
    _refused(emulator, tmp_path, "plain/dead.jsonl", "is in 'plain', which is not a directory")


def test_a_read_only_directory_or_file_is_refused(emulator, tmp_path):
    if os.geteuid() == 0:  # root writes anywhere but where the kernel refuses it
        _refused(emulator, tmp_path, "/proc/self/dead.jsonl", "is in '/proc/self', which is not")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _refused(emulator, tmp_path, "locked/dead.jsonl", "is in 'locked', which is not writable")
    finally:
        locked.chmod(0o700)
    (tmp_path / "ro.jsonl").write_text("")
    (tmp_path / "ro.jsonl").chmod(0o400)
    _refused(emulator, tmp_path, "ro.jsonl", "is not writable")


def test_a_usable_path_is_not_created_when_nothing_is_set_aside(emulator, tmp_path):
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path="dead.jsonl")
    run = run_in_process(config, _messages()[:-2], tmp_path)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "dead.jsonl").exists()
    run = run_in_process(config, _messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert len((tmp_path / "dead.jsonl").read_text().splitlines()) == 1


def test_the_path_is_not_checked_when_invalid_records_fail_the_run(emulator, tmp_path):
    (tmp_path / "out").mkdir()
    config = emulator.config(dead_letter_path="out")
    run = run_in_process(config, _messages()[:-2], tmp_path)
    assert run.returncode == 0, run.stderr
