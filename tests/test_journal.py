"""Unit tests of the crash journal: replay, digest checks, ambiguity, clean-up."""

from __future__ import annotations

import pytest

from target_kibo_inventory.batching import Request
from target_kibo_inventory.journal import AmbiguousResumeError, Journal, JournalError


def _items(*names: str) -> list[bytes]:
    return [b'{"sku":"%s","quantity":-1}' % n.encode() for n in names]


def _interrupted_run(path, *names: str, in_flight: bool = False) -> None:
    """A run that got `names` applied at location L as one adjust, then died."""
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    request = Request("adjust", "L", [b",".join(_items(*names))], len(names), ["s"])
    journal.sending(request)
    if not in_flight:
        journal.accepted(request, 7)
    # no close(): the process died


def test_a_resumed_run_skips_exactly_what_was_applied(tmp_path):
    path = tmp_path / "journal.jsonl"
    _interrupted_run(path, "A", "B")
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    assert journal.replaying
    skipped = [journal.received("L", item, "adjust") for item in _items("A", "B", "C")]
    assert skipped == [True, True, False]
    assert not journal.replaying
    journal.check_replayed()


def test_other_records_than_the_interrupted_run_sent_stop_the_run(tmp_path):
    path = tmp_path / "journal.jsonl"
    _interrupted_run(path, "A", "B")
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    journal.received("L", _items("A")[0], "adjust")
    with pytest.raises(JournalError, match="differ from those the interrupted run sent"):
        journal.received("L", _items("X")[0], "adjust")


def test_input_ending_before_the_replay_is_done_stops_the_run(tmp_path):
    path = tmp_path / "journal.jsonl"
    _interrupted_run(path, "A", "B")
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    journal.received("L", _items("A")[0], "adjust")
    with pytest.raises(JournalError, match=r"'L' \(1 more\)"):
        journal.check_replayed()


def test_an_adjust_in_flight_at_the_crash_is_ambiguous(tmp_path):
    path = tmp_path / "journal.jsonl"
    _interrupted_run(path, "A", in_flight=True)
    with pytest.raises(AmbiguousResumeError, match=r"adjusts at 'L' \(1 item\(s\)\)"):
        Journal(path, retry_ambiguous=False).open()
    journal = Journal(path, retry_ambiguous=True)  # at-least-once: send it again
    journal.open()
    assert not journal.replaying
    journal.close()
    journal = Journal(path, retry_ambiguous=False, resolve={"L": "not_applied"})
    journal.open()
    assert not journal.replaying
    journal.close()
    journal = Journal(path, retry_ambiguous=False, resolve={"L": "applied"})  # checked: it was
    journal.open()
    assert [journal.received("L", item, "adjust") for item in _items("A", "B")] == [True, False]


def _refused_run(path) -> None:
    """A run whose adjust surely failed (a 400, or 503s until the retries ran out), then died."""
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    request = Request("adjust", "L", _items("A"), 1, ["s"])
    journal.sending(request)
    journal.not_applied(request)


def _run_sending_after_a_torn_line(path) -> None:
    path.write_bytes(b'{"l": "L", "op": "adj')
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    journal.sending(Request("adjust", "M", _items("A"), 1, ["s"]))


def test_a_request_that_surely_failed_is_not_in_flight(tmp_path):
    path = tmp_path / "journal.jsonl"
    _refused_run(path)
    resumed = Journal(path, retry_ambiguous=False)
    resumed.open()
    assert not resumed.replaying


def test_a_line_cut_short_by_the_crash_does_not_hide_the_next_one(tmp_path):
    path = tmp_path / "journal.jsonl"
    _run_sending_after_a_torn_line(path)
    with pytest.raises(AmbiguousResumeError, match="'M'"):
        Journal(path, retry_ambiguous=False).open()


def test_the_file_is_emptied_at_a_state_and_removed_when_empty(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, retry_ambiguous=False)
    journal.open()
    request = Request("adjust", "L", _items("A"), 1, ["s"])
    journal.sending(request)
    journal.accepted(request, 1)
    assert path.read_text()
    journal.state_received()
    journal.checkpoint()
    assert path.read_text() == ""
    journal.close()
    assert not path.exists()


def test_a_second_run_on_the_same_journal_is_refused(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = Journal(path, retry_ambiguous=False)
    first.open()
    with pytest.raises(JournalError, match="Another target-kibo-inventory run is using"):
        Journal(path, retry_ambiguous=False).open()
    first.close()
