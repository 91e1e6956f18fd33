"""End to end: invalid records fail the run, or go to the dead-letter file with a trace."""

from __future__ import annotations

import json

from tests.harness import record, run_in_process, run_target, schema, state

PROPERTIES = {
    "sku": {"type": "string"},
    "location_name": {"type": "string"},
    "quantity": {"type": ["integer", "string"]},
}


def _messages() -> list[dict]:
    return [
        schema("stock", PROPERTIES, key_properties=["sku"]),
        record("stock", sku="A", location_name="L", quantity=1),
        record("stock", sku="B", location_name="L", quantity=-5),  # rule: refresh ≥ 0
        record("stock", sku="C", location_name="L", quantity=2.5),  # schema: integer|string
        record("stock", location_name="L", quantity=3),  # key property missing
        record("stock", sku="D", location_name="L", quantity="4"),
        state({"bookmarks": {"stock": 5}}),
    ]


def test_schema_violation_fails_the_run_naming_stream_record_and_field(emulator, tmp_path):
    messages = [_messages()[0], _messages()[1], _messages()[3]]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert (
        "Invalid record in stream 'stock', record #2 (sku='C'): field 'quantity' breaks the "
        "stream's schema: must be integer or string"
    ) in run.stderr
    assert run.states == []


def test_dead_letter_sets_bad_records_aside_and_loads_the_rest(emulator, tmp_path):
    dead = tmp_path / "dead.jsonl"
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path=str(dead))
    run = run_target(config, _messages(), tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 1, ("L", "D"): 4}

    lines = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["stream"], d["position"], d["field"]) for d in lines] == [
        ("stock", 2, "quantity"),
        ("stock", 3, "quantity"),
        ("stock", 4, "sku"),
    ]
    assert lines[0]["record"] == {"sku": "B", "location_name": "L", "quantity": -5}
    assert "must be an integer ≥ 0 for refresh" in lines[0]["reason"]
    assert "breaks the stream's schema" in lines[1]["reason"]
    assert "is a key property and is missing" in lines[2]["reason"]

    assert f"3 of 5 record(s) were set aside in {dead} (3 invalid; " in run.stderr
    assert "on_invalid_record: dead_letter); 2 were loaded." in run.stderr
    assert run.states[-1]["kibo_inventory"]["dead_letter"] == {
        "path": str(dead),
        "records": 3,
        "failed_jobs": 0,
    }
    assert run.states[-1]["bookmarks"] == {"stock": 5}


def test_dead_letter_is_not_written_when_every_record_is_valid(emulator, tmp_path):
    dead = tmp_path / "dead.jsonl"
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path=str(dead))
    messages = [_messages()[0], _messages()[1]]
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert not dead.exists()
    assert run.states[-1]["kibo_inventory"]["dead_letter"] == {
        "path": str(dead),
        "records": 0,
        "failed_jobs": 0,
    }


def test_validation_can_be_turned_off(emulator, tmp_path):
    messages = [_messages()[0], _messages()[3]]  # 2.5 breaks the schema, and the rules too
    run = run_in_process(emulator.config(validate_records=False), messages, tmp_path)
    assert run.returncode != 0
    assert "field 'quantity' must be an integer; got Decimal('2.5')" in run.stderr


def test_batch_messages_are_refused_not_dropped(emulator, tmp_path):
    batch = {
        "type": "BATCH",
        "stream": "stock",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [str(tmp_path / "records.jsonl")],
    }
    (tmp_path / "records.jsonl").write_text('{"sku": "A", "location_name": "L", "quantity": 1}\n')
    run = run_in_process(emulator.config(), [_messages()[0], batch], tmp_path)
    assert run.returncode != 0
    assert "sent a BATCH message (records in files), which target-kibo-inventory does not" in (
        run.stderr
    )
    assert run.states == []


def _merged(stored: dict, new: dict) -> dict:
    """A state as Meltano stores it under its merge strategy (meltano.core.utils.merge):
    objects merged key by key, any other value replaced."""
    result = dict(stored)
    for key, value in new.items():
        is_object = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = _merged(result[key], value) if is_object else value
    return result


def test_the_next_clean_run_writes_its_own_dead_letter_counts(emulator, tmp_path):
    """Issue 17, item 8: a state entry describes the run that wrote it, not an earlier one."""
    config = emulator.config(on_invalid_record="dead_letter", dead_letter_path="dead.jsonl")
    first = run_in_process(config, _messages(), tmp_path)
    assert first.returncode == 0, first.stderr
    stored = first.states[-1]
    assert stored["kibo_inventory"]["dead_letter"]["records"] == 3

    clean = [
        state(stored),  # the tap resumes from it and echoes it, as SDK taps do
        schema("stock", PROPERTIES, key_properties=["sku"]),
        record("stock", sku="E", location_name="L", quantity=6),
        state({"bookmarks": {"stock": 6}}),
    ]
    second = run_in_process(config, clean, tmp_path)
    assert second.returncode == 0, second.stderr
    [written] = second.states
    assert written["kibo_inventory"]["dead_letter"] == {
        "path": "dead.jsonl",
        "records": 0,
        "failed_jobs": 0,
    }
    assert _merged(stored, written)["kibo_inventory"]["dead_letter"]["records"] == 0
    assert len((tmp_path / "dead.jsonl").read_text().splitlines()) == 3  # the first run's only
