"""Unit tests of the replay of an interrupted run (pure: no files, no clock)."""

from __future__ import annotations

import hashlib

import pytest

from target_kibo_inventory.journal import JournalError
from target_kibo_inventory.journal.replay import Candidate, Replay, merge_ranges, to_ranges


def _digest(*items: bytes) -> str:
    hasher = hashlib.sha256()
    for n, item in enumerate(items):
        hasher.update(b"," + item if n else item)
    return hasher.hexdigest()


def _candidate(applied: list[list[int]], *received: bytes) -> Candidate:
    """What a run that received `received` and applied `applied` left."""
    return Candidate(applied, {len(received): _digest(*received)}, _digest(received[0]))


def _steps(replay: Replay, *items: bytes) -> list[list[bool] | None]:
    return [replay.step(item) for item in items]


def test_positions_become_ranges_and_ranges_merge():
    assert to_ranges([0, 1, 2, 5, 7, 8]) == [[0, 3], [5, 6], [7, 9]]
    assert merge_ranges([[0, 3]], [[2, 6], [8, 9]], [[6, 7]]) == [[0, 7], [8, 9]]


def test_the_applied_movements_are_told_as_they_come_and_the_replay_ends():
    replay = Replay("L", [_candidate([[0, 1], [2, 3]], b"a", b"b", b"c")], tail=False)
    assert _steps(replay, b"a", b"b") == [[True], [False]]
    assert not replay.finished
    assert _steps(replay, b"c") == [[True]]
    assert replay.finished


def test_other_movements_than_the_interrupted_run_received_are_an_error():
    replay = Replay("L", [_candidate([[0, 2]], b"a", b"b")], tail=False)
    replay.step(b"a")
    with pytest.raises(JournalError, match="differ from those the interrupted run sent"):
        replay.step(b"x")


def test_a_tap_that_moved_on_applies_everything():
    replay = Replay("L", [_candidate([[0, 2]], b"a", b"b")], tail=True)
    assert _steps(replay, b"x", b"a") == [[False], [False]]
    assert replay.moved_on


def test_two_windows_that_begin_alike_hold_the_movements_until_they_differ():
    """Killed while writing a STATE: after the older state a, a were applied; after the
    newer one, a (the second). The input tells which state the tap resumed from."""
    older = _candidate([[0, 2]], b"a", b"a")
    newer = _candidate([[0, 1]], b"a")
    from_older = Replay("L", [newer, older], tail=False)
    assert _steps(from_older, b"a", b"a") == [None, [True, True]]
    from_newer = Replay("L", [newer, older], tail=False)
    assert _steps(from_newer, b"a", b"c") == [None, [True, False]]
    assert from_newer.finished
