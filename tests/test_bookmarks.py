"""Unit tests of the movements kept at a stream's bookmark (pure: no files, no HTTP)."""

from __future__ import annotations

import pytest

from target_kibo_inventory.journal.bookmarks import (
    STATE_KEY,
    BookmarkMovements,
    TooManyAtBookmarkError,
    read_from,
    write_into,
)


def _run(known: dict | None = None, limit: int = 100) -> BookmarkMovements:
    movements = BookmarkMovements(limit)
    for stream, entry in (known or {}).items():
        movements.learn(stream, entry)
    return movements


def test_movements_at_the_last_bookmark_value_are_written_into_the_state():
    run = _run()
    for value, name in [(1, "[1]"), (2, "[2]"), (3, "[3]"), (3, "[4]")]:
        assert not run.received("moves", "L", value, name)
    run.state_received()
    state = {"bookmarks": {"moves": {"replication_key": "id", "replication_key_value": 3}}}
    write_into(state, run.entries())
    assert state["bookmarks"]["moves"][STATE_KEY] == {"value": 3, "movements": ["[3]", "[4]"]}
    assert read_from(state) == {"moves": {"value": 3, "movements": ["[3]", "[4]"]}}


def test_a_re_read_at_the_bookmark_is_known_and_a_new_row_at_that_value_is_not():
    run = _run({"moves": {"value": 3, "movements": ["[3]"]}})
    assert run.received("moves", "L", 3, "[3]")  # the tap selected id >= 3 again
    assert not run.received("moves", "L", 3, "[5]")  # committed late with the same value
    assert not run.received("moves", "L", 3, "[3]")  # the same key twice: the second is new
    assert not run.received("moves", "L", 4, "[6]")
    run.state_received()
    assert run.entries() == {"moves": {"value": 4, "movements": ["[6]"]}}


def test_identical_movements_without_keys_are_counted():
    run = _run({"moves": {"value": "2026-12-01", "movements": ["d1", "d1"]}})
    assert [run.received("moves", "L", "2026-12-01", "d1") for _ in range(3)] == [
        True,
        True,
        False,
    ]
    run.state_received()
    assert run.entries()["moves"]["movements"] == ["d1", "d1", "d1"]


def test_what_came_after_the_taps_latest_state_waits_for_the_final_state():
    run = _run()
    run.received("moves", "L", 3, "[3]")
    run.state_received()
    assert not run.moved_since_state
    run.received("moves", "L", 3, "[4]")  # the same value: the bookmark stood still
    assert not run.moved_since_state
    assert run.entries() == {"moves": {"value": 3, "movements": ["[3]"]}}
    assert run.entries(final=True) == {"moves": {"value": 3, "movements": ["[3]", "[4]"]}}
    run.received("moves", "L", 4, "[5]")
    assert run.moved_since_state


def test_each_location_keeps_its_own_movements():
    run = _run()
    run.received("moves", "L", 1, "[1]")
    run.received("moves", "M", 1, "[2]")
    run.state_received()
    assert run.for_location("M") == {"moves": {"value": 1, "movements": ["[2]"]}}
    assert run.entries() == {"moves": {"value": 1, "movements": ["[1]", "[2]"]}}


def test_more_movements_at_one_value_than_the_limit_stop_the_run():
    run = _run(limit=2)
    run.received("moves", "L", 1, "[1]")
    run.received("moves", "L", 1, "[2]")
    with pytest.raises(TooManyAtBookmarkError, match="More than 2 movements of stream 'moves'"):
        run.received("moves", "L", 1, "[3]")
    run.received("moves", "L", 2, "[4]")  # a new value starts afresh


def test_values_below_the_top_are_not_kept_and_a_new_type_starts_afresh():
    run = _run()
    run.received("moves", "L", 5, "[1]")
    run.received("moves", "L", 4, "[2]")  # unsorted: never read again at 4
    run.received("moves", "L", "x", "[3]")
    run.state_received()
    assert run.entries() == {"moves": {"value": "x", "movements": ["[3]"]}}


def test_a_state_without_bookmarks_is_left_as_it_is():
    state = {"value": 1}
    write_into(state, {"moves": {"value": 1, "movements": ["[1]"]}})
    assert state == {"value": 1}
    assert read_from(state) == {}


def test_a_re_read_of_a_movement_learnt_from_the_state_is_kept_at_its_location():
    run = _run({"moves": {"value": 3, "movements": ["[3]", "[3]"]}})
    assert run.received("moves", "L", 3, "[3]")
    assert run.received("moves", "L", 3, "[3]")
    run.state_received()
    assert run.for_location("L") == {"moves": {"value": 3, "movements": ["[3]", "[3]"]}}
    assert run.entries() == {"moves": {"value": 3, "movements": ["[3]", "[3]"]}}
