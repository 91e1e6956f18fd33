"""Unit tests of the crash journal: replay, digest checks, incidents, jobs, checkpoints, locks."""

from __future__ import annotations

import fcntl
import json
import logging
import os

import pytest

from target_kibo_inventory.batching import Request
from target_kibo_inventory.journal import VERSION, AmbiguousResumeError, Journal, JournalError
from target_kibo_inventory.journal.fileformat import file_name
from target_kibo_inventory.journal.lock import lock, unlock


def _items(*names: str) -> list[bytes]:
    return [b'{"sku":"%s","quantity":-1}' % n.encode() for n in names]


def _journal(folder, **options) -> Journal:
    journal = Journal(folder, retry_ambiguous=options.pop("retry_ambiguous", False), **options)
    journal.open()
    return journal


def _receive(journal: Journal, location: str, *names: str) -> list[int]:
    """Receive movements that the journal has nothing to say about; their positions."""
    positions = []
    for item in _items(*names):
        [(position, applied)] = journal.movement(location, item, tracked=False)
        assert not applied
        positions.append(position)
    return positions


def _request(journal: Journal, location: str, moves: list[int], operation="adjust") -> Request:
    items = b",".join(_items(*(f"M{m}" for m in moves)))
    request = Request(operation, location, [items], len(moves), ["s"], [], moves)
    journal.queued(request)
    return request


def _send(journal: Journal, location: str, *names: str, accept: bool = True) -> Request:
    """Receive `names` at a location and send them as one adjust (accepted unless told)."""
    request = _request(journal, location, _receive(journal, location, *names))
    journal.sending(request)
    if accept:
        journal.accepted(request, 7, final=True)
    return request


def _die(journal: Journal) -> None:
    """The process dies: its locks go, its files stay as they are."""
    for location in journal._locations.values():
        if location.lock is not None:
            os.close(location.lock)


def _replayed(journal: Journal, location: str, *names: str) -> list[bool | None]:
    """Whether each movement was applied before; None for each one held (undecided yet)."""
    flags: list[bool | None] = []
    for item in _items(*names):
        verdicts = journal.movement(location, item, tracked=False)
        if verdicts is None:
            flags.append(None)
            continue
        held = len(verdicts) - 1
        flags[len(flags) - held :] = [applied for _, applied in verdicts]
    return flags


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_resumed_run_skips_exactly_what_was_applied(tmp_path):
    first = _journal(tmp_path)
    _send(first, "L", "A", "B")
    _die(first)
    journal = _journal(tmp_path)
    assert _replayed(journal, "L", "A") == [True]
    assert journal.replaying  # part-way: STATE is held back
    assert _replayed(journal, "L", "B", "C") == [True, False]
    assert not journal.replaying


def test_only_the_applied_requests_are_skipped_whatever_their_order(tmp_path):
    """A, C applied (one request), B refused: B is sent again, A and C are not."""
    first = _journal(tmp_path)
    [a, b, c] = _receive(first, "L", "A", "B", "C")
    refused = _request(first, "L", [b])
    first.sending(refused)
    first.not_applied(refused)
    applied = _request(first, "L", [a, c])
    first.sending(applied)
    first.accepted(applied, 8, final=True)
    _die(first)
    assert _replayed(_journal(tmp_path), "L", "A", "B", "C", "D") == [True, False, True, False]


def test_a_count_of_the_item_in_this_run_makes_its_applied_movements_count_again(tmp_path):
    """Counts are sent again on resume: a movement after a resent count applies on top of it."""
    first = _journal(tmp_path)
    _send(first, "L", "A")
    _die(first)
    journal = _journal(tmp_path)
    journal.note_count("L", b"A")
    assert _replayed(journal, "L", "A") == [True]
    assert journal.was_counted("L", b"A")
    assert not journal.was_counted("L", b"B")


def test_each_location_has_its_own_owner_only_file_named_after_it(tmp_path):
    journal = _journal(tmp_path)
    _send(journal, "Store 1/North", "A")
    _send(journal, "Store 2", "B")
    assert _files(tmp_path) == sorted(
        [file_name("Store 1/North"), file_name("Store 2")]
        + [file_name(n).replace(".jsonl", ".lock") for n in ("Store 1/North", "Store 2")]
    )
    assert file_name("Store 1/North").startswith("Store-1-North-")
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o600"}


