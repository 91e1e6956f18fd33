"""Request body rules, written from the API guides (independently of the target's mapper).

Sources: kibo-uc-inventory-refresh.txt and kibo-uc-inventory-adjust.txt, with the limits of
Kibo's OpenAPI spec (refresh at most 12000 items, adjust at most 1000). Adjust quantities
may be negative (the guide's decrements), whatever its parameter table says.
"""

from __future__ import annotations

import re
from typing import Any

REFRESH_LIMIT = 12000
ADJUST_LIMIT = 1000
ATTRIBUTE_LIMIT = 63
LOCATOR_NAME_LIMIT = 50
IDENTIFIERS = ("partNumber", "upc", "sku")
_DIGITS = re.compile(r"-?\d+")

_STRING = "string"
_INTEGER = "integer"
_NUMBER = "number"
_STRINGS = "array of strings"

ITEM_FIELDS = {
    "refresh": {
        "partNumber": _STRING,
        "upc": _STRING,
        "sku": _STRING,
        "binID": _INTEGER,
        "quantity": _INTEGER,
        "ltd": _NUMBER,
        "floor": _INTEGER,
        "safetyStock": _INTEGER,
        "currencyID": _INTEGER,
        "retailPrice": _NUMBER,
        "inventoryLocatorName": _STRING,
        "attributes": _STRINGS,
    },
    "adjust": {
        "partNumber": _STRING,
        "upc": _STRING,
        "sku": _STRING,
        "binID": _INTEGER,
        "quantity": _INTEGER,
        "inventoryLocatorName": _STRING,
    },
}


class BadRequestError(ValueError):
    """The body breaks a documented rule; the message names the item index and field."""


def _is_integer(value: Any) -> bool:
    # The guide's own example sends "quantity": "101", so digit strings pass as integers.
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and _DIGITS.fullmatch(value) is not None
    )


def _has_type(value: Any, kind: str) -> bool:
    if kind == _STRING:
        return isinstance(value, str)
    if kind == _INTEGER:
        return _is_integer(value)
    if kind == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def check_body(operation: str, body: Any) -> tuple[str, list[dict[str, Any]]]:
    """Return (locationName, items) of a valid body; raise BadRequestError otherwise."""
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    location = body.get("locationName")
    if not isinstance(location, str) or len(location) < 1:
        raise BadRequestError("locationName: required, a string of at least 1 character")
    items = body.get("items")
    if not isinstance(items, list):
        raise BadRequestError("items: required, an array of items")
    limit = REFRESH_LIMIT if operation == "refresh" else ADJUST_LIMIT
    if len(items) > limit:
        raise BadRequestError(
            f"items: at most {limit} items per {operation} request; got {len(items)}"
        )
    for index, item in enumerate(items):
        check_item(operation, index, item)
    return location, items


def check_item(operation: str, index: int, item: Any) -> None:
    """Raise BadRequestError naming `items[index].field` when the item breaks a rule."""
    if type(item) is dict and _plain(operation, item):
        return
    _check_fields(operation, f"items[{index}]", item)


def _plain(operation: str, item: dict[str, Any]) -> bool:
    """The common item, {identifier(s), quantity}, checked quickly; False: look closer."""
    quantity = item.get("quantity")
    if type(quantity) is not int or (operation == "refresh" and quantity < 0):
        return False
    identifiers = 0
    for name in IDENTIFIERS:
        value = item.get(name)
        if value is not None:
            if type(value) is not str or not value:
                return False
            identifiers += 1
    return identifiers > 0 and len(item) == identifiers + 1


def _check_fields(operation: str, where: str, item: Any) -> None:
    """Check an item's fields and types, then its required fields, then its limits."""
    _check_types(operation, where, item)
    _check_required(operation, where, item)
    _check_limits(where, item)


def _check_types(operation: str, where: str, item: Any) -> None:
    """An object of this operation's fields, each of its documented type."""
    if not isinstance(item, dict):
        raise BadRequestError(f"{where}: must be an object")
    fields = ITEM_FIELDS[operation]
    for name, value in item.items():
        if name not in fields:
            raise BadRequestError(f"{where}.{name}: not a field of {operation} items")
        if not _has_type(value, fields[name]):
            raise BadRequestError(f"{where}.{name}: must be of type {fields[name]}; got {value!r}")


def _check_required(operation: str, where: str, item: dict[str, Any]) -> None:
    """A quantity (at least 0 in a refresh) and one non-empty identifier."""
    if "quantity" not in item:
        raise BadRequestError(f"{where}.quantity: required")
    if operation == "refresh" and int(item["quantity"]) < 0:
        raise BadRequestError(f"{where}.quantity: the minimum value is 0; got {item['quantity']!r}")
    if not any(name in item for name in IDENTIFIERS):
        raise BadRequestError(f"{where}: one of partNumber, upc or sku is required")
    for name in IDENTIFIERS:
        if name in item and len(item[name]) < 1:
            raise BadRequestError(f"{where}.{name}: the minimum length is 1")


def _check_limits(where: str, item: dict[str, Any]) -> None:
    """The minimum binID (1), and the limits of inventoryLocatorName and attributes."""
    if "binID" in item and int(item["binID"]) < 1:
        raise BadRequestError(f"{where}.binID: the minimum value is 1; got {item['binID']!r}")
    if len(item.get("inventoryLocatorName", "")) > LOCATOR_NAME_LIMIT:
        raise BadRequestError(f"{where}.inventoryLocatorName: the maximum length is 50")
    if len(item.get("attributes", ())) > ATTRIBUTE_LIMIT:
        raise BadRequestError(f"{where}.attributes: at most {ATTRIBUTE_LIMIT} attributes")
