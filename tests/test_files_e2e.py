"""End to end: the target's own files (dead letters, the job log, the crash journal, a dry run's
files) are created owner-only, never through a link by a dry run, and a full disk under any of
them is one clear error line, with nothing sent that the journal has not recorded.

A full disk is `/dev/full` behind a file setting, or a small full tmpfs under a folder setting,
mounted in a mount namespace of the target's own (`unshare`), so nothing outlives the run.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

from tests.harness import (
    TARGET,
    Run,
    lines,
    output_of,
    record,
    run_in_process,
    run_target,
    schema,
    start_target,
    state,
)

NO_SPACE = "No space left on device [Errno 28]. The run stopped; make room there"


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _stock(*quantities: int, location: str = "L") -> list[dict]:
    return [
        schema("stock"),
        *(
            record("stock", sku=f"S{i}", location_name=location, quantity=q)
            for i, q in enumerate(quantities)
        ),
    ]


def _run_on_a_full_disk(config: dict, messages: list[dict], cwd: Path, free_kib: int = 0) -> Run:
    """Run the CLI with a tmpfs at `cwd/full` that has `free_kib` KiB left (a page is 4 KiB)."""
    (cwd / "config.json").write_text(json.dumps(config))
    (cwd / "full").mkdir()
    script = (
        f"mount -t tmpfs -o size={free_kib + 4}k tmpfs full || exit 97; "
        "head -c 4096 /dev/zero > full/filler || exit 97; "
        'exec "$0" --config config.json'
    )
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    command = [shutil.which("unshare") or "unshare", "--mount", "--propagation", "private", *user]
    done = subprocess.run(
        [*command, "sh", "-c", script, TARGET],
        input=lines(messages),
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    assert done.returncode != 97, f"could not mount a tmpfs in a mount namespace: {done.stderr}"
    return Run(done.returncode, done.stdout, done.stderr)


def test_files_are_created_owner_only(emulator, tmp_path):
    """Issue 17, item 8: business data is readable by its owner only, whatever the umask."""
    config = emulator.config(
        stream_operations={"stock": "refresh", "moves": "adjust"},
        on_invalid_record="dead_letter",
        dead_letter_path="dead.jsonl",
        job_log_path="jobs.jsonl",
        journal_path="journal",
    )
    messages = [
        *_stock(1, -1),  # the second is invalid: set aside
        state({"bookmarks": {"stock": 2}}),
        schema("moves"),
        record("moves", sku="M", location_name="L", quantity=5),  # after the last STATE: kept
    ]
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run(
        [TARGET, "--config", "config.json"],
        input=lines(messages),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
        preexec_fn=lambda: os.umask(0),  # the files' own mode, not the umask
    )
    assert done.returncode == 0, done.stderr
    [journal_file] = (tmp_path / "journal").glob("*.jsonl")
    for path in (tmp_path / "dead.jsonl", tmp_path / "jobs.jsonl", journal_file):
        assert _mode(path) == 0o600, path
    assert _mode(tmp_path / "journal") == 0o700

    dry = run_target({**config, "dry_run": True, "dry_run_dir": "plan"}, _stock(1, -1), tmp_path)
    assert dry.returncode == 0, dry.stderr
    written = sorted(p.name for p in (tmp_path / "plan").iterdir())
    assert written == [
        "dead-letter.jsonl",
        "dry-run-files.jsonl",
        "request-00001.json",
        "summary.json",
    ]
    assert {_mode(tmp_path / "plan" / name) for name in written} == {0o600}
    assert _mode(tmp_path / "plan") == 0o700


def test_a_dry_run_removes_nothing_it_did_not_write(emulator, tmp_path):
    """Issue 17, item 4: `dry_run_dir: "."` among a user's files, and through a symlink."""
    mine = {"summary.json": "{}", "request-2025-budget.json": "[1]", "dead-letter.jsonl": "x\n"}
    for name, text in mine.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to("elsewhere")
    for name, text in mine.items():
        (tmp_path / "elsewhere" / name).write_text(text)

    for folder in (".", "link"):
        config = emulator.config(dry_run=True, dry_run_dir=folder)
        run = run_in_process(config, _stock(1), tmp_path)
        assert run.returncode == 1
        [error] = _errors(run.stderr)
        assert f"Setting 'dry_run_dir' ('{folder}') holds " in error
        assert all(name in error for name in mine)
        assert "it removes nothing here. Set dry_run_dir to an empty or new folder" in error
        assert "removed" not in run.stderr
    for folder in (tmp_path, tmp_path / "elsewhere"):
        assert {name: (folder / name).read_text() for name in mine} == mine
    assert emulator.requests() == []