def test_other_records_than_the_interrupted_run_sent_stop_the_run(tmp_path):
    first = _journal(tmp_path)
    _send(first, "L", "A", "B")
    _die(first)
    journal = _journal(tmp_path)
    assert _replayed(journal, "L", "A") == [True]
    with pytest.raises(JournalError, match="differ from those the interrupted run sent"):
        _replayed(journal, "L", "X")


def test_input_ending_part_way_through_the_replay_keeps_the_journal(tmp_path, caplog):
    first = _journal(tmp_path)
    _send(first, "L", "A", "B")
    _die(first)
    journal = _journal(tmp_path)
    _replayed(journal, "L", "A")
    with caplog.at_level(logging.WARNING):
        journal.finish(tap_sent_state=True)
    journal.close()
    assert "'L' (1 more)" in caplog.text
    assert _replayed(_journal(tmp_path), "L", "A", "B", "C") == [True, True, False]


def _crashed_while_sending(folder) -> str:
    """A run that died while an adjust of item A at L was in flight; its incident ID."""
    first = _journal(folder)
    incident = _send(first, "L", "A", accept=False).incident
    _die(first)
    assert incident
    return incident


def test_an_adjust_in_flight_at_the_crash_is_an_incident_with_an_id(tmp_path):
    incident = _crashed_while_sending(tmp_path)
    refused = _journal(tmp_path)
    with pytest.raises(AmbiguousResumeError, match=rf'"{incident}": "applied"') as error:
        _replayed(refused, "L", "A")
    assert "adjust of 1 item(s) at 'L'" in str(error.value)


@pytest.mark.parametrize(
    ("options", "skipped"),
    [
        ({"retry_ambiguous": True}, [False, False]),  # at-least-once: sent again
        ({"resolve": "not_applied"}, [False, False]),
        ({"resolve": "applied"}, [True, False]),  # checked in Kibo: it was
    ],
)
def test_an_incident_is_settled_by_its_resolution(tmp_path, options, skipped):
    incident = _crashed_while_sending(tmp_path)
    if "resolve" in options:
        options = {"resolve": {incident: options["resolve"]}}
    assert _replayed(_journal(tmp_path, **options), "L", "A", "B") == skipped


def test_a_resolution_that_matches_no_open_incident_is_refused(tmp_path):
    _crashed_while_sending(tmp_path)
    with pytest.raises(JournalError, match=r"'L', which match no open incident in .*adjust of 1"):
        _journal(tmp_path, resolve={"L": "applied"})  # a location, not the incident's ID
    with pytest.raises(JournalError, match="match no open incident"):
        _journal(tmp_path / "elsewhere", resolve={"0123456789": "applied"})


def test_a_request_that_surely_failed_is_not_in_flight(tmp_path):
    journal = _journal(tmp_path)
    journal.not_applied(_send(journal, "L", "A", accept=False))
    _die(journal)
    assert _replayed(_journal(tmp_path), "L", "A") == [False]


def _waited(folder, outcome: str | None) -> str:
    """A run that sent an adjust of A with wait_for_jobs; its job then ended `outcome`."""
    journal = _journal(folder)
    request = _send(journal, "L", "A", accept=False)
    journal.accepted(request, 42, final=False)
    if outcome is not None:
        applied = {"success": True, "failed, nothing applied": False, "failed": None}[outcome]
        journal.job_final("L", request.incident, applied=applied)
    _die(journal)
    assert request.incident
    return request.incident


@pytest.mark.parametrize(
    ("outcome", "skipped"),
    [("success", [True, False]), ("failed, nothing applied", [False, False])],
)
def test_a_waited_for_job_counts_as_applied_only_when_it_succeeded(tmp_path, outcome, skipped):
    _waited(tmp_path, outcome)
    assert _replayed(_journal(tmp_path), "L", "A", "B") == skipped


def test_a_failed_job_whose_answer_cannot_tell_is_an_incident(tmp_path):
    incident = _waited(tmp_path, "failed")
    refused = _journal(tmp_path)
    with pytest.raises(AmbiguousResumeError, match="ended FAILED, and its answer cannot tell"):
        _replayed(refused, "L", "A")
    _die(refused)
    resolved = _journal(tmp_path, resolve={incident: "not_applied"})
    assert _replayed(resolved, "L", "A") == [False]


