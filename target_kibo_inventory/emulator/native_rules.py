"""Body rules of Kibo's native (Unified Commerce) refresh and adjust, from its OpenAPI spec.

Source: kibo-openapi-inventory.json: RefreshRequest and AdjustRequest (items plus BaseRequest:
locationCode, userID, pageSize, pageNum, sortBy), RefreshItem and AdjustItem, at most 12000
refresh and 1000 adjust items (the operations' descriptions). Types are the spec's, strictly
(an integer is a JSON integer). Beyond the spec, as the API guides say: one of partNumber, upc
or sku, and quantity, are required (strings of at least 1 character), binID is at least 1, a
refresh quantity at least 0, inventoryLocatorName at most 50 characters, at most 63
attributes. locationCode and items are required for both operations (the spec marks only
locationCode of a refresh; a job needs both). Unknown fields are refused.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.emulator.rules import (
    ADJUST_LIMIT,
    ATTRIBUTE_LIMIT,
    IDENTIFIERS,
    LOCATOR_NAME_LIMIT,
    REFRESH_LIMIT,
    BadRequestError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

_DATE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)")


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return type(value) is int


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _tags(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _date_time(value: Any) -> bool:
    """An ISO 8601 date-time with an offset, e.g. the spec's '2020-09-28T12:00:00-0500'."""
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    try:
        datetime.fromisoformat(match.group(1))
    except ValueError:
        return False
    return True


_KINDS: dict[Callable[[Any], bool], str] = {
    _string: "a string",
    _integer: "an integer",
    _number: "a number",
    _strings: "an array of strings",
    _tags: "an object of strings (tagCategoryName: tagName)",
    _date_time: "a date-time string with an offset, e.g. 2020-09-28T12:00:00-0500",
}
REQUEST_FIELDS = {
    "locationCode": _string,
    "items": None,
    "userID": _integer,
    "pageSize": _integer,
    "pageNum": _integer,
    "sortBy": _string,
}
ADJUST_ITEM = {
    "partNumber": _string,
    "upc": _string,
    "sku": _string,
    "binID": _integer,
    "quantity": _integer,
    "tags": _tags,
    "deliveryDate": _date_time,
    "externalID": _string,
    "lotCode": _string,
    "condition": _string,
    "serialNumber": _string,
    "date": _date_time,
}
REFRESH_ITEM = {
    **ADJUST_ITEM,
    "LTD": _number,
    "floor": _integer,
    "safetyStock": _integer,
    "retailPrice": _number,
    "currencyID": _integer,
    "inventoryLocatorName": _string,
    "attributes": _strings,
}
ITEMS = {"refresh": ("RefreshItem", REFRESH_ITEM), "adjust": ("AdjustItem", ADJUST_ITEM)}


def check_body(operation: str, body: Any) -> tuple[str, list[dict[str, Any]]]:
    """Return (locationCode, items) of a valid body; raise BadRequestError otherwise."""
    request = "RefreshRequest" if operation == "refresh" else "AdjustRequest"
    if not isinstance(body, dict):
        raise BadRequestError(f"the body must be a JSON object ({request})")
    for name, value in body.items():
        if name not in REQUEST_FIELDS:
            raise BadRequestError(f"{name}: not a field of {request}")
        check = REQUEST_FIELDS[name]
        if check is not None and not check(value):
            raise BadRequestError(f"{name}: must be {_KINDS[check]}; got {value!r}")
    location = body.get("locationCode")
    if not location:
        raise BadRequestError("locationCode: required, a string of at least 1 character")
    items = body.get("items")
    if not isinstance(items, list):
        raise BadRequestError(f"items: required, an array of {ITEMS[operation][0]}")
    limit = REFRESH_LIMIT if operation == "refresh" else ADJUST_LIMIT
    if len(items) > limit:
        raise BadRequestError(
            f"items: at most {limit} items per {operation} request; got {len(items)}"
        )
    for index, item in enumerate(items):
        check_item(operation, f"items[{index}]", item)
    return location, items


def check_item(operation: str, where: str, item: Any) -> None:
    """Raise BadRequestError naming `items[i].field` when the item breaks a rule."""
    _check_types(operation, where, item)
    _check_required(operation, where, item)
    _check_limits(where, item)


def _check_types(operation: str, where: str, item: Any) -> None:
    """An object of the spec's item fields, each of the spec's type."""
    title, fields = ITEMS[operation]
    if not isinstance(item, dict):
        raise BadRequestError(f"{where}: must be an object ({title})")
    for name, value in item.items():
        check = fields.get(name)
        if check is None:
            raise BadRequestError(f"{where}.{name}: not a field of {title}{_hint(name, fields)}")
        if not check(value):
            raise BadRequestError(f"{where}.{name}: must be {_KINDS[check]}; got {value!r}")


def _check_required(operation: str, where: str, item: dict[str, Any]) -> None:
    """A quantity (at least 0 in a refresh) and one non-empty identifier, as the guides say."""
    if "quantity" not in item:
        raise BadRequestError(f"{where}.quantity: required")
    if operation == "refresh" and item["quantity"] < 0:
        raise BadRequestError(f"{where}.quantity: the minimum value is 0; got {item['quantity']}")
    if not any(name in item for name in IDENTIFIERS):
        raise BadRequestError(f"{where}: one of partNumber, upc or sku is required")
    for name in IDENTIFIERS:
        if item.get(name) == "":
            raise BadRequestError(f"{where}.{name}: the minimum length is 1")


def _check_limits(where: str, item: dict[str, Any]) -> None:
    """The minimum binID (1), and the guides' limits of inventoryLocatorName and attributes."""
    if item.get("binID", 1) < 1:
        raise BadRequestError(f"{where}.binID: the minimum value is 1; got {item['binID']}")
    if len(item.get("inventoryLocatorName", "")) > LOCATOR_NAME_LIMIT:
        raise BadRequestError(f"{where}.inventoryLocatorName: the maximum length is 50")
    if len(item.get("attributes", ())) > ATTRIBUTE_LIMIT:
        raise BadRequestError(f"{where}.attributes: at most {ATTRIBUTE_LIMIT} attributes")


def _hint(name: str, fields: dict[str, Any]) -> str:
    """' (did you mean LTD?)' when only the case differs from a field."""
    same = [field for field in fields if field.lower() == name.lower()]
    return f" (did you mean {same[0]}?)" if same else ""
