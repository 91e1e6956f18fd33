"""Increff OMS's absolute inventory update, `PUT /usp/inventories/absolute`: auth, rules, answers.

Written from increff-inventory-absolute.txt and increff-api-notes.md: three auth headers, at
most 300 SKUs a request, strings of at most 255 characters, absolute (non-negative) counts,
and errors as `{"code", "message", "description"}`. Two payloads: the current object
`{"locationCode", "products": [{"channelSkuCode", "quantity"}]}` and the older V0 array of
`{"clientId", "clientSkuId", "inventoryPoolId" (optional), "quantity", "fulfillmentLocationId"}`.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.emulator.api import Api, Reply, Request, Route, refuse
from target_kibo_inventory.emulator.rules import BadRequestError

if TYPE_CHECKING:
    from email.message import Message

    from target_kibo_inventory.emulator.faults import Faults
    from target_kibo_inventory.emulator.server import Emulator

FAMILY = "increff"
"""The request log's `destination` of its requests."""
PATH = "/usp/inventories/absolute"
SKU_LIMIT = 300
STRING_LIMIT = 255
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
CODES: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "BAD_DATA",
    HTTPStatus.UNAUTHORIZED: "UNAUTHORIZED",
    HTTPStatus.TOO_MANY_REQUESTS: "TOO_MANY_REQUESTS",
}
"""Error codes by status; BAD_DATA is Increff's, the others (and SERVER_ERROR) are ours."""

_STRING, _INTEGER = "string", "integer"
CURRENT_FIELDS = {"channelSkuCode": (_STRING, True), "quantity": (_INTEGER, True)}
V0_FIELDS = {
    "clientId": (_INTEGER, True),
    "clientSkuId": (_STRING, True),
    "inventoryPoolId": (_INTEGER, False),
    "quantity": (_INTEGER, True),
    "fulfillmentLocationId": (_INTEGER, True),
}
"""Field: (type, required)."""
_TRAILING_DIGITS = re.compile(r"[0-9]+$")


@dataclass(frozen=True)
class IncreffAccount:
    """The credentials Increff gives a client: three headers on every call."""

    username: str = "demo-user"
    password: str = "demo-password"  # noqa: S105  the emulator's documented demo account
    domain: str = "demo"

    def accepts(self, headers: Message) -> bool:
        """Whether authUsername, authPassword and authDomainName match (constant time)."""
        given = (headers.get(h) or "" for h in ("authUsername", "authPassword", "authDomainName"))
        expected = (self.username, self.password, self.domain)
        checks = [
            hmac.compare_digest(g.encode(), e.encode())
            for g, e in zip(given, expected, strict=True)
        ]
        return all(checks)


@dataclass
class Batch:
    """A valid request: its payload style and its (location, sku, quantity, extras) updates."""

    payload: str
    """'current' or 'v0'."""
    updates: list[tuple[str, str, int, dict[str, Any]]]
    location: str | None
    """The batch's one location (None when a V0 batch spans several, or none)."""


def problem(status: int, description: str) -> dict[str, str]:
    """Increff's error body."""
    try:
        bad_data = status == HTTPStatus.BAD_REQUEST
        message = "Input validation failed" if bad_data else HTTPStatus(status).phrase
    except ValueError:  # a status of no name, e.g. a scripted 599
        message = "Error"
    server_error = status >= HTTPStatus.INTERNAL_SERVER_ERROR
    code = CODES.get(status, "SERVER_ERROR" if server_error else "ERROR")
    return {"code": code, "message": message, "description": f"[{description}]"}


def check_body(body: Any) -> Batch:
    """The updates of a valid body of either payload; raise BadRequestError otherwise."""
    if isinstance(body, list):
        _check_list("the body", body)
        for index, entry in enumerate(body):
            _check_object(f"[{index}]", entry, V0_FIELDS)
        updates = [
            (str(e["fulfillmentLocationId"]), e["clientSkuId"], e["quantity"], _extras(e))
            for e in body
        ]
        locations = {update[0] for update in updates}
        return Batch("v0", updates, locations.pop() if len(locations) == 1 else None)
    if not isinstance(body, dict):
        raise BadRequestError("the body must be an object or, for the V0 payload, an array")
    unknown = set(body) - {"locationCode", "products"}
    if unknown:
        raise BadRequestError(f"{sorted(unknown)[0]}: not a field of the request")
    location = _check_string("locationCode", body.get("locationCode"))
    _check_list("products", body.get("products"))
    for index, product in enumerate(body["products"]):
        _check_object(f"products[{index}]", product, CURRENT_FIELDS)
    updates = [(location, p["channelSkuCode"], p["quantity"], {}) for p in body["products"]]
    return Batch("current", updates, location)


