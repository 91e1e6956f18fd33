"""Unit tests of the target's file helper: owner-only files, no writes through links, and a
failed write as one error naming the file, what was written and the system's words."""

from __future__ import annotations

import os
import stat

import pytest

from target_kibo_inventory import files


def _mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def _open_umask():
    """The files' own mode shows, not the umask's."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_each_way_of_writing_creates_owner_only_files(tmp_path):
    files.append(tmp_path / "a.jsonl", b"1\n", description="a", setting="s", sync=True)
    files.replace(tmp_path / "r.jsonl", b"2\n", description="r", setting="s")
    files.create(tmp_path / "c.json", b"3\n", description="c", setting="s")
    appended = files.AppendFile(tmp_path / "f.jsonl", "f", "s")
    appended.write("4\n")
    appended.write("5\n")
    appended.close()
    files.make_folder(tmp_path / "d" / "e", description="d", setting="s")
    for name in ("a.jsonl", "r.jsonl", "c.json", "f.jsonl"):
        assert _mode(tmp_path / name) == 0o600, name
    assert (tmp_path / "f.jsonl").read_text() == "4\n5\n"
    assert _mode(tmp_path / "d" / "e") == 0o700
    assert not (tmp_path / "r.tmp").exists()


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text("x\n")
    path.chmod(0o644)
    files.append(path, b"y\n", description="a", setting="s")
    assert (_mode(path), path.read_text()) == (0o644, "x\ny\n")


def test_a_new_file_is_never_written_through_a_link_nor_over_a_file(tmp_path):
    outside = tmp_path / "outside.json"
    (tmp_path / "link.json").symlink_to(outside)
    (tmp_path / "there.json").write_text("mine")
    for name in ("link.json", "there.json"):
        with pytest.raises(files.FileWriteError, match="nothing was written through it"):
            files.create(tmp_path / name, b"new", description="request 1", setting="dry_run_dir")
    new = files.AppendFile(tmp_path / "link.json", "the file", "dry_run_dir", new=True)
    with pytest.raises(files.FileWriteError, match="File exists"):
        new.write("line\n")
    with pytest.raises(files.FileWriteError, match="Too many levels of symbolic links"):
        files.append(tmp_path / "link.json", b"x", description="m", setting="s", link=False)
    assert not outside.exists()
    assert (tmp_path / "there.json").read_text() == "mine"


def test_a_full_disk_is_one_error_naming_the_file_what_and_the_reason(tmp_path):
    (tmp_path / "full.jsonl").symlink_to("/dev/full")
    log = files.AppendFile(tmp_path / "full.jsonl", "the job log", "job_log_path")
    with pytest.raises(files.FileWriteError) as raised:
        log.write("line\n", "the job log line of job 4")
    assert str(raised.value) == (
        f"Could not write the job log line of job 4 to '{tmp_path / 'full.jsonl'}': No space "
        "left on device [Errno 28]. The run stopped; make room there or fix the file (or change "
        "job_log_path) and run again."
    )
    assert raised.value.explained is True
    log.close()  # nothing buffered: closing does not fail again
