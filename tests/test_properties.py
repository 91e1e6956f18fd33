"""Property tests of mapping + batching + dead letters, without HTTP.

For random streams of valid and invalid records over random locations: every valid item is
sent exactly once, in order per location, in ⌈n/max⌉ requests per location, and every
invalid record is in the dead-letter file.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from target_kibo_inventory.batching import Batcher
from target_kibo_inventory.dead_letter import DeadLetters
from target_kibo_inventory.destinations.base import merge_json
from target_kibo_inventory.destinations.kibo.api import to_integer
from target_kibo_inventory.destinations.kibo.limits import INT32_MAX, INT32_MIN
from target_kibo_inventory.destinations.kibo.translated import REFRESH_ITEMS
from target_kibo_inventory.errors import RuleError
from target_kibo_inventory.mapping import InvalidRecordError, RecordMapper
from target_kibo_inventory.rules import (
    MAX_EXPONENT,
    MAX_NUMBER_TEXT,
    QUOTE_LIMIT,
    clip,
    quote,
    to_number,
)

valid = st.fixed_dictionaries(
    {
        "sku": st.text("ABCXYZ0123", min_size=1, max_size=6),
        "location_name": st.sampled_from(["North", "South", "East", "Dock 7"]),
        "quantity": st.one_of(st.integers(0, 10_000), st.integers(0, 99).map(str)),
    }
)
invalid = st.one_of(
    valid.map(lambda r: {**r, "quantity": -1}),
    valid.map(lambda r: {**r, "quantity": "1.5"}),
    valid.map(lambda r: {k: v for k, v in r.items() if k != "sku"}),
    valid.map(lambda r: {**r, "bin_id": 0}),
    valid.map(lambda r: {**r, "attributes": ["a"] * 64}),
    valid.map(lambda r: {**r, "quantity": 2**31}),
    valid.map(lambda r: {**r, "quantity": "\u0661\u0662"}),
    valid.map(lambda r: {**r, "floor": -(2**31) - 1}),
    valid.map(lambda r: {**r, "retail_price": "1e400"}),
    valid.map(lambda r: [r]),
    st.none(),
)
records = st.lists(st.tuples(st.booleans(), valid, invalid), max_size=300)


@settings(max_examples=150, deadline=None)
@given(rows=records, full=st.integers(1, 25))
def test_valid_items_once_in_order_and_every_invalid_record_set_aside(rows, full):
    mapper = RecordMapper("s", {"properties": {}}, (), REFRESH_ITEMS, {}, None)
    batcher = Batcher(
        {"refresh": full, "adjust": full},
        {"refresh": 3, "adjust": full},
        10**9,
        merge=merge_json,
        bounds={"refresh": (0, INT32_MAX), "adjust": (INT32_MIN, INT32_MAX)},
    )
    with tempfile.TemporaryDirectory() as tmp:
        dead = DeadLetters("dead_letter", str(Path(tmp) / "dead.jsonl"), logging.getLogger())
        sent, expected, rejected = [], defaultdict(list), []
        for position, (is_valid, good, bad) in enumerate(rows, start=1):
            record = good if is_valid else bad
            try:
                if type(record) is not dict:  # as the sink refuses it
                    raise InvalidRecordError("s", position, None, "record", "must be an object")
                mapped = mapper.map(record, position)
            except InvalidRecordError as error:
                dead.reject(error, record)
                rejected.append(position)
                continue
            item = json.dumps({"n": position, **mapped.item}).encode()
            expected[mapped.location].append(position)
            key = str(position).encode()  # each record its own item: none is collapsed here
            quantity = mapped.item["quantity"]
            sent += batcher.add("refresh", mapped.location, key, item, quantity, "s")
        sent += batcher.drain()
        dead.close()
        lines = (Path(tmp) / "dead.jsonl").read_text().splitlines() if rejected else []

    assert [json.loads(line)["position"] for line in lines] == rejected
    assert rejected == [p for p, (ok, _, _) in enumerate(rows, start=1) if not ok]
    by_location = defaultdict(list)
    for request in sent:
        by_location[request.location].append(request.count)
        items = json.loads(b"[" + request.encoded_items + b"]")
        assert len(items) == request.count
        expected_here = expected[request.location]
        taken = sum(by_location[request.location][:-1])
        assert [i["n"] for i in items] == expected_here[taken : taken + request.count]
    for location, positions in expected.items():
        assert len(by_location[location]) == math.ceil(len(positions) / full)
        assert sum(by_location[location]) == len(positions)


ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE](?P<exponent>[+-]?[0-9]+))?")
"""A numeric string as the README states it: ASCII digits, an optional sign, decimal point
and exponent."""


@given(st.integers())
def test_an_int_is_an_integer_exactly_when_it_has_32_bits(value):
    if INT32_MIN <= value <= INT32_MAX:
        assert to_integer(value) == value
    else:
        with pytest.raises(RuleError, match="Kibo's integers are 32-bit"):
            to_integer(value)


def _an_integer(text: str) -> Decimal | None:
    """What the rules make of a string: an ASCII number (spaces around it ignored) of at most
    MAX_NUMBER_TEXT characters, its exponent within MAX_EXPONENT, integral and of 32 bits;
    else None."""
    stripped = text.strip()
    match = ASCII_NUMBER.fullmatch(stripped)
    if not match or len(stripped) > MAX_NUMBER_TEXT:
        return None
    if match["exponent"] and abs(int(match["exponent"])) > MAX_EXPONENT:
        return None
    number = Decimal(stripped)
    integral = number == number.to_integral_value() and INT32_MIN <= number <= INT32_MAX
    return number if integral else None


NUMERIC_TEXT = r"\A\s*[+-]?[0-9]{0,12}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,4})?\s*\Z"


@example("101.0")
@example(" +7 ")
@example("1e3")
@example("\u0661\u0662")  # Arabic-Indic digits: refused, as are the next three
@example("\uff11\uff12")
@example("1_000")
@example("Infinity")
@example("2147483648")
@given(st.one_of(st.text(max_size=30), st.from_regex(NUMERIC_TEXT)))
def test_a_string_is_an_integer_only_in_ascii_digits_and_exactly(text):
    expected = _an_integer(text)
    try:
        number = to_integer(text)
    except RuleError:
        assert expected is None, f"{text!r} is the integer {expected}, but was refused"
    else:
        assert expected is not None, f"{text!r} is no integer, but was read as {number}"
        assert number == expected


@given(st.decimals(allow_nan=False))
def test_a_decimal_is_an_integer_when_integral_and_in_range(value):
    expected = value.is_finite() and value == value.to_integral_value()
    expected = expected and INT32_MIN <= value <= INT32_MAX
    try:
        integer = to_integer(value)
    except RuleError:
        assert not expected
    else:
        assert expected
        assert integer == value


@given(st.one_of(st.floats(), st.decimals(), st.integers(), st.text(max_size=30)))
def test_a_number_is_a_finite_double_or_refused(value):
    try:
        number = to_number(value)
    except RuleError:
        return
    assert math.isfinite(number)


UNPRINTABLE = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"])
"""Characters that str.isprintable refuses: controls, format characters such as U+202E
(right-to-left override), surrogates, private and unassigned ones, separators."""
TEXT = st.one_of(st.text(), st.text(UNPRINTABLE, min_size=1), st.text(st.characters()))


@example("\u202e")  # right-to-left override: turns the rest of a log line around
@example("\u2028")  # line separator: breaks a log line
@example(["\u2029", "\x1b[31m"])
@example("x" * (QUOTE_LIMIT - 3) + "\u202e\u2028")  # escaped where it is cut
@given(st.one_of(TEXT, st.lists(TEXT), st.dictionaries(TEXT, TEXT), st.binary()))
def test_quoted_values_are_short_and_printable(value):
    for shown in (quote(value), clip(value)):
        assert shown.isprintable(), shown
        assert len(shown) <= QUOTE_LIMIT + len("… (18446744073709551616 characters)")


@example("\u202e", "\u2028")
@given(TEXT, TEXT)
def test_a_records_error_is_one_printable_line(value, name):
    """Whatever text a record holds, in values or property names, its error is printable."""
    mapper = RecordMapper("s", {"properties": {}}, (), REFRESH_ITEMS, {}, None)
    record = {name: value, "sku": value, "location_name": value, "quantity": "x" + value}
    with pytest.raises(InvalidRecordError) as raised:  # the quantity is no number
        mapper.map(record, 1)
    assert str(raised.value).isprintable(), str(raised.value)