def test_a_dry_run_removes_what_an_earlier_one_listed_and_nothing_more(emulator, tmp_path):
    config = emulator.config(dry_run=True, dry_run_dir="plan", refresh_batch_items=1)
    assert run_in_process(config, _stock(1, 2, 3), tmp_path).returncode == 0
    manifest = (tmp_path / "plan" / "dry-run-files.jsonl").read_text().splitlines()
    assert len(manifest) == 5  # its header, 3 requests, the summary
    (tmp_path / "plan" / "notes.txt").write_text("mine")
    run = run_in_process(config, _stock(1), tmp_path)
    assert run.returncode == 1
    assert "holds 1 file(s) that no dry run of target-kibo-inventory wrote there (notes.txt)" in (
        run.stderr
    )
    assert len(list((tmp_path / "plan").glob("request-*.json"))) == 3  # nothing was removed

    (tmp_path / "plan" / "notes.txt").unlink()
    run = run_in_process(config, _stock(1), tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Dry run: removed 4 file(s) of an earlier dry run" in run.stderr
    assert sorted(p.name for p in (tmp_path / "plan").glob("request-*.json")) == [
        "request-00001.json"
    ]


def test_a_dry_run_never_writes_through_a_link(emulator, tmp_path):
    """Issue 17, item 5: a dangling link in the folder, found at start or planted during the run."""
    outside = tmp_path / "outside.json"
    plan = tmp_path / "plan"
    plan.mkdir()
    (plan / "request-00001.json").symlink_to(outside)
    config = emulator.config(dry_run=True, dry_run_dir="plan")
    run = run_target(config, _stock(1), tmp_path)
    assert run.returncode == 1
    assert "holds 1 file(s) that no dry run of target-kibo-inventory wrote there" in run.stderr
    assert not outside.exists()

    (plan / "request-00001.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps(config))
    target = start_target(tmp_path)
    target.stdin.write(lines(_stock(1)))
    target.stdin.flush()
    manifest = plan / "dry-run-files.jsonl"
    while not manifest.exists():  # the folder is prepared before any input is read
        assert target.poll() is None, output_of(target)
        time.sleep(0.01)
    (plan / "request-00001.json").symlink_to(outside)  # planted once the folder was checked
    target.stdin.close()
    _, stderr = output_of(target)
    assert target.returncode == 1
    [error] = _errors(stderr)
    assert (
        "Could not write the dry run's request 1 to 'plan/request-00001.json': File exists (a "
        "file or link was already there: nothing was written through it)"
    ) in error
    assert not outside.exists()
    assert "Traceback" not in stderr


def test_a_full_disk_under_the_dead_letter_file_or_the_job_log(emulator, tmp_path):
    """Issue 17, item 6: one error line naming the file, what was written and the reason."""
    (tmp_path / "dead.jsonl").symlink_to("/dev/full")
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path="dead.jsonl")
    run = run_target(config, _stock(1, -1), tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert (
        "Could not write the dead-letter line of record #2 of stream 'stock' to 'dead.jsonl': "
        + NO_SPACE
    ) in error
    assert "(or change dead_letter_path)" in error
    assert "Traceback" not in run.stderr
    assert run.states == []

    (tmp_path / "jobs.jsonl").symlink_to("/dev/full")
    run = run_target(emulator.config(job_log_path="jobs.jsonl"), _stock(1), tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    [job] = emulator.jobs()
    assert (
        f"Could not write the job log line of job {job['jobID']} to 'jobs.jsonl': " + NO_SPACE
    ) in error
    assert "Traceback" not in run.stderr
    assert run.states == []


def test_a_full_disk_under_the_journal_sends_nothing_it_did_not_record(emulator, tmp_path):
    config = emulator.config(operation="adjust", journal_path="full/journal")
    run = _run_on_a_full_disk(config, _stock(5, 6), tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "Could not write the crash journal of location 'L' to 'full/journal/L-" in error
    assert ".jsonl': " + NO_SPACE in error
    assert "Traceback" not in run.stderr
    assert emulator.api_requests() == []  # the adjust was not sent: the journal had not noted it


def test_a_full_disk_under_the_dry_run_folder(emulator, tmp_path):
    config = emulator.config(dry_run=True, dry_run_dir="full/plan", refresh_batch_items=1)
    run = _run_on_a_full_disk(config, _stock(5, 6), tmp_path, free_kib=4)  # the manifest's
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert (
        "Could not write the dry run's request 1 to 'full/plan/request-00001.json': " + NO_SPACE
    ) in error
    assert "(or change dry_run_dir)" in error
    assert "Traceback" not in run.stderr
