"""A stream's schema as a msgspec type is never more lenient than the general path.

Random schemas and records go to the typed decoder and to the validator of the general path
(and to `jsonschema`): a record the typed decoder accepts must be one they accept.
"""

from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_kibo_inventory.typed_schema import typed_records
from target_kibo_inventory.validation import SchemaViolationError, compile_validator

_lenient = msgspec.json.Decoder(float_hook=Decimal)

leaf_types = st.sampled_from(["string", "integer", "number", "boolean", "null"])
type_field = st.one_of(leaf_types, st.lists(leaf_types, min_size=1, max_size=3, unique=True))
bounds = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 2)))


@st.composite
def property_schema(draw, depth: int = 0) -> dict:
    kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "enum", "array", "object"][: 6 - depth]))
    if kind == "enum":
        return {"enum": draw(st.lists(st.sampled_from(["a", "b", "c", "1"]), min_size=1))}
    if kind == "array":
        items = draw(st.one_of(st.just({}), property_schema(depth=1)))
        schema = {"type": "array", "items": items}
        if draw(st.booleans()):
            schema["maxItems"] = draw(st.integers(0, 3))
        return schema
    if kind == "object":
        props = draw(st.dictionaries(st.sampled_from("xyz"), property_schema(depth=1), max_size=2))
        return {"type": "object", "properties": props}
    schema: dict = {"type": draw(type_field)}
    types = set([schema["type"]] if isinstance(schema["type"], str) else schema["type"])
    for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if types & {"integer", "number"} and draw(st.integers(0, 3)) == 0:
            schema[keyword] = draw(bounds)
    if "string" in types and draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(0, 4))
    if "string" in types and draw(st.integers(0, 4)) == 0:
        schema["pattern"] = draw(st.sampled_from(["^a", "[0-9]", "x$"]))
    if draw(st.integers(0, 8)) == 0:
        keyword = draw(st.sampled_from(["multipleOf", "uniqueItems", "description"]))
        schema[keyword] = {"multipleOf": 2, "uniqueItems": True, "description": "d"}[keyword]
    return schema


@st.composite
def stream_schema(draw) -> dict:
    properties = draw(
        st.dictionaries(
            st.sampled_from(["sku", "qty", "Store Name", "n", "class"]),
            property_schema(),
            min_size=1,
            max_size=4,
        )
    )
    schema = {"type": "object", "properties": properties}
    if draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(list(properties)), unique=True))
    return schema


values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10),
        st.sampled_from([1.0, 2.5, -0.5, 1e20, 3.0000000000000001, 0.1]),
        st.sampled_from(["", "a", "abc", "xyz", "12", "a1", "ab\u00e9cd"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyzw"), inner, max_size=2)
    ),
    max_leaves=4,
)
records = st.dictionaries(
    st.sampled_from(["sku", "qty", "Store Name", "n", "class", "other"]), values, max_size=5
)


def _general_accepts(schema: dict, line: bytes) -> bool:
    record = _lenient.decode(line)
    try:
        compile_validator(schema).validate(record)
    except SchemaViolationError:
        return False
    return True


def _typed_accepts(typed, line: bytes) -> bool:
    try:
        record = typed.decoder.decode(line)
    except msgspec.ValidationError:
        return False
    return all(
        check(raw)
        for attribute, check in typed.numbers.items()
        if (raw := getattr(record, attribute)) is not None
    )


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(schema=stream_schema(), record=records)
def test_a_record_the_typed_decoder_accepts_the_general_path_accepts(schema, record):
    typed = typed_records(schema)
    if typed is None:
        return
    line = json.dumps(record).encode()
    if _typed_accepts(typed, line):
        assert _general_accepts(schema, line), (schema, record)
        jsonschema.Draft7Validator(schema).validate(json.loads(line, parse_float=Decimal))


def test_common_tap_schemas_are_typed():
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "store": {"type": ["string", "null"], "maxLength": 80},
            "sku": {"type": "string"},
            "qty": {"type": ["integer", "string"]},
            "price": {"type": ["number", "null"], "minimum": 0},
            "moved_at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["id"],
    }
    typed = typed_records(schema)
    assert typed is not None
    line = b'{"id": 1, "store": "S", "sku": "A", "qty": "12", "price": 9.99, "tags": ["x"]}'
    record = typed.decoder.decode(line)
    assert getattr(record, typed.attributes["qty"]) == "12"
    assert typed.numbers[typed.attributes["price"]](getattr(record, typed.attributes["price"]))
    assert not typed.numbers[typed.attributes["price"]](msgspec.Raw(b"-0.01"))


def test_what_a_struct_cannot_express_exactly_is_not_typed():
    for prop in (
        {"anyOf": [{"type": "string"}]},
        {"type": "integer", "multipleOf": 2},
        {"$ref": "#/x"},
    ):
        assert typed_records({"type": "object", "properties": {"a": prop}}) is None
