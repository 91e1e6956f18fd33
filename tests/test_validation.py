"""The compiled validator rejects exactly what the SDK's jsonschema validator rejects."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from singer_sdk.sinks.core import JSONSchemaValidator

from target_kibo_inventory.validation import (
    CompiledValidator,
    FallbackValidator,
    InvalidSchemaError,
    SchemaViolationError,
    compile_validator,
)

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "location_name": {"type": ["string", "null"]},
            "quantity": {"type": ["integer", "string"]},
            "price": {"type": ["number", "null"]},
            "updated_at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["sku"],
    },
    {
        "type": "object",
        "properties": {
            "item": {"type": "object", "properties": {"upc": {"type": "string", "minLength": 1}}},
            "on_hand": {"type": "integer", "minimum": 0},
            "status": {"enum": ["active", "retired"]},
        },
        "additionalProperties": False,
    },
]

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.text(max_size=3),
    st.lists(st.one_of(st.text(max_size=2), st.integers()), max_size=2),
    st.dictionaries(st.sampled_from(["upc", "x"]), st.one_of(st.text(max_size=2), st.integers())),
    st.sampled_from(["active", "retired", "2026-01-01T00:00:00Z"]),
)
names = st.sampled_from(
    ["sku", "location_name", "quantity", "price", "updated_at", "tags", "item", "on_hand", "status"]
)


@pytest.mark.slow  # 400 examples for each schema, each validated twice
@pytest.mark.parametrize("schema", SCHEMAS)
@settings(max_examples=400, deadline=None)
@given(record=st.dictionaries(names, values, max_size=5))
def test_compiled_and_sdk_validators_agree(schema, record):
    sdk = JSONSchemaValidator(schema)
    compiled = CompiledValidator(schema)
    sdk_rejects = next(iter(sdk.validator.iter_errors(record)), None) is not None
    try:
        compiled.validate(record)
        compiled_rejects = False
    except SchemaViolationError:
        compiled_rejects = True
    assert compiled_rejects == sdk_rejects


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"sku": 1}, "sku"),
        ({"sku": "a", "quantity": Decimal("1.0")}, "quantity"),
        ({"sku": "a", "quantity": True}, "quantity"),
        ({"sku": "a", "price": "1.5"}, "price"),
        ({"sku": "a", "tags": ["x", 2]}, "tags.1"),
        ({"quantity": 1}, "(record)"),
    ],
)
def test_both_validators_reject_the_same_bad_records_naming_the_field(record, field):
    for validator in (CompiledValidator(SCHEMAS[0]), FallbackValidator(SCHEMAS[0])):
        with pytest.raises(SchemaViolationError) as caught:
            validator.validate(record)
        assert caught.value.field == field


def test_formats_are_not_checked_and_records_are_not_changed():
    record = {"sku": "a", "updated_at": "not a date"}
    CompiledValidator(
        {**SCHEMAS[0], "properties": {**SCHEMAS[0]["properties"], "x": {"default": 1}}}
    ).validate(record)
    assert record == {"sku": "a", "updated_at": "not a date"}


def test_a_schema_fastjsonschema_cannot_compile_falls_back_to_jsonschema():
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.invalid/s.json"}}}
    assert isinstance(compile_validator(schema), FallbackValidator)


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"a": {"type": "string", "pattern": "(["}}, "'([' is not a 'regex' (at $.properties.a"),
        ({"a": {"patternProperties": {"[": {}}}}, "'[' is not a 'regex'"),
        ({"a": {"type": "text"}}, "'text' is not valid under any of the given schemas"),
    ],
)
def test_an_invalid_schema_is_refused_naming_the_place(properties, reason):
    with pytest.raises(InvalidSchemaError, match=re.escape(reason)):
        compile_validator({"type": "object", "properties": properties})


def test_messages_quote_little_of_a_huge_value():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    for validator in (CompiledValidator(schema), FallbackValidator(schema)):
        with pytest.raises(SchemaViolationError) as caught:
            validator.validate({"a": "\x00" * 10**6})
        assert len(caught.value.rule) < 1000
        assert "\x00" not in caught.value.rule