@pytest.mark.parametrize(
    ("answer", "skipped"),
    [(("SUCCESS", 1), [True]), (("FAILED", 0), [False]), (("FAILED", 1), None), (None, None)],
)
def test_a_job_not_final_at_the_crash_is_read_again_on_resume(tmp_path, answer, skipped):
    _waited(tmp_path, None)
    asked = []

    def job_status(job_id):
        asked.append(job_id)
        return answer

    journal = _journal(tmp_path, job_status=job_status)
    if skipped is None:
        with pytest.raises(AmbiguousResumeError, match="job 42"):
            _replayed(journal, "L", "A")
    else:
        assert _replayed(journal, "L", "A") == skipped
    assert asked == [42]


def test_a_line_cut_short_by_the_crash_does_not_hide_the_next_one(tmp_path):
    journal = _journal(tmp_path)
    _send(journal, "M", "A", accept=False)
    _die(journal)
    path = tmp_path / file_name("M")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"event": "acc' + b"\n" + b"".join(lines[1:]))
    with pytest.raises(AmbiguousResumeError, match="'M'"):
        _replayed(_journal(tmp_path), "M", "A")


def test_a_state_after_everything_removes_the_files_and_the_folder(tmp_path):
    folder = tmp_path / "journal"
    journal = _journal(folder)
    _send(journal, "L", "A")
    assert _files(folder)
    journal.state_received({"bookmark": 1})
    with journal.checkpoint({"bookmark": 1}):
        pass
    journal.finish(tap_sent_state=True)
    journal.close()
    assert not folder.exists()


def test_items_after_the_taps_last_state_stay_for_a_resume_and_a_moved_on_run_passes(
    tmp_path, caplog
):
    journal = _journal(tmp_path)
    journal.input_ended()
    _send(journal, "L", "A", "B")  # after the tap's last STATE; then the input ends
    with journal.checkpoint({"bookmark": 1}):
        pass
    journal.finish(tap_sent_state=True)
    journal.close()
    resumed = _journal(tmp_path)
    assert _replayed(resumed, "L", "A", "B", "C") == [True, True, False]
    _die(resumed)

    with caplog.at_level(logging.WARNING):
        moved_on = _journal(tmp_path)
        assert _replayed(moved_on, "L", "X", "A") == [False, False]
    assert "the input moved on, so they are not skipped" in caplog.text


def test_a_tap_without_state_leaves_no_journal(tmp_path):
    journal = _journal(tmp_path / "j")
    journal.input_ended()
    _send(journal, "L", "A")
    with journal.checkpoint({}):
        pass
    journal.finish(tap_sent_state=False)
    journal.close()
    assert not (tmp_path / "j").exists()


def _killed_while_writing_a_state(folder) -> None:
    """A, B applied after state 1; the tap's STATE 2 came after A; killed in between
    writing STATE 2 and recording that it was written."""
    journal = _journal(folder)
    _send(journal, "L", "A")
    journal.state_received({"bookmark": 2})
    _send(journal, "L", "B")
    checkpoint = journal.checkpoint({"bookmark": 2})
    checkpoint.__enter__()  # the files are prepared, the STATE is being written: killed
    _die(journal)


def test_a_kill_while_a_state_is_written_fits_either_state(tmp_path):
    _killed_while_writing_a_state(tmp_path / "a")
    from_old_state = _journal(tmp_path / "a")
    assert _replayed(from_old_state, "L", "A", "B", "C") == [True, True, False]

    _killed_while_writing_a_state(tmp_path / "b")
    from_new_state = _journal(tmp_path / "b")
    assert _replayed(from_new_state, "L", "B", "C") == [True, False]


@pytest.mark.parametrize(
    ("received", "verdicts"),
    [
        (["A", "A", "C"], [True, True, False]),  # resumed from the old state
        (["A", "C"], [True, False]),  # from the new one: A and C were held, then told apart
    ],
)
def test_a_kill_while_a_state_is_written_with_look_alike_items(tmp_path, received, verdicts):
    """The same delta before and after the new state: the first item fits both states, so
    the movements are held until their digest tells which state the tap resumed from."""
    journal = _journal(tmp_path)
    _send(journal, "L", "A")
    journal.state_received({"bookmark": 2})
    _send(journal, "L", "A")
    journal.checkpoint({"bookmark": 2}).__enter__()
    _die(journal)
    resumed = _journal(tmp_path)
    assert _replayed(resumed, "L", *received) == verdicts


