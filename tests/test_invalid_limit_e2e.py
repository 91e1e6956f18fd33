"""End to end: `max_invalid_records` bounds what `on_invalid_record: dead_letter` sets aside.

An integer is a count; a number between 0 and 1 a fraction of the records read so far,
counting at least 100 records (so at the default 0.1 the first 10 invalid records of a run
never stop it). Past the limit the run stops like `fail` would: one error line, no STATE past
what was accepted.
"""

from __future__ import annotations

import json

import pytest

from tests.harness import record, run_in_process, run_target, schema, state

PROPERTIES = {"sku": {}, "location_name": {}, "quantity": {}}


def _good(i: int) -> dict:
    return record("stock", sku=f"G-{i}", location_name="L", quantity=i % 7)


def _bad(i: int) -> dict:
    return record("stock", sku=f"B-{i}", location_name="L", quantity=-1)  # refresh needs ≥ 0


def _config(emulator, tmp_path, **overrides) -> dict:
    dead = tmp_path / "dead.jsonl"
    return emulator.config(on_invalid_record="dead_letter", dead_letter_path=str(dead), **overrides)


def _dead(tmp_path) -> list[dict]:
    path = tmp_path / "dead.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def test_a_count_stops_the_run_at_the_record_past_it(emulator, tmp_path):
    messages = [
        schema("stock", PROPERTIES),
        _good(1),
        _bad(1),
        _good(2),
        _bad(2),
        state({"bookmarks": {"stock": 4}}),
        _good(3),
        _bad(3),  # the third: one more than max_invalid_records allows
        _good(4),
        state({"bookmarks": {"stock": 8}}),
    ]
    run = run_target(_config(emulator, tmp_path, max_invalid_records=2), messages, tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    dead_path = tmp_path / "dead.jsonl"
    assert error.endswith(
        f"Stopped: 3 of the 6 records read so far were set aside in {dead_path} (3 invalid), "
        "more than the 2 that max_invalid_records allows (2). So many bad records mean the feed "
        "or field_map is wrong: read the reasons in the dead-letter file, fix the cause and run "
        "again (the run resumes from the last STATE written), or raise max_invalid_records."
    )
    assert "Traceback" not in run.stderr
    assert [d["identifier"] for d in _dead(tmp_path)] == ["sku='B-1'", "sku='B-2'", "sku='B-3'"]
    # Like `fail`: no STATE is written for input the target did not see through.
    assert run.states == []

    # Within the count the run loads the rest and says what was set aside.
    emulator.post("/emulator/reset", {})
    dead_path.unlink()
    run = run_target(_config(emulator, tmp_path, max_invalid_records=3), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", f"G-{i}"): i % 7 for i in range(1, 5)}
    assert (
        f"3 of 7 record(s) were set aside in {dead_path} (3 invalid; on_invalid_record: "
        "dead_letter); 4 were loaded."
    ) in run.stderr
    assert run.states[-1]["bookmarks"] == {"stock": 8}


def test_the_default_fraction_lets_the_first_ten_pass_in_a_small_run(emulator, tmp_path):
    """0.1 of at least 100 records: 10 invalid records in a run of 15 do not stop it."""
    messages = [schema("stock", PROPERTIES), *(_bad(i) for i in range(10))]
    messages += [_good(i) for i in range(5)]
    run = run_in_process(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(_dead(tmp_path)) == 10
    assert "10 of 15 record(s) were set aside in" in run.stderr
    assert "5 were loaded." in run.stderr
    assert "every other record was loaded" not in run.stderr

    # The 11th stops it, at that record.
    (tmp_path / "dead.jsonl").unlink()
    messages = [schema("stock", PROPERTIES), *(_bad(i) for i in range(11)), _good(99)]
    run = run_in_process(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "Stopped: 11 of the 11 records read so far were set aside in" in error
    assert (
        "more than the 10 that max_invalid_records allows (0.1: 10% of the records read, "
        "counting at least 100)."
    ) in error
    assert len(_dead(tmp_path)) == 11


def test_past_100_records_the_fraction_is_of_the_records_read_so_far(emulator, tmp_path):
    """5% invalid passes a 0.1 limit over 400 records; then a burst passes the 10% and stops
    the run at the record that makes it more than 10% of those read."""
    records = [_bad(i) if i % 20 == 0 else _good(i) for i in range(400)]
    messages = [schema("stock", PROPERTIES), *records, state({"bookmarks": {"stock": 400}})]
    run = run_in_process(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "20 of 400 record(s) were set aside" in run.stderr
    assert "380 were loaded." in run.stderr

    # 400 read with 20 set aside, then only bad ones: at 400 + k read, 20 + k set aside; the
    # limit is int(0.1 * (400 + k)). 20 + k > 40 + k // 10 first at k = 23: 43 > 42.
    (tmp_path / "dead.jsonl").unlink()
    emulator.post("/emulator/reset", {})
    messages = [schema("stock", PROPERTIES), *records, *(_bad(1000 + i) for i in range(50))]
    run = run_in_process(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "Stopped: 43 of the 423 records read so far were set aside" in error
    assert "more than the 42 that max_invalid_records allows (0.1: 10%" in error
    assert len(_dead(tmp_path)) == 43


def test_a_small_fraction_still_lets_the_first_invalid_record_pass(emulator, tmp_path):
    records = [_bad(i) if i in (10, 500) else _good(i) for i in range(1000)]
    config = _config(emulator, tmp_path, max_invalid_records=0.001)
    run = run_in_process(config, [schema("stock", PROPERTIES), *records], tmp_path)
    assert run.returncode == 1  # 2 > max(1, 0.001 * 501)
    assert "Stopped: 2 of the 501 records read so far" in run.stderr
    assert "more than the 1 that max_invalid_records allows (0.001: 0.1% of the" in run.stderr

    (tmp_path / "dead.jsonl").unlink()
    emulator.post("/emulator/reset", {})
    records[500] = _good(500)
    run = run_in_process(config, [schema("stock", PROPERTIES), *records], tmp_path)
    assert run.returncode == 0, run.stderr  # the first invalid record never stops a run
    assert "1 of 1000 record(s) were set aside" in run.stderr


def test_when_every_record_is_set_aside_the_warning_says_none_was_loaded(emulator, tmp_path):
    messages = [schema("stock", PROPERTIES), *(_bad(i) for i in range(4))]
    run = run_in_process(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "4 of 4 record(s) were set aside in" in run.stderr
    assert "none was loaded." in run.stderr
    assert "every other record" not in run.stderr
    assert emulator.api_requests() == []


def test_items_a_destination_refused_count_toward_the_limit(emulator, tmp_path):
    emulator.faults(increff_reject_sku_prefix="BAD")
    config = {
        **_config(emulator, tmp_path, max_invalid_records=2),
        "destination": "increff",
        "increff_auth_username": "demo-user",
        "increff_auth_password": "demo-password",
        "increff_auth_domain": "demo",
    }
    good = [record("stock", sku=f"OK-{i}", location_name="wd1", quantity=i) for i in range(5)]
    refused = [record("stock", sku=f"BAD-{i}", location_name="wd1", quantity=1) for i in range(3)]
    run = run_in_process(config, [schema("stock", PROPERTIES), *good, *refused], tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "Stopped: 3 of the 8 records read so far were set aside in" in error
    assert "(3 refused by increff), more than the 2 that max_invalid_records allows (2)." in error

    (tmp_path / "dead.jsonl").unlink()
    emulator.post("/emulator/reset", {})
    emulator.faults(increff_reject_sku_prefix="BAD")
    run = run_in_process(
        {**config, "max_invalid_records": 3},
        [schema("stock", PROPERTIES), *good, *refused, _bad(1)],
        tmp_path,
    )
    assert run.returncode == 1
    assert "Stopped: 4 of the 9 records read so far" in run.stderr
    assert "(1 invalid, 3 refused by increff)" in run.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "Setting 'max_invalid_records' (2.5) must be a count of records (an integer: 1, 2"),
        (0, "max_invalid_records"),
        (-1, "max_invalid_records"),
        ("many", "max_invalid_records"),
    ],
)
def test_a_limit_that_is_no_count_or_fraction_is_refused_at_start_up(
    emulator, tmp_path, run_case, value, message
):
    run = run_case(_config(emulator, tmp_path, max_invalid_records=value), [], tmp_path)
    assert run.returncode != 0
    assert message in run.stderr
    assert emulator.requests() == []


def test_a_whole_number_written_as_a_decimal_is_a_count(emulator, tmp_path):
    messages = [schema("stock", PROPERTIES), _bad(1), _bad(2), _good(1)]
    run = run_in_process(_config(emulator, tmp_path, max_invalid_records=1.0), messages, tmp_path)
    assert run.returncode == 1
    assert "more than the 1 that max_invalid_records allows (1)." in run.stderr


def test_the_limit_does_not_apply_under_fail(emulator, tmp_path):
    messages = [schema("stock", PROPERTIES), _good(1), _bad(1), _good(2)]
    config = emulator.config(max_invalid_records=5)
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 1
    [error] = _errors(run.stderr)
    assert "Invalid record in stream 'stock', record #2 (sku='B-1')" in error
    assert not (tmp_path / "kibo-inventory-dead-letter.jsonl").exists()
