"""End to end: hostile input (huge numbers, non-objects, broken lines, huge or binary values).

Every bad record is an invalid record naming the stream, the record position, the field and
the rule (set aside under dead_letter, one error line under fail); every line that is no
Singer message is one error line naming the line number; nothing is dropped silently, and
what a message quotes from the input is short and free of control characters.

The 10 MB lines and the deepest record go through the CLI (a pipe read in chunks, a fresh
interpreter's stack), so does the first case of each family; the others run its command in
process.
"""

from __future__ import annotations

import json

import pytest

from tests.harness import lines, record, run_in_process, run_target, schema

ANY = {"sku": {}, "location_name": {}, "quantity": {}}
INT32_MAX = 2**31 - 1


def _dead_letter(emulator, tmp_path) -> dict:
    """Set invalid records aside; these inputs are mostly invalid on purpose, so the limit of
    records set aside (max_invalid_records) is a count above any of them."""
    path = tmp_path / "dead.jsonl"
    return emulator.config(
        on_invalid_record="dead_letter", dead_letter_path=str(path), max_invalid_records=1000
    )


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


@pytest.mark.slow  # 10 MB through the CLI's pipe
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


@pytest.mark.slow  # 10 MB through the CLI's pipe
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
    run = run_in_process(_dead_letter(emulator, tmp_path), messages, tmp_path)
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

    run = run_in_process(emulator.config(), messages[:1] + messages[3:], tmp_path)
    assert _control_bytes(run.stderr) == []
    assert "(sku='D\\x00'): field 'quantity' must be an integer; got 'x\\x1b'" in _one_error(
        run.stderr
    )