def test_a_kill_while_a_state_is_written_with_nothing_after_it_releases_new_items(tmp_path):
    journal = _journal(tmp_path)
    _send(journal, "L", "A", "B")
    journal.state_received({"bookmark": 2})
    journal.checkpoint({"bookmark": 2}).__enter__()
    _die(journal)
    resumed = _journal(tmp_path)  # resumed from the new state: nothing to skip at L
    assert _replayed(resumed, "L", "A", "C", "D") == [False, False, False]


def test_a_second_run_on_the_same_location_is_refused_but_not_on_others(tmp_path):
    first = _journal(tmp_path)
    _send(first, "L", "A")
    second = _journal(tmp_path)
    _send(second, "M", "B")  # a partition with other locations: fine
    with pytest.raises(JournalError, match="Another target-kibo-inventory run is loading"):
        _send(second, "L", "C")
    first.close()
    second.close()


def test_a_lock_taken_on_a_removed_lock_file_is_taken_again(tmp_path):
    """Run 1 holds the lock; run 2 opened the lock file before run 1 removed it and locks the
    removed inode; run 3 must still be refused once run 2 holds the lock."""
    path = tmp_path / "L.lock"
    run1 = lock(path, "L")
    early = os.open(path, os.O_RDWR)  # run 2 opened it...
    unlock(path, run1)  # ...run 1 removes it and releases
    fcntl.flock(early, fcntl.LOCK_EX | fcntl.LOCK_NB)  # run 2 locks the removed inode
    os.close(early)  # lock() notices (inode check) and locks the file anew:
    run2 = lock(path, "L")
    with pytest.raises(JournalError, match="Another target-kibo-inventory run"):
        lock(path, "L")  # run 3
    unlock(path, run2)


def test_an_old_journal_file_is_refused_clearly(tmp_path):
    old = tmp_path / "kibo-inventory-journal-t.jsonl"
    old.write_text('{"l": "L", "n": 1, "d": "x", "adjust": true}\n')
    with pytest.raises(JournalError, match="earlier version of target-kibo-inventory"):
        _journal(old)
    # where that version put it by default: beside today's default folder
    with pytest.raises(JournalError, match=f"{old}.* earlier version"):
        _journal(tmp_path / "kibo-inventory-journal-t")


def _write_lines(folder, location: str, *lines: dict) -> None:
    folder.mkdir(exist_ok=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / file_name(location)).write_text(text)


def test_a_journal_of_the_earlier_format_is_refused_naming_what_to_do(tmp_path):
    """Format 2 counted every item (counts too) in order; format 3 numbers movements."""
    _write_lines(
        tmp_path,
        "L",
        {"version": 2, "location": "L", "state": None},
        {"version": 2, "event": "sending", "incident": "c", "operation": "adjust", "items": 1},
    )
    with pytest.raises(JournalError) as error:
        _replayed(_journal(tmp_path), "L", "A")
    assert f"format version 2; this release of target-kibo-inventory reads version {VERSION}" in (
        str(error.value)
    )
    assert "Finish the interrupted run with the release that wrote it" in str(error.value)


def test_every_line_carries_the_format_version(tmp_path):
    journal = _journal(tmp_path)
    _send(journal, "L", "A")
    _send(journal, "L", "B", accept=False)
    journal.state_received({"bookmark": 1})
    with journal.checkpoint({"bookmark": 1}):
        pass
    _send(journal, "L", "C")
    _die(journal)
    lines = (tmp_path / file_name("L")).read_text().splitlines()
    assert len(lines) == 3  # a header, C's sending and accepted
    assert all(json.loads(line)["version"] == VERSION for line in lines)


@pytest.mark.parametrize("where", ["header", "event"])
def test_a_journal_of_a_newer_format_is_refused_naming_the_file(tmp_path, where):
    newer = VERSION + 1
    header = {"version": newer if where == "header" else VERSION, "location": "L", "state": None}
    event = {"version": newer, "event": "not_applied", "incident": "x"}
    _write_lines(tmp_path, "L", header, event)
    journal = _journal(tmp_path)
    with pytest.raises(JournalError) as error:
        _replayed(journal, "L", "A")
    message = str(error.value)
    assert str(tmp_path / file_name("L")) in message
    assert f"newer release of target-kibo-inventory (journal format version {newer}" in message
    assert "Finish the interrupted run with that release or a later one" in message


def test_a_file_without_a_format_version_is_refused(tmp_path):
    _write_lines(tmp_path, "L", {"location": "L", "state": None})
    with pytest.raises(JournalError, match="is not a journal file of target-kibo-inventory"):
        _replayed(_journal(tmp_path), "L", "A")
