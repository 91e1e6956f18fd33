"""Mapping of records onto inventory items: field lookup, coercion and the documented rules."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from singer_sdk.exceptions import MissingKeyPropertiesError

from target_kibo_inventory.limits import (
    INT32_MAX,
    INT32_MIN,
    MAX_ATTRIBUTES,
    MAX_LOCATOR_NAME_LENGTH,
    MIN_BIN_ID,
)

IDENTIFIER_FIELDS = ("partNumber", "upc", "sku")
ADJUST_FIELDS = (*IDENTIFIER_FIELDS, "quantity", "binID", "inventoryLocatorName")
REFRESH_FIELDS = (
    *IDENTIFIER_FIELDS,
    "quantity",
    "binID",
    "ltd",
    "floor",
    "safetyStock",
    "currencyID",
    "retailPrice",
    "inventoryLocatorName",
    "attributes",
)
LOCATION_FIELD = "locationName"

QUOTE_LIMIT = 500
"""Most characters of a value or a line that a message quotes."""
MAX_NUMBER_TEXT = 100
"""Longest numeric string read (digits, sign, point and exponent), after stripping spaces."""
MAX_EXPONENT = 1000
"""Largest exponent (either sign) of a numeric string, as in '1e1000'."""
MAX_FLOAT = sys.float_info.max
"""Largest magnitude of ltd and retailPrice: JSON numbers are read as doubles."""
INT32_NOTE = " (Kibo's integers are 32-bit)"
REFRESH_NOTE = " for refresh (an absolute count)"
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE](?P<exponent>[+-]?[0-9]+))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def quote(value: Any) -> str:
    """A value from the input as repr shows it (control characters escaped), cut after
    QUOTE_LIMIT characters with a note of its full length."""
    if isinstance(value, str):
        return _cut(repr(value[:QUOTE_LIMIT]), len(value))
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
    return _cut(text, len(text))


def clip(name: object) -> str:
    """A name or text from the input, for a message: escaped and cut like `quote`."""
    text = str(name)
    shown = text[:QUOTE_LIMIT]
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return _cut(shown, len(text))


def _cut(shown: str, length: int) -> str:
    """The shown start of a text of this length, cut after QUOTE_LIMIT characters."""
    if len(shown) <= QUOTE_LIMIT and length <= QUOTE_LIMIT:
        return shown
    return f"{shown[:QUOTE_LIMIT]}… ({length} characters)"


class RuleError(ValueError):
    """A value breaks a rule of its field; the message states the rule."""


class InvalidRecordError(ValueError):
    """A record cannot become an inventory item; names the stream, record, field and rule."""

    def __init__(
        self,
        stream: str,
        position: int,
        identifier: str | None,
        field: str,
        rule: str,
        record_property: str | None = None,
    ) -> None:
        self.stream = stream
        self.position = position
        self.identifier = identifier
        self.field = field
        self.rule = rule
        ident = f" ({identifier})" if identifier else ""
        prop = f" (record property '{clip(record_property)}')" if record_property else ""
        super().__init__(
            f"Invalid record in stream '{clip(stream)}', record #{position}{ident}: "
            f"field '{clip(field)}'{prop} {rule}"
        )


class MissingKeyPropertyError(InvalidRecordError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties (the SDK's error type, too)."""


def snake_case(name: str) -> str:
    """`safetyStock` → `safety_stock`, `binID` → `bin_id`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _parse(value: Any, noun: str) -> int | float | Decimal:
    """A JSON number, or a numeric string of ASCII digits within MAX_NUMBER_TEXT characters
    and MAX_EXPONENT, as a number (not yet checked to be finite or in range)."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            rule = f"of at most {MAX_NUMBER_TEXT} characters"
            raise RuleError(f"must be {noun} {rule}; got {quote(value)}")
        match = _NUMERIC.fullmatch(text)
        if match is None:
            raise RuleError(f"must be {noun}; got {quote(value)}")
        exponent = match["exponent"]
        if exponent and abs(int(exponent)) > MAX_EXPONENT:
            rule = f"with an exponent within ±{MAX_EXPONENT}"
            raise RuleError(f"must be {noun} {rule}; got {quote(value)}")
        return Decimal(text)
    if not _is_number(value) or _is_nan(value):
        raise RuleError(f"must be {noun}; got {quote(value)}")
    return value


def _is_nan(value: float | Decimal) -> bool:
    return value.is_nan() if isinstance(value, Decimal) else value != value


