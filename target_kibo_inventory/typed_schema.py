"""A stream's JSON schema as a msgspec type: records decoded and checked in one pass, in C.

`typed_records(schema)` gives a `msgspec.Struct` type whose decoding accepts a record only where
the stream's JSON schema does, or None where the schema uses what such a type cannot express
exactly. The type may be stricter than the schema (a record with a property the schema does
not declare, a number written `1.0` for an integer): such a record is then checked on the
general path, which gives the same answer and the same message as always. It is never more
lenient: `tests/test_typed_schema.py` checks that against `jsonschema` and the target's own
validator on random schemas and records.

Properties that may hold numbers other than integers stay raw JSON (`msgspec.Raw`) and are
checked here exactly, as `Decimal` (as the general path reads them), so that no float rounding
accepts a value the schema refuses or changes a value that is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import msgspec

if TYPE_CHECKING:
    from collections.abc import Callable

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "format",  # formats are not checked (as with the SDK's validator)
        "$comment",
        "$schema",
        "$id",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentMediaType",
        "contentEncoding",
    }
)
"""Keywords that constrain nothing: ignored."""
_SIMPLE: dict[str, Any] = {"string": str, "integer": int, "boolean": bool, "null": None}
decode_number = msgspec.json.Decoder(float_hook=Decimal).decode
"""A raw JSON number as the general path reads it: an int, or a Decimal."""


class UnsupportedSchemaError(ValueError):
    """The schema uses something a msgspec type cannot express exactly."""


@dataclass(frozen=True)
class TypedRecords:
    """The Struct of a stream's records, and the checks of its raw number properties."""

    struct: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    attributes: dict[str, str]
    """Property name → the Struct's attribute holding it."""
    numbers: dict[str, Callable[[msgspec.Raw], bool]]
    """Attribute → whether its raw JSON value is allowed (a missing property is None)."""


def typed_records(schema: Any) -> TypedRecords | None:
    """The typed records of a stream's schema, or None when the schema cannot be a Struct."""
    numbers: dict[str, Callable[[msgspec.Raw], bool]] = {}
    try:
        struct = _object(schema, "Record", numbers)
        decoder = msgspec.json.Decoder(struct)
    except (ValueError, TypeError, re.error):  # unsupported, or msgspec refused the type
        return None
    attributes = {f.encode_name: f.name for f in msgspec.structs.fields(struct)}
    return TypedRecords(struct, decoder, attributes, numbers)


def _keywords(schema: dict[str, Any], allowed: set[str]) -> None:
    extra = {
        k for k in schema if k not in allowed and k not in ANNOTATIONS and not k.startswith("x-")
    }
    if extra:
        raise UnsupportedSchemaError(", ".join(sorted(extra)))


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise UnsupportedSchemaError("type")
    if set(kinds) - {"string", "integer", "number", "boolean", "null", "array", "object"}:
        raise UnsupportedSchemaError("type")
    return set(kinds)


def _object(
    schema: Any, name: str, numbers: dict[str, Callable[[msgspec.Raw], bool]] | None
) -> type[msgspec.Struct]:
    """A Struct for an object schema with properties (an undeclared property is refused).

    `numbers` collects the checks of raw number properties; None where they cannot be (nested).
    """
    if not isinstance(schema, dict):
        raise UnsupportedSchemaError("schema")
    _keywords(schema, {"type", "properties", "required", "additionalProperties"})
    if _types(schema) != {"object"} or not isinstance(schema.get("properties"), dict):
        raise UnsupportedSchemaError("object")
    if schema.get("additionalProperties", True) not in (True, False):
        raise UnsupportedSchemaError("additionalProperties")
    required = schema.get("required", [])
    properties: dict[str, Any] = schema["properties"]
    if not isinstance(required, list) or not set(required) <= set(properties):
        raise UnsupportedSchemaError("required")
    fields: list[tuple[Any, ...]] = []
    for index, (prop, sub) in enumerate(properties.items()):
        attribute = f"f{index}"
        kind = _value(sub, f"{name}_{index}")
        if kind is msgspec.Raw:
            if numbers is None:
                raise UnsupportedSchemaError("nested number")
            numbers[attribute] = _number_check(sub)
        default = msgspec.NODEFAULT if prop in required else None
        fields.append((attribute, kind, msgspec.field(default=default, name=prop)))
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, kw_only=True)


