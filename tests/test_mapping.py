"""Unit tests of the record mapper: lookups, coercion, rules and error messages."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from target_kibo_inventory.destinations.kibo.api import to_integer
from target_kibo_inventory.destinations.kibo.limits import INT32_MAX, INT32_MIN
from target_kibo_inventory.destinations.kibo.translated import ADJUST_ITEMS, REFRESH_ITEMS
from target_kibo_inventory.errors import RuleError
from target_kibo_inventory.mapping import InvalidRecordError, RecordMapper, snake_case
from target_kibo_inventory.rules import clip, quote, to_number, to_text

ITEMS = {"refresh": REFRESH_ITEMS, "adjust": ADJUST_ITEMS}


def mapper(operation="refresh", field_map=None, location=None, properties=None, keys=()):
    schema = {"properties": properties or {}}
    return RecordMapper("s", schema, keys, ITEMS[operation], field_map or {}, location)


def test_snake_case_forms():
    assert [snake_case(n) for n in ("partNumber", "binID", "safetyStock", "upc", "currencyID")] == [
        "part_number",
        "bin_id",
        "safety_stock",
        "upc",
        "currency_id",
    ]


def test_same_name_and_snake_case_properties_are_found():
    mapped = mapper().map(
        {"part_number": "P", "locationName": "L", "quantity": 2, "safety_stock": 1, "binID": 3},
        1,
    )
    assert mapped.location == "L"
    assert mapped.item == {"partNumber": "P", "quantity": 2, "binID": 3, "safetyStock": 1}


def test_lookups_are_resolved_once_from_the_schema_and_field_map_wins():
    m = mapper(field_map={"quantity": "qty"}, properties={"sku": {}, "location_name": {}})
    assert [(field, key) for field, key, _ in m.lookups] == [("sku", "sku"), ("quantity", "qty")]
    assert m.location_keys == ("location_name",)
    everything = mapper()  # a schema without properties: every candidate is read
    assert ("partNumber", "part_number") in [(f, k) for f, k, _ in everything.lookups]


def test_undeclared_properties_are_read_too():
    m = mapper(location="Main Warehouse", properties={"sku": {}, "quantity": {}})
    mapped = m.map({"sku": "A", "quantity": 1, "floor": 3, "location_name": "Boston"}, 1)
    assert mapped == ("Boston", {"sku": "A", "quantity": 1, "floor": 3})
    assert m.map({"sku": "A", "quantity": 1}, 2).location == "Main Warehouse"


def test_an_empty_location_property_gives_way_to_another():
    m = mapper()
    assert m.map({"sku": "A", "quantity": 1, "locationName": "", "location_name": "B"}, 1)[0] == "B"


def test_missing_and_null_fields_are_left_out_never_sent_as_null():
    mapped = mapper(location="D").map({"sku": "A", "quantity": 0, "upc": None, "floor": ""}, 1)
    assert mapped.item == {"sku": "A", "quantity": 0}
    assert mapped.location == "D"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (5.0, 5), ("101", 101), ("101.0", 101), (" 7 ", 7), (Decimal("3.00"), 3), ("-2", -2)],
)
def test_integer_coercion(value, expected):
    assert to_integer(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        "1.5",
        "abc",
        True,
        None,
        [],
        float("nan"),
        "inf",
        "sNaN",
        "NaN",
        "1e400x",
        Decimal("sNaN"),
    ],
)
def test_integer_coercion_refuses(value):
    with pytest.raises(ValueError, match="must be an integer"):
        to_integer(value)


def test_numbers_become_identifier_strings():
    assert to_text(101010) == "101010"
    assert to_text(12.0) == "12"
    assert to_text(Decimal("1.5")) == "1.5"
    with pytest.raises(ValueError, match="non-empty string"):
        to_text("")


def test_number_location_becomes_text():
    assert mapper().map({"sku": "A", "quantity": 1, "location_name": 42}, 1).location == "42"


def test_refresh_refuses_negative_and_adjust_accepts_it():
    with pytest.raises(InvalidRecordError, match="≥ 0 for refresh"):
        mapper().map({"sku": "A", "quantity": -1, "locationName": "L"}, 1)
    assert mapper("adjust").map({"sku": "A", "quantity": -1, "locationName": "L"}, 1).item == {
        "sku": "A",
        "quantity": -1,
    }


def test_adjust_items_hold_only_adjust_fields():
    declared = ("sku", "quantity", "binID", "locationName", "floor", "retail_price")
    m = mapper("adjust", properties={name: {} for name in declared})
    fields = [rule.name for rule in REFRESH_ITEMS.fields]
    assert m.ignored(fields, {}) == ["floor", "retailPrice"]
    item = m.map({"sku": "A", "quantity": 2, "floor": 1, "binID": 4, "locationName": "L"}, 1).item
    assert item == {"sku": "A", "quantity": 2, "binID": 4}


def test_error_carries_stream_position_identifier_field_and_rule():
    m = mapper(keys=("id",))
    with pytest.raises(InvalidRecordError) as caught:
        m.map({"id": 7, "sku": "A", "quantity": "x", "locationName": "L"}, 12)
    error = caught.value
    assert (error.stream, error.position, error.identifier, error.field) == (
        "s",
        12,
        "id=7",
        "quantity",
    )
    assert str(error) == (
        "Invalid record in stream 's', record #12 (id=7): field 'quantity' must be an integer; "
        "got 'x'"
    )


def test_identifier_falls_back_to_the_item_identifiers():
    with pytest.raises(InvalidRecordError, match=r"record #3 \(sku='A'\)"):
        mapper().map({"sku": "A", "locationName": "L"}, 3)


@pytest.mark.parametrize(
    "value", [INT32_MIN, INT32_MAX, str(INT32_MAX), f"{INT32_MIN}.0", Decimal("2147483647.00")]
)
def test_the_32_bit_bounds_are_integers(value):
    assert to_integer(value) == int(Decimal(value))


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (INT32_MAX + 1, "must be an integer ≤ 2147483647 (Kibo's integers are 32-bit); got"),
        (INT32_MIN - 1, "must be an integer ≥ -2147483648 (Kibo's integers are 32-bit); got"),
        (2**64, "≤ 2147483647"),
        ("1e30", "≤ 2147483647"),
        (1e30, "≤ 2147483647"),
        (float("-inf"), "≥ -2147483648"),
        (Decimal("1E+10000000"), "≤ 2147483647"),
        ("1e10000000", "must be an integer with an exponent within ±1000; got '1e10000000'"),
        ("1" * 101, "must be an integer of at most 100 characters; got '111"),
        ("1_000", "must be an integer; got '1_000'"),
        ("\u0661\u0662", "must be an integer; got '\u0661\u0662'"),
        ("\uff11\uff12", "must be an integer; got '\uff11\uff12'"),
        ("²", "must be an integer; got '²'"),
        ("0x10", "must be an integer; got '0x10'"),
    ],
)
def test_integers_out_of_range_or_not_ascii_are_refused_naming_the_rule(value, rule):
    with pytest.raises(RuleError) as caught:
        to_integer(value)
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    "value", ["1e10000000", "-1e1000", Decimal("1e10000000"), Decimal("-1e999999999")]
)
def test_huge_exponents_are_refused_at_once(value):
    started = time.perf_counter()
    for convert in (to_integer, to_number, to_text):
        with pytest.raises(RuleError):
            convert(value if convert is not to_text or isinstance(value, Decimal) else [value])
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5", 1.5), (10**308, 10**308), ("1e308", 1e308), (Decimal("-2.25"), -2.25), (3, 3)],
)
def test_numbers_within_a_double(value, expected):
    assert to_number(value) == expected


@pytest.mark.parametrize(
    "value",
    [2**1024, "1e309", Decimal("-1E+400"), float("nan"), float("inf"), "NaN", "\u0661.\u0665"],
)
def test_numbers_beyond_a_double_or_not_ascii_are_refused(value):
    with pytest.raises(RuleError, match=r"must be a (finite )?number"):
        to_number(value)


def test_identifier_numbers_keep_their_digits_up_to_100():
    assert to_text(123456789012) == "123456789012"
    assert to_text(Decimal("1E+3")) == "1000"
    with pytest.raises(RuleError, match="or a number of at most 100 digits"):
        to_text(Decimal("1E+100"))


def test_quote_escapes_control_characters_and_cuts_long_values():
    assert quote("a\x00\x1b[2J") == "'a\\x00\\x1b[2J'"
    assert quote("x" * 501) == "'" + "x" * 499 + "… (501 characters)"
    assert quote(["y" * 600]) == "['" + "y" * 498 + "… (604 characters)"
    assert quote("\x00" * 200) == repr("\x00" * 200)[:500] + "… (200 characters)"
    assert clip("plain name") == "plain name"
    assert clip("a\nb\x85") == "a\\nb\\x85"


def test_a_location_with_control_characters_is_refused():
    with pytest.raises(InvalidRecordError, match=r"must not contain control characters; got"):
        mapper().map({"sku": "A", "quantity": 1, "location_name": "L\x00"}, 1)
    assert mapper().map({"sku": "A", "quantity": 1, "location_name": "Dock\xa07"}, 1)[0] == (
        "Dock\xa07"
    )


def test_error_messages_quote_little_of_huge_values():
    with pytest.raises(InvalidRecordError) as caught:
        mapper().map({"sku": "\x00" * 10**6, "quantity": "\x1b" * 10**6, "locationName": "L"}, 1)
    message = str(caught.value)
    assert len(message) < 2000
    assert message.isprintable()
    assert message.count("(1000000 characters)") == 2


def test_quote_of_a_value_nested_too_deeply_for_repr():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert quote(deep) == "a list nested too deeply to show"