def answer(
    batch: Batch, failed: list[str], succeeded: list[str], *, as_example: bool = False
) -> dict[str, list[str]]:
    """The 200 answer of this payload style.

    Each SKU is named as sent (the parameter table: "List of channelSkuCode"), or, `as_example`,
    as the guide's example names it: request `ITEM302`, answer `"302"` (`example_name`).
    """
    if as_example:
        failed, succeeded = [example_name(s) for s in failed], [example_name(s) for s in succeeded]
    if batch.payload == "v0":
        return {"failureSkus": failed, "successSkus": succeeded}
    return {"failureProducts": failed, "successProducts": succeeded}


def example_name(sku: str) -> str:
    """A SKU as the guide's example answers it: its trailing digits (`ITEM302` → `302`).

    A SKU that ends in none is named as sent.
    """
    digits = _TRAILING_DIGITS.search(sku)
    return digits.group() if digits else sku


def _extras(entry: dict[str, Any]) -> dict[str, Any]:
    """What a V0 entry carries beyond SKU, count and location (kept in the stock row)."""
    return {k: entry[k] for k in ("clientId", "inventoryPoolId") if entry.get(k) is not None}


def _check_list(where: str, value: Any) -> None:
    if not isinstance(value, list):
        raise BadRequestError(f"{where}: may not be null; an array is required")
    if len(value) > SKU_LIMIT:
        raise BadRequestError(
            f"{where}: one batch can contain at most {SKU_LIMIT} SKUs; got {len(value)}"
        )


def _check_object(where: str, entry: Any, fields: dict[str, tuple[str, bool]]) -> None:
    if not isinstance(entry, dict):
        raise BadRequestError(f"{where}: must be an object")
    for name in entry:
        if name not in fields:
            raise BadRequestError(f"{where}.{name}: not a field of this payload")
    for name, (kind, required) in fields.items():
        value = entry.get(name)
        if value is None:
            if required:
                raise BadRequestError(f"{where}.{name}: may not be null")
            continue
        _check_value(f"{where}.{name}", value, kind)
    if entry["quantity"] < 0:
        raise BadRequestError(f"{where}.quantity: must be greater than or equal to 0")


def _check_value(where: str, value: Any, kind: str) -> None:
    if kind == _STRING:
        _check_string(where, value)
    elif type(value) is not int or not INT_MIN <= value <= INT_MAX:
        raise BadRequestError(f"{where}: must be a 32-bit integer; got {value!r}")


def _check_string(where: str, value: Any) -> str:
    """The value, when it is a non-empty string of at most STRING_LIMIT characters."""
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"{where}: may not be null or empty; a string is required")
    if len(value) > STRING_LIMIT:
        raise BadRequestError(f"{where}: size must be at most {STRING_LIMIT}")
    return value


class Increff(Api):
    """The absolute inventory update: the three headers, either payload, answered SKU by SKU."""

    def route(self, method: str, path: str) -> tuple[Route, str | None] | None:
        """`PUT /usp/inventories/absolute`."""
        return (Route(self, FAMILY, "absolute"), None) if (method, path) == ("PUT", PATH) else None

    def error(self, destination: str, status: int, message: str, title: str | None) -> Any:
        """Increff's `{code, message, description}`."""
        return problem(status, message)

    def authenticate(
        self, emulator: Emulator, route: Route, headers: Message, entry: dict[str, Any]
    ) -> Reply | None:
        """None when the three headers match the account, else the refusal."""
        entry.update(domain=headers.get("authDomainName"), username=headers.get("authUsername"))
        if emulator.increff.accepts(headers):
            entry["auth"] = FAMILY
            return None
        message = "invalid or missing authUsername, authPassword or authDomainName"
        return refuse(route, HTTPStatus.UNAUTHORIZED, message)

    def write(
        self,
        emulator: Emulator,
        route: Route,
        request: Request,
        body: Any,
        entry: dict[str, Any],
        faults: Faults,
    ) -> Reply:
        """Set every SKU's count at once, except those the faults reject."""
        batch = check_body(body)
        prefix = faults.increff_reject_sku_prefix
        failed, succeeded, applied = [], [], []
        for location, sku, quantity, extras in batch.updates:
            if prefix and sku.startswith(prefix):
                failed.append(sku)
            else:
                succeeded.append(sku)
                applied.append((location, {"sku": sku, "quantity": quantity, **extras}))
        emulator.store.set_stock(applied)
        entry.update(
            locationName=batch.location,
            items=len(batch.updates),
            payload=batch.payload,
            rejected=failed,
        )
        as_example = emulator.options.increff_example_answers
        return Reply(HTTPStatus.OK, answer(batch, failed, succeeded, as_example=as_example))


API = Increff()