def _value(schema: Any, name: str) -> Any:
    """The msgspec type of one property's schema."""
    if not isinstance(schema, dict):
        raise UnsupportedSchemaError("property")
    if "enum" in schema or "const" in schema:
        return _literal(schema)
    kinds = _types(schema)
    if "number" in kinds:
        if kinds - {"number", "integer", "null"}:
            raise UnsupportedSchemaError("number with other types")
        _keywords(schema, {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
        return msgspec.Raw
    _keywords(schema, _allowed(kinds))
    options = [_typed(kind, schema, f"{name}_{kind}") for kind in sorted(kinds)]
    return options[0] if len(options) == 1 else Union[tuple(options)]  # noqa: UP007


def _allowed(kinds: set[str]) -> set[str]:
    allowed = {"type"}
    if "string" in kinds:
        allowed |= {"minLength", "maxLength", "pattern"}
    if "integer" in kinds:
        allowed |= {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
    if "array" in kinds:
        allowed |= {"items", "minItems", "maxItems"}
    if "object" in kinds:
        allowed |= {"properties", "required", "additionalProperties"}
    return allowed


def _typed(kind: str, schema: dict[str, Any], name: str) -> Any:
    if kind == "string":
        return _constrained(str, _string_meta(schema))
    if kind == "integer":
        return _constrained(int, _integer_bounds(schema))
    if kind == "array":
        return _array(schema, name)
    if kind == "object":
        if "properties" in schema:
            return _object({**schema, "type": "object"}, name, None)
        if schema.get("additionalProperties", True) is not True:
            raise UnsupportedSchemaError("additionalProperties")
        return dict[str, Any]
    return _SIMPLE[kind]


def _constrained(kind: Any, meta: dict[str, Any]) -> Any:
    return Annotated[kind, msgspec.Meta(**meta)] if meta else kind


def _count(schema: dict[str, Any], keyword: str) -> int:
    value = schema[keyword]
    if type(value) is not int or value < 0:
        raise UnsupportedSchemaError(keyword)
    return value


def _string_meta(schema: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        key: _count(schema, keyword)
        for keyword, key in (("minLength", "min_length"), ("maxLength", "max_length"))
        if keyword in schema
    }
    if "pattern" in schema:
        pattern = schema["pattern"]
        if not isinstance(pattern, str):
            raise UnsupportedSchemaError("pattern")
        re.compile(pattern)
        meta["pattern"] = pattern
    return meta


BOUNDS = (
    ("minimum", "ge"),
    ("maximum", "le"),
    ("exclusiveMinimum", "gt"),
    ("exclusiveMaximum", "lt"),
)


def _integer_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    meta = {}
    for keyword, key in BOUNDS:
        if keyword in schema:
            if type(schema[keyword]) is not int:
                raise UnsupportedSchemaError(keyword)  # a float bound: the general path checks it
            meta[key] = schema[keyword]
    return meta


def _array(schema: dict[str, Any], name: str) -> Any:
    items = schema.get("items", {})
    if not isinstance(items, dict):
        raise UnsupportedSchemaError("items")
    element = Any if items == {} else _value(items, f"{name}_item")
    if element is msgspec.Raw:
        raise UnsupportedSchemaError("array of numbers")
    meta = {
        key: _count(schema, keyword)
        for keyword, key in (("minItems", "min_length"), ("maxItems", "max_length"))
        if keyword in schema
    }
    return _constrained(list[element], meta)  # type: ignore[valid-type]


def _literal(schema: dict[str, Any]) -> Any:
    _keywords(schema, {"enum", "const"})
    values = schema["enum"] if "enum" in schema else [schema["const"]]
    if not isinstance(values, list) or not values:
        raise UnsupportedSchemaError("enum")
    if not (all(type(v) is str for v in values) or all(type(v) is int for v in values)):
        raise UnsupportedSchemaError("enum values")
    return Literal[tuple(values)]


def _number_check(schema: dict[str, Any]) -> Callable[[msgspec.Raw], bool]:
    """Whether a raw JSON value is allowed by a number property's schema, exactly."""
    kinds = _types(schema)
    nullable = "null" in kinds
    integer_only = "number" not in kinds
    bounds: list[tuple[str, int | Decimal]] = []
    for keyword, _ in BOUNDS:
        if keyword in schema:
            bound = schema[keyword]
            if type(bound) not in (int, float):
                raise UnsupportedSchemaError(keyword)
            bounds.append((keyword, Decimal(bound)))  # a float bound exactly, as Python compares

    def allowed(raw: msgspec.Raw) -> bool:
        try:
            value = decode_number(raw)
        except (ValueError, ArithmeticError):  # msgspec's errors are ValueErrors
            return False
        if value is None:
            return nullable
        if type(value) is not int and (integer_only or type(value) is not Decimal):
            return False
        return all(_within(value, keyword, bound) for keyword, bound in bounds)

    return allowed


def _within(value: int | Decimal, keyword: str, bound: int | Decimal) -> bool:
    if keyword == "minimum":
        return value >= bound
    if keyword == "maximum":
        return value <= bound
    if keyword == "exclusiveMinimum":
        return value > bound
    return value < bound
