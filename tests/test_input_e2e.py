"""End to end: hostile input (huge numbers, non-objects, broken lines, huge or binary values).

Every bad record is an invalid record naming the stream, the record position, the field and
the rule (set aside under dead_letter, one error line under fail); every line that is no
Singer message is one error line naming the line number; nothing is dropped silently, and
what a message quotes from the input is short and free of control characters.
"""

from __future__ import annotations

import json

from tests.helpers import record, run_target, schema

ANY = {"sku": {}, "location_name": {}, "quantity": {}}
INT32_MAX = 2**31 - 1


def _dead_letter(emulator, tmp_path) -> dict:
    path = tmp_path / "dead.jsonl"
    return emulator.config(on_invalid_record="dead_letter", dead_letter_path=str(path))


def _set_aside(tmp_path) -> list[dict]:
    path = tmp_path / "dead.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _sent_items(emulator) -> list[dict]:
    return [i for job in emulator.jobs() for i in emulator.job(job["jobID"], items=True)["items"]]


def _one_error(stderr: str) -> str:
    """The run's only ERROR line, which stands alone: no traceback follows it."""
    assert "Traceback" not in stderr, stderr[-3000:]
    [error] = [line for line in stderr.splitlines() if "| ERROR" in line]
    return error


def _control_bytes(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 or 127 <= ord(c) < 160) and c not in "\n\t"]


# Messages: what they quote from the input is short, said once, without control characters


def test_a_10_mb_invalid_record_writes_little_to_stderr(emulator, tmp_path):
    huge = "b" * 10_000_000
    messages = [schema("s", ANY), record("s", sku=huge, location_name="L", quantity=[huge])]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert len(run.stderr) < 20_000
    error = _one_error(run.stderr)
    assert "field 'quantity' must be an integer; got ['bbbb" in error
    assert error.count("(10000000 characters)") == 1  # the sku
    assert "… (10000004 characters)" in error  # the list


def test_a_10_mb_record_breaking_the_schema_writes_little_to_stderr(emulator, tmp_path):
    properties = {**ANY, "quantity": {"type": "integer"}}
    messages = [
        schema("s", properties),
        record("s", sku="A", location_name="L", quantity="c" * 10**7),
    ]
    run = run_target(emulator.config(validate_records=True), messages, tmp_path)
    assert run.returncode != 0
    assert len(run.stderr) < 20_000
    assert "field 'quantity' breaks the stream's schema: must be integer" in _one_error(run.stderr)


def test_control_characters_are_escaped_in_messages(emulator, tmp_path):
    messages = [
        schema("s", ANY),
        record("s", sku="A\x00B\x1b[31m", location_name="L", quantity=1),
        record("s", sku="C", location_name="Dock\x00\x1b7", quantity=1),
        record("s", sku="D\x00", location_name="L", quantity="x\x1b"),
    ]
    run = run_target(_dead_letter(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _control_bytes(run.stderr) == []
    assert emulator.stock() == {("L", "A\x00B\x1b[31m"): 1}
    dead = _set_aside(tmp_path)
    assert [(d["position"], d["field"]) for d in dead] == [(2, "locationName"), (3, "quantity")]
    assert dead[0]["reason"].endswith(
        "field 'locationName' (record property 'location_name') must not contain control "
        "characters; got 'Dock\\x00\\x1b7'"
    )
    assert "(sku='D\\x00'): field 'quantity' must be an integer; got 'x\\x1b'" in dead[1]["reason"]

    run = run_target(emulator.config(), messages[:1] + messages[3:], tmp_path)
    assert _control_bytes(run.stderr) == []
    assert "(sku='D\\x00'): field 'quantity' must be an integer; got 'x\\x1b'" in _one_error(
        run.stderr
    )