def test_a_record_nested_nearly_as_deep_as_json_is_read_is_refused_or_set_aside(emulator, tmp_path):
    deep = "[" * 985 + "]" * 985
    text = lines([schema("s", ANY)]) + (
        '{"type": "RECORD", "stream": "s", "record": '
        f'{{"sku": "A", "location_name": "L", "quantity": {deep}}}}}\n'
    )
    run = run_target(emulator.config(), text, tmp_path)
    assert run.returncode != 0
    assert "record #1 (sku='A'): field 'quantity' must be an integer; got " in _one_error(
        run.stderr
    )

    run = run_target(_dead_letter(emulator, tmp_path), text, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    [dead] = (tmp_path / "dead.jsonl").read_text().splitlines()  # too deep for json.loads here
    assert dead.startswith('{"stream": "s", "position": 1, ')
    assert f'"record": {{"sku": "A", "location_name": "L", "quantity": {deep}}}' in dead


# Numbers whose conversion would never end


@pytest.mark.parametrize(
    "quantity", ['"1e10000000"', "1e10000000", '"9e999999999"', "1e99999999999999999999999"]
)
def test_a_huge_exponent_is_refused_at_once(emulator, tmp_path, run_case, quantity):
    text = lines([schema("s", ANY)]) + (
        '{"type": "RECORD", "stream": "s", "record": '
        f'{{"sku": "A", "location_name": "L", "quantity": {quantity}}}}}\n'
    )
    run = run_case(emulator.config(), text, tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert "Invalid record in stream 's', record #1 (sku='A'): field 'quantity' must be" in error
    assert emulator.api_requests() == []


def test_a_long_numeric_string_is_refused_naming_the_bound(emulator, tmp_path):
    messages = [schema("s", ANY), record("s", sku="A", location_name="L", quantity="7" * 5000)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert "field 'quantity' must be an integer of at most 100 characters; got '777" in error
    assert "… (5000 characters)" in error


# Bounds of integers and numbers, ASCII digits only

OUT_OF_RANGE = [
    ("quantity", 2**31, "must be an integer ≤ 2147483647 (Kibo's integers are 32-bit)"),
    ("quantity", 2**40, "must be an integer ≤ 2147483647"),
    ("quantity", 2**64, "must be an integer ≤ 2147483647"),
    ("quantity", "1e30", "must be an integer ≤ 2147483647"),
    ("quantity", -1, "must be an integer ≥ 0 for refresh (an absolute count)"),
    ("bin_id", 2**31, "must be an integer ≤ 2147483647"),
    ("floor", -(2**31) - 1, "must be an integer ≥ -2147483648 (Kibo's integers are 32-bit)"),
    ("safety_stock", "2147483648", "must be an integer ≤ 2147483647"),
    ("currency_id", 2**63, "must be an integer ≤ 2147483647"),
    ("quantity", "1_000", "must be an integer; got '1_000'"),
    ("quantity", "\u0661\u0662", "must be an integer; got '\u0661\u0662'"),
    ("quantity", "\uff11\uff12", "must be an integer; got '\uff11\uff12'"),
    ("retail_price", "1e400", "must be a finite number within ±1.7976931348623157e+308"),
    ("ltd", "\u0661.\u0665", "must be a number; got '\u0661.\u0665'"),
]


def test_out_of_range_values_are_invalid_records_naming_field_and_range(emulator, tmp_path):
    messages = [schema("s", {**ANY, "bin_id": {}, "floor": {}, "safety_stock": {}})]
    messages[0]["schema"]["properties"].update(
        {name: {} for name in ("currency_id", "retail_price", "ltd")}
    )
    messages.append(record("s", sku="MAX", location_name="L", quantity=INT32_MAX, floor=-(2**31)))
    for n, (name, value, _) in enumerate(OUT_OF_RANGE):
        fields = {"sku": f"S{n}", "location_name": "L", "quantity": 1, name: value}
        messages.append(record("s", **fields))
    text = lines(messages) + (
        '{"type": "RECORD", "stream": "s", "record": '
        '{"sku": "F", "location_name": "L", "quantity": 1, "retail_price": 1e400}}\n'
    )
    run = run_in_process(_dead_letter(emulator, tmp_path), text, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]

    assert _sent_items(emulator) == [{"sku": "MAX", "quantity": INT32_MAX, "floor": -(2**31)}]
    dead = _set_aside(tmp_path)
    expected = [*OUT_OF_RANGE, ("retail_price", "1E+400", "must be a finite number within")]
    assert len(dead) == len(expected)
    for line, (name, _, rule) in zip(dead, expected, strict=True):
        api_field = {"bin_id": "binID", "safety_stock": "safetyStock"}.get(name, name)
        api_field = {"currency_id": "currencyID", "retail_price": "retailPrice"}.get(
            api_field, api_field
        )
        assert line["field"] == api_field, line
        assert rule in line["reason"], line["reason"]
    assert dead[-1]["position"] == len(OUT_OF_RANGE) + 2


def test_adjust_quantities_take_the_whole_32_bit_range(emulator, tmp_path):
    config = {**_dead_letter(emulator, tmp_path), "stream_operations": {"s": "adjust"}}
    messages = [
        schema("s", ANY),
        record("s", sku="LOW", location_name="L", quantity=-(2**31)),
        record("s", sku="BELOW", location_name="L", quantity=-(2**31) - 1),
        record("s", sku="ABOVE", location_name="L", quantity="-1e10"),
    ]
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _sent_items(emulator) == [{"sku": "LOW", "quantity": -(2**31)}]
    assert [(d["position"], d["field"]) for d in _set_aside(tmp_path)] == [
        (2, "quantity"),
        (3, "quantity"),
    ]


# Records that are no objects, and lines that are no Singer messages


def test_non_object_records_are_set_aside_and_never_dropped(emulator, tmp_path):
    text = lines([schema("s", ANY), record("s", sku="A", location_name="L", quantity=1)])
    for body in ("[1, 2]", '"text"', "5", "null", "true"):
        text += f'{{"type": "RECORD", "stream": "s", "record": {body}}}\n'
    text += lines([record("s", sku="B", location_name="L", quantity=2)])
    run = run_in_process(_dead_letter(emulator, tmp_path), text, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert emulator.stock() == {("L", "A"): 1, ("L", "B"): 2}
    dead = _set_aside(tmp_path)
    assert [(d["position"], d["field"], d["record"]) for d in dead] == [
        (2, "record", [1, 2]),
        (3, "record", "text"),
        (4, "record", 5),
        (5, "record", None),
        (6, "record", True),
    ]
    assert dead[0]["reason"] == (
        "Invalid record in stream 's', record #2: field 'record' must be a JSON object; got [1, 2]"
    )
    assert dead[3]["reason"].endswith("must be a JSON object; got null")
    assert "5 of 7 record(s) were set aside in" in run.stderr
    assert "(5 invalid; on_invalid_record: dead_letter); 2 were loaded." in run.stderr


@pytest.mark.parametrize("body", ["[1, 2]", "null", '"text"'])
def test_a_non_object_record_fails_the_run_in_one_line(emulator, tmp_path, run_case, body):
    text = lines([schema("s", ANY), record("s", sku="A", location_name="L", quantity=1)])
    text += f'{{"type": "RECORD", "stream": "s", "record": {body}}}\n'
    run = run_case(emulator.config(), text, tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert error.endswith(
        "Invalid record in stream 's', record #2: field 'record' must be a JSON object; got "
        + ("null" if body == "null" else body.replace('"', "'"))
    )
    assert run.states == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"type": "RECORD", "stream": "s"}', "the RECORD message has no 'record'"),
        ('{"type": "RECORD", "record": {"sku": "A"}}', "the RECORD message has no 'stream'"),
        ('{"type": "RECORD", "stream": ["s"], "record": {}}', "'stream' must be a string"),
        ("123", "a Singer message must be a JSON object; got 123"),
        ('["RECORD"]', "a Singer message must be a JSON object; got ['RECORD']"),
        ('{"stream": "s"}', "a Singer message has no 'type'"),
        ('{"type": ["x"]}', "unknown message type ['x']"),
        ('{"type": "RECORD", "stream": "s", "record": {', "not valid JSON"),
        ('{"type": "STATE"}', "the STATE message has no 'value'"),
        (
            '{"type": "SCHEMA", "stream": "t", "schema": 5}',
            "the SCHEMA message's schema must be a JSON object; got 5",
        ),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_a_line_that_is_no_singer_message_is_one_error_naming_the_line(
    emulator, tmp_path, run_case, line, reason
):
    text = lines([schema("s", ANY), record("s", sku="A", location_name="L", quantity=1)])
    text += line + "\n"
    run = run_case(_dead_letter(emulator, tmp_path), text, tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert "Input line 3: " in error
    assert reason in error


def test_a_record_without_record_is_refused_even_for_a_known_stream(emulator, tmp_path):
    text = lines([schema("s", ANY), record("s", sku="A", location_name="L", quantity=1)])
    text += '{"type": "RECORD", "stream": "s"}\n'
    run = run_in_process(emulator.config(), text, tmp_path)
    assert "Input line 3: the RECORD message has no 'record'" in _one_error(run.stderr)


def test_a_schema_with_an_invalid_pattern_is_one_error_naming_the_line(emulator, tmp_path):
    properties = {**ANY, "sku": {"type": "string", "pattern": "(["}}
    messages = [schema("s", ANY), schema("s", properties)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert (
        "Input line 2: stream 's' has an invalid schema: '([' is not a 'regex' "
        "(at $.properties.sku.pattern)"
    ) in error


def test_a_record_before_its_schema_is_one_error_naming_the_line(emulator, tmp_path):
    run = run_in_process(emulator.config(), [record("s", sku="A", quantity=1)], tmp_path)
    assert run.returncode != 0
    error = _one_error(run.stderr)
    assert "Input line 1: stream 's' has a RECORD before its SCHEMA message" in error


@pytest.mark.slow  # 10 MB through the CLI's pipe
def test_a_10_mb_line_that_is_no_json_writes_little_to_stderr(emulator, tmp_path):
    line = '{"type": "RECORD", "x": "' + "a" * 10_000_000
    run = run_target(emulator.config(), lines([schema("s", ANY)]) + line + "\n", tmp_path)
    assert run.returncode != 0
    assert len(run.stderr) < 20_000
    error = _one_error(run.stderr)
    assert "Input line 2: not valid JSON (JSON is malformed: " in error
    assert '): \'{"type": "RECORD", "x": "aaa' in error
    assert f"… ({len(line)} characters)" in error


def test_control_characters_in_an_unparsable_line_are_escaped(emulator, tmp_path):
    run = run_in_process(emulator.config(), '{"type": "\x00\x1b[2J\n', tmp_path)
    assert run.returncode != 0
    assert _control_bytes(run.stderr) == []
    assert "Input line 1: not valid JSON" in _one_error(run.stderr)
