"""Increff OMS: absolute inventory, `PUT /usp/inventories/absolute`, answered SKU by SKU.

Sources: increff-inventory-absolute.txt (the endpoint, both payloads, 300 SKUs a request) and
increff-api-notes.md (auth headers, the error body, retrying 500s, 255-character strings).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

from target_kibo_inventory import rules
from target_kibo_inventory.auth import HeaderAuth
from target_kibo_inventory.destinations.base import (
    Answer,
    AnswerError,
    FailedItem,
    FieldRule,
    HttpRequest,
    ItemRules,
    JobStatus,
    identity_by,
    merge_json,
)
from target_kibo_inventory.limits import INCREFF_MAX_TEXT_LENGTH, INT32_MAX
from target_kibo_inventory.settings import SettingsError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import requests

    from target_kibo_inventory.settings import Settings

PATH = "/usp/inventories/absolute"
SKU_SOURCES = ("sku", "partNumber", "upc")
"""Where the SKU code is read when the record has no channelSkuCode (clientSkuId for V0)."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _text(value: Any) -> str:
    return rules.text_of_at_most(value, INCREFF_MAX_TEXT_LENGTH)


def _location(value: Any) -> str:
    return _text(rules.location(value))


def _integer_location(value: Any) -> str:
    """A V0 location: an integer fulfillmentLocationId, kept as its decimal text."""
    return str(rules.non_negative_integer(value))


PRODUCTS = ItemRules(
    fields=(
        FieldRule("channelSkuCode", _text, fallbacks=SKU_SOURCES),
        FieldRule("quantity", rules.count),
    ),
    identifiers=("channelSkuCode",),
    location=FieldRule("locationCode", _location, fallbacks=("locationName",)),
)
V0 = ItemRules(
    fields=(
        FieldRule("clientSkuId", _text, fallbacks=("channelSkuCode", *SKU_SOURCES)),
        FieldRule("quantity", rules.count),
        FieldRule("inventoryPoolId", rules.non_negative_integer),
    ),
    identifiers=("clientSkuId",),
    location=FieldRule(
        "fulfillmentLocationId", _integer_location, fallbacks=("locationCode", "locationName")
    ),
)


class Increff:
    """Increff's absolute inventory update; its answer lists the SKUs that failed."""

    name = "increff"
    operations: tuple[str, ...] = ("refresh",)
    location_key = "locationCode"

    def __init__(self, settings: Settings) -> None:
        settings.require(
            self.name,
            "base_url",
            "increff_auth_username",
            "increff_auth_password",
            "increff_auth_domain",
        )
        if "adjust" in settings.operations:
            raise SettingsError(
                "Increff takes absolute counts only: operation 'adjust' (in `operation` or "
                "`stream_operations`) cannot be sent to destination 'increff'."
            )
        self.v0 = settings.increff_payload == "v0"
        if self.v0:
            settings.require(self.name, "increff_client_id")
        self.client_id = settings.increff_client_id
        self._identity = identity_by(
            ("clientSkuId", "inventoryPoolId") if self.v0 else ("channelSkuCode",)
        )
        self.url = str(settings.base_url).rstrip("/") + PATH
        self.size = settings.increff_batch_items
        self.username = str(settings.increff_auth_username)
        self.domain = str(settings.increff_auth_domain)
        self._auth = HeaderAuth(
            {
                "authUsername": self.username,
                "authPassword": str(settings.increff_auth_password),
                "authDomainName": self.domain,
            }
        )

    def items(self, operation: str) -> ItemRules:
        """A SKU code and an absolute quantity (and, for V0, an optional inventory pool)."""
        return V0 if self.v0 else PRODUCTS

    def full_size(self, operation: str) -> int:
        """`increff_batch_items` (at most 300)."""
        return self.size

    def cost_step(self, operation: str) -> int:
        """Increff costs requests, not items."""
        return self.size

    def identity(self, item: Mapping[str, Any]) -> bytes:
        """One SKU of the location: channelSkuCode (V0: clientSkuId in its inventory pool)."""
        return self._identity(item)

    merge = staticmethod(merge_json)

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        """Absolute counts from 0."""
        return (0, INT32_MAX)

    def encode_item(self, location: str, item: Mapping[str, Any]) -> bytes:
        """A product, or for V0 a whole inventory line with the client and location."""
        if not self.v0:
            return _encode(item)
        return _encode({"clientId": self.client_id, **item, "fulfillmentLocationId": int(location)})

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        """PUT `{"locationCode", "products": [...]}`, or for V0 the array of lines."""
        if self.v0:
            return HttpRequest("PUT", self.url, b"".join((b"[", *items, b"]")))
        head = b'{"locationCode":' + _encode(location) + b',"products":['
        return HttpRequest("PUT", self.url, b"".join((head, *items, b"]}")))

    def headers(self) -> dict[str, str]:
        """No headers beyond the credentials."""
        return {}

    def auth(self) -> HeaderAuth:
        """authUsername, authPassword and authDomainName headers."""
        return self._auth

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        """Every SKU listed as a failure, and every SKU sent but named in neither list, failed."""
        try:
            answer = json.loads(content)
        except ValueError:
            raise AnswerError("the answer is not JSON") from None
        failures_key, successes_key = (
            ("failureSkus", "successSkus") if self.v0 else ("failureProducts", "successProducts")
        )
        if not isinstance(answer, dict) or (
            failures_key not in answer and successes_key not in answer
        ):
            raise AnswerError(f"the answer has neither {failures_key} nor {successes_key}")
        failures = {_sku(entry) for entry in answer.get(failures_key) or ()}
        successes = {_sku(entry) for entry in answer.get(successes_key) or ()}
        key = self.items(operation).identifiers[0]
        sent = _decode(b"".join((b"[", *items, b"]")))
        failed = [
            FailedItem(str(item[key]), item, _reason(str(item[key]), failures, failures_key), i)
            for i, item in enumerate(sent)
            if str(item[key]) in failures or str(item[key]) not in successes
        ]
        return Answer(failed=failed, succeeded=len(sent) - len(failed))

    def error_message(self, response: requests.Response) -> str:
        """Increff's error body: `code: message description`."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and (body.get("message") or body.get("code")):
            parts = (body.get("code"), body.get("message"), body.get("description"))
            return " ".join(str(p) for p in parts if p)
        return response.text or response.reason or ""

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """Increff refused the credential headers."""
        return (
            f"Increff refused the credentials (HTTP {status}) for {what}: authUsername "
            f"'{self.username}', authDomainName '{self.domain}' and the configured "
            f"increff_auth_password were not accepted. Server said: {server_says}"
        )

    def job_url(self, job_id: int | str) -> None:
        """No job queue: Increff answers SKU by SKU."""

    def jobs_url(
        self, location: str | None, *, types: Sequence[str] = (), limit: int = 100
    ) -> None:
        """No job queue."""

    def read_jobs(self, content: bytes) -> list[JobStatus]:
        """Never called: there is no job queue."""
        raise AnswerError("Increff has no job queue")


def _sku(entry: Any) -> str:
    """A SKU of an answer's list: a string, or an object naming one."""
    if isinstance(entry, dict):
        return str(entry.get("channelSkuCode") or entry.get("clientSkuId") or entry)
    return str(entry)


def _reason(sku: str, failures: set[str], failures_key: str) -> str:
    if sku in failures:
        return f"Increff listed it in {failures_key}"
    return "Increff named it in neither its successes nor its failures"