def _integer_in(value: Any, low: int, low_note: str = INT32_NOTE) -> int:
    """An integer from low to INT32_MAX, from an int, an integral float or Decimal, or a
    numeric string like '101' or '101.0'; compared before converted, so '1e999' is quick."""
    if type(value) is str and value.isdigit() and value.isascii() and len(value) <= 10:
        number: int | float | Decimal = int(value)
        if low <= number <= INT32_MAX:
            return number
    else:
        number = _parse(value, "an integer")
    if number < low:
        raise RuleError(f"must be an integer ≥ {low}{low_note}; got {quote(value)}")
    if number > INT32_MAX:
        raise RuleError(f"must be an integer ≤ {INT32_MAX}{INT32_NOTE}; got {quote(value)}")
    integer = int(number)
    if integer != number:
        raise RuleError(f"must be an integer; got {quote(value)}")
    return integer


def to_integer(value: Any) -> int:
    """A 32-bit integer, from an int, an integral float or a numeric string like '101.0'."""
    if type(value) is int and INT32_MIN <= value <= INT32_MAX:
        return value
    return _integer_in(value, INT32_MIN)


def to_number(value: Any) -> float | int:
    """A finite number a double can hold, from a JSON number or a numeric string."""
    number = _parse(value, "a number")
    if type(number) is int:
        finite = -MAX_FLOAT <= number <= MAX_FLOAT
    else:
        number = float(number)
        finite = math.isfinite(number)
    if not finite:
        raise RuleError(f"must be a finite number within ±{MAX_FLOAT}; got {quote(value)}")
    return number


def to_text(value: Any) -> str:
    """A non-empty string; numbers are turned into their decimal text."""
    if type(value) is str and value and not value.isspace():
        return value
    if _is_number(value):
        return _number_text(value)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"must be a non-empty string; got {quote(value)}")
    return value


def _number_text(value: int | float | Decimal) -> str:
    """A number's decimal text, integral ones without a fraction (12.0 → '12')."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite() or number.adjusted() >= MAX_NUMBER_TEXT:
        rule = f"must be a non-empty string, or a number of at most {MAX_NUMBER_TEXT} digits"
        raise RuleError(f"{rule}; got {quote(value)}")
    integral = number.to_integral_value()
    return str(int(integral)) if integral == number else str(value)


def _bin_id(value: Any) -> int:
    if type(value) is int and MIN_BIN_ID <= value <= INT32_MAX:
        return value
    return _integer_in(value, MIN_BIN_ID, "")


def _locator_name(value: Any) -> str:
    text = to_text(value)
    if len(text) > MAX_LOCATOR_NAME_LENGTH:
        raise RuleError(f"must be at most {MAX_LOCATOR_NAME_LENGTH} characters; got {len(text)}")
    return text


def _location_name(value: Any) -> str:
    """A location: it names requests in the log, so it holds no control characters."""
    text = to_text(value)
    if _CONTROL.search(text):
        raise RuleError(f"must not contain control characters; got {quote(value)}")
    return text


def _attributes(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"must be a list of strings; got {quote(value)}")
    if len(value) > MAX_ATTRIBUTES:
        raise RuleError(f"must hold at most {MAX_ATTRIBUTES} attributes; got {len(value)}")
    return list(value)


def _refresh_quantity(value: Any) -> int:
    if type(value) is int and 0 <= value <= INT32_MAX:
        return value
    return _integer_in(value, 0, REFRESH_NOTE)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "partNumber": to_text,
    "upc": to_text,
    "sku": to_text,
    "binID": _bin_id,
    "ltd": to_number,
    "floor": to_integer,
    "safetyStock": to_integer,
    "currencyID": to_integer,
    "retailPrice": to_number,
    "inventoryLocatorName": _locator_name,
    "attributes": _attributes,
}


class MappedItem(NamedTuple):
    """One record as an inventory item, with the location it belongs to."""

    location: str
    item: dict[str, Any]


class RecordMapper:
    """Maps the records of one stream onto items; lookups are resolved once per schema."""

    def __init__(
        self,
        stream: str,
        schema: Mapping[str, Any],
        key_properties: Sequence[str],
        operation: str,
        field_map: Mapping[str, str],
        default_location: str | None,
    ) -> None:
        self.stream = stream
        self.operation = operation
        self.key_properties = tuple(key_properties)
        self.default_location = default_location
        properties = schema.get("properties") or {}
        fields = REFRESH_FIELDS if operation == "refresh" else ADJUST_FIELDS
        self.declared = frozenset(properties) if properties else None
        self.location_keys = _lookup(LOCATION_FIELD, field_map, properties)
        self.lookups = self._lookups(fields, field_map, properties)
        self.all_location_keys = _lookup(LOCATION_FIELD, field_map, {})
        self.all_lookups = self._lookups(fields, field_map, {})
        self.ignored = [
            f
            for f in REFRESH_FIELDS
            if f not in fields and (f in field_map or any(k in properties for k in _candidates(f)))
        ]

    def _lookups(
        self, fields: Sequence[str], field_map: Mapping[str, str], properties: Mapping[str, Any]
    ) -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
        return tuple(
            (api_field, key, self._converter(api_field))
            for api_field in fields
            for key in _lookup(api_field, field_map, properties)
        )

    def _converter(self, api_field: str) -> Callable[[Any], Any]:
        if api_field == "quantity":
            return _refresh_quantity if self.operation == "refresh" else to_integer
        return CONVERTERS[api_field]

    def map(self, record: Mapping[str, Any], position: int) -> MappedItem:
        """Turn a record into an item; raise InvalidRecordError naming the broken rule.

        Properties are looked up among those the schema declares, resolved once; a record
        that carries undeclared properties too is looked up among every candidate.
        """
        lookups, location_keys = self.lookups, self.location_keys
        if self.declared is not None and not record.keys() <= self.declared:
            lookups, location_keys = self.all_lookups, self.all_location_keys
        item: dict[str, Any] = {}
        get = record.get
        for api_field, key, convert in lookups:
            value = get(key)
            if value is None or value == "" or api_field in item:
                continue
            try:
                item[api_field] = convert(value)
            except RuleError as error:
                raise self._error(record, position, api_field, key, str(error)) from None
        if "sku" not in item and "partNumber" not in item and "upc" not in item:
            raise self._error(
                record,
                position,
                "partNumber/upc/sku",
                None,
                "is required: at least one of partNumber, upc or sku must be a non-empty string",
            )
        if "quantity" not in item:
            raise self._error(record, position, "quantity", None, "is required")
        return MappedItem(self._location(record, position, location_keys), item)

    def _location(
        self, record: Mapping[str, Any], position: int, location_keys: tuple[str, ...]
    ) -> str:
        key, value = _find(record, location_keys)
        if type(value) is str and value.isprintable() and value and not value.isspace():
            return value
        if value is None or value == "":
            if self.default_location:
                return self.default_location
            raise self._error(
                record,
                position,
                LOCATION_FIELD,
                None,
                "is required: the record has none and the location_name setting is not set",
            )
        try:
            return _location_name(value)
        except RuleError as error:
            raise self._error(record, position, LOCATION_FIELD, key, str(error)) from None

    def _error(
        self,
        record: Mapping[str, Any],
        position: int,
        api_field: str,
        key: str | None,
        rule: str,
    ) -> InvalidRecordError:
        prop = None if key in (None, api_field) else key
        identifier = self.identify(record)
        return InvalidRecordError(self.stream, position, identifier, api_field, rule, prop)

    def identify(self, record: Mapping[str, Any]) -> str | None:
        """The record's key properties, else its item identifiers, as `name=value` text."""
        if not isinstance(record, Mapping):
            return None
        keys = [k for k in self.key_properties if record.get(k) is not None]
        if not keys:
            keys = [
                key
                for api_field, key, _ in self.lookups
                if api_field in IDENTIFIER_FIELDS and record.get(key) not in (None, "")
            ]
        return ", ".join(f"{clip(k)}={quote(record[k])}" for k in keys) or None


def _candidates(api_field: str) -> tuple[str, ...]:
    snake = snake_case(api_field)
    return (api_field,) if snake == api_field else (api_field, snake)


def _lookup(
    api_field: str, field_map: Mapping[str, str], properties: Mapping[str, Any]
) -> tuple[str, ...]:
    """The record properties to read an API field from, in order of preference: the mapped
    one, else the API name and its snake_case form (only those declared, when `properties`
    is given)."""
    if api_field in field_map:
        return (field_map[api_field],)
    candidates = _candidates(api_field)
    if not properties:
        return candidates
    return tuple(c for c in candidates if c in properties)


def _find(record: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    """The first of these properties that holds a value (null and "" hold none)."""
    for key in keys:
        value = record.get(key)
        if value is not None and value != "":
            return key, value
    return None, None
