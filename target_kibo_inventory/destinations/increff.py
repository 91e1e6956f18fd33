"""Increff OMS: absolute inventory, `PUT /usp/inventories/absolute`, answered SKU by SKU.

Sources: increff-inventory-absolute.txt (the endpoint, both payloads, 300 SKUs a request, the
answer's lists) and increff-api-notes.md (auth headers, the error body, retrying 500s,
255-character strings). The guide's parameter table says the answer lists each
channelSkuCode that failed or succeeded, while its own example answers "302" for "ITEM302": so
`failureProducts` alone decides what failed, and SKUs that neither list names as sent are
counted as applied and told in one warning at the end of the run. No job queue: each answer
says what was applied.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from singer_sdk import typing as th

from target_kibo_inventory import rules
from target_kibo_inventory.auth import HeaderAuth
from target_kibo_inventory.destinations.base import (
    Answer,
    DestinationType,
    FailedItem,
    FieldRule,
    HttpRequest,
    ItemRules,
    Words,
    merge_json,
)
from target_kibo_inventory.errors import AnswerError, SettingsError
from target_kibo_inventory.rules import clip
from target_kibo_inventory.settings import DestinationSettings, require, setting

if TYPE_CHECKING:
    from collections.abc import Sequence

    import requests

    from target_kibo_inventory.settings import Settings

PATH = "/usp/inventories/absolute"
MAX_ITEMS = 300
"""Most SKUs in one absolute inventory update (the guide lowered it from 500)."""
MAX_TEXT_LENGTH = 255
"""Longest string Increff takes in a field."""
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
"""The guide's `int` (quantity, clientId, inventoryPoolId, fulfillmentLocationId): 32 bits."""
PAYLOADS = ("products", "v0")
SKU_SOURCES = ("sku", "partNumber", "upc")
"""Where the SKU code is read when the record has no channelSkuCode (clientSkuId for V0)."""
WORDS = Words(
    "Increff",
    operations={"refresh": "inventory update"},
    items="SKUs",
    cost_steps=False,
    jobs=False,
)
"""The guide's "Update Inventory" of SKUs; a request is a request, answered SKU by SKU."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_INTEGERS = rules.Integers(INT_MIN, INT_MAX, " (Increff's integers are 32-bit)")
_stock_count = _INTEGERS.at_least(0, " (an absolute count)")
_non_negative = _INTEGERS.at_least(0)


@dataclass(frozen=True)
class IncreffSettings(DestinationSettings):
    """Increff's settings: its credential headers, batch size and payload."""

    increff_auth_username: str | None = setting(
        th.StringType,
        "Increff auth username",
        "Sent as the `authUsername` header (`increff`).",
    )
    increff_auth_password: str | None = setting(
        th.StringType,
        "Increff auth password",
        "Sent as the `authPassword` header (`increff`).",
        secret=True,
    )
    increff_auth_domain: str | None = setting(
        th.StringType,
        "Increff auth domain",
        "Sent as the `authDomainName` header (`increff`).",
    )
    increff_batch_items: int = setting(
        th.IntegerType(minimum=1, maximum=MAX_ITEMS),
        "SKUs per Increff request",
        f"SKUs in a full Increff request; Increff takes at most {MAX_ITEMS}.",
        default=MAX_ITEMS,
    )
    increff_payload: str = setting(
        th.StringType(allowed_values=list(PAYLOADS)),
        "Increff payload",
        '`products`: `{"locationCode", "products": [{"channelSkuCode", "quantity"}]}`; '
        "`v0`: the older array of `{clientId, clientSkuId, inventoryPoolId, quantity, "
        "fulfillmentLocationId}` (the location must be an integer).",
        default="products",
    )
    increff_client_id: int | None = setting(
        th.IntegerType,
        "Increff client ID",
        "`clientId` of each item of the `v0` payload (required for it).",
    )

    def required(self, settings: Settings) -> None:
        """The host and the credential headers (V0: the client); absolute counts only."""
        headers = ("increff_auth_username", "increff_auth_password", "increff_auth_domain")
        require("increff", ("base_url", *headers), settings, self)
        if "adjust" in settings.operations:
            raise SettingsError(
                "Increff takes absolute counts only: operation 'adjust' (in `operation` or "
                "`stream_operations`) cannot be sent to destination 'increff'."
            )
        if self.increff_payload == "v0":
            require("increff", ("increff_client_id",), self)


def _text(value: Any) -> str:
    return rules.text_of_at_most(value, MAX_TEXT_LENGTH)


def _location(value: Any) -> str:
    return _text(rules.location(value))


def _integer_location(value: Any) -> str:
    """A V0 location: an integer fulfillmentLocationId, kept as its decimal text."""
    return str(_non_negative(value))


PRODUCTS = ItemRules(
    fields=(
        FieldRule("channelSkuCode", _text, fallbacks=SKU_SOURCES),
        FieldRule("quantity", _stock_count),
    ),
    identifiers=("channelSkuCode",),
    location=FieldRule("locationCode", _location, fallbacks=("locationName",)),
)
V0 = ItemRules(
    fields=(
        FieldRule("clientSkuId", _text, fallbacks=("channelSkuCode", *SKU_SOURCES)),
        FieldRule("quantity", _stock_count),
        FieldRule("inventoryPoolId", _non_negative),
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
    words = WORDS
    job_queue = None
    """None: Increff answers SKU by SKU."""

    def __init__(self, settings: Settings) -> None:
        own = settings.of(IncreffSettings)
        own.required(settings)
        self.v0 = own.increff_payload == "v0"
        self.client_id = own.increff_client_id
        self.identity_fields: tuple[str, ...] = (
            ("clientSkuId", "inventoryPoolId") if self.v0 else ("channelSkuCode",)
        )
        """One SKU of the location: channelSkuCode (V0: clientSkuId in its inventory pool)."""
        self.url = str(settings.base_url).rstrip("/") + PATH
        self.size = own.increff_batch_items
        self.username = str(own.increff_auth_username)
        self.domain = str(own.increff_auth_domain)
        self.unconfirmed = Unconfirmed()
        self._auth = HeaderAuth(
            {
                "authUsername": self.username,
                "authPassword": str(own.increff_auth_password),
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

    merge = staticmethod(merge_json)

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        """Absolute counts from 0."""
        return (0, INT_MAX)

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        """PUT `{"locationCode", "products": [...]}`, or for V0 the array of lines."""
        if self.v0:
            return HttpRequest(
                "PUT", self.url, b"".join((b"[", *self._v0_lines(location, items), b"]"))
            )
        head = b'{"locationCode":' + _encode(location) + b',"products":['
        return HttpRequest("PUT", self.url, b"".join((head, *items, b"]}")))

    def _v0_lines(self, location: str, items: Sequence[bytes]) -> list[bytes]:
        """V0's inventory lines: each item with the client before and the location after it."""
        head = b'{"clientId":' + _encode(self.client_id) + b","
        tail = b',"fulfillmentLocationId":' + _encode(int(location)) + b"}"
        lines = _decode(b"".join((b"[", *items, b"]")))
        return [b",".join(head + _encode(line)[1:-1] + tail for line in lines)]

    def headers(self) -> dict[str, str]:
        """No headers beyond the credentials."""
        return {}

    def auth(self) -> HeaderAuth:
        """authUsername, authPassword and authDomainName headers."""
        return self._auth

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        """`failureProducts` (V0: `failureSkus`) decides which SKUs failed.

        A SKU sent that neither list names as sent counts as applied, and is tallied for the
        run's warning, as is a name in the successes that matches no SKU sent. A name in the
        failures that matches no SKU sent is a failed item under that name: something failed.
        """
        failures_key, successes_key = self.answer_keys
        failures, successes = _lists(content, failures_key, successes_key)
        key = self.items(operation).identifiers[0]
        sent = _decode(b"".join((b"[", *items, b"]")))
        codes = [str(item[key]) for item in sent]
        failed_codes = set(failures)
        failed = [
            FailedItem(code, item, f"Increff listed it in {failures_key}", index)
            for index, (code, item) in enumerate(zip(codes, sent, strict=True))
            if code in failed_codes
        ]
        sent_codes = set(codes)
        failed += [
            FailedItem(
                name,
                {key: name},
                f"Increff listed it in {failures_key}, but no SKU of this request is named so: "
                "which one failed cannot be told",
            )
            for name in failures
            if name not in sent_codes
        ]
        unconfirmed = [c for c in codes if c not in failed_codes and c not in successes]
        self.unconfirmed.add(len(codes), unconfirmed, sorted(successes - sent_codes))
        return Answer(failed=failed, succeeded=max(0, len(sent) - len(failed)))

    @property
    def answer_keys(self) -> tuple[str, str]:
        """The answer's lists of failures and successes (V0: failureSkus, successSkus)."""
        if self.v0:
            return "failureSkus", "successSkus"
        return "failureProducts", "successProducts"

    def run_warnings(self) -> list[str]:
        """One warning when the answers left SKUs unconfirmed, with the counts."""
        return self.unconfirmed.warnings(*self.answer_keys)

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


@dataclass
class Unconfirmed:
    """SKUs that Increff's answers of a run did not name as sent; thread-safe."""

    sent: int = 0
    unconfirmed: int = 0
    unmatched: int = 0
    """Names in the successes that matched no SKU sent."""
    example: tuple[str, str] | None = None
    """A SKU sent and a success name that matched none, from one answer."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, sent: int, unconfirmed: list[str], unmatched: list[str]) -> None:
        """Count one answer."""
        with self._lock:
            self.sent += sent
            self.unconfirmed += len(unconfirmed)
            self.unmatched += len(unmatched)
            if self.example is None and unconfirmed and unmatched:
                self.example = (unconfirmed[0], unmatched[0])

    def warnings(self, failures_key: str, successes_key: str) -> list[str]:
        """The run's one warning, or none."""
        with self._lock:
            if not self.unconfirmed and not self.unmatched:
                return []
            example = (
                f" (e.g. '{clip(self.example[0])}' sent, '{clip(self.example[1])}' answered; "
                "Increff's own example answers '302' for 'ITEM302')"
                if self.example
                else ""
            )
            return [
                f"Increff's answers did not name {self.unconfirmed} of the {self.sent} SKUs sent "
                f"in {successes_key} or {failures_key} as they were sent, and named "
                f"{self.unmatched} SKU(s) in {successes_key} that were not sent{example}. Only "
                f"{failures_key} marks a failure, so those SKUs were counted as applied; check "
                "some of them in Increff if in doubt."
            ]


def _lists(content: bytes, failures_key: str, successes_key: str) -> tuple[list[str], set[str]]:
    """The SKU names of an answer's failures (in order, once each) and successes."""
    try:
        answer = json.loads(content)
    except ValueError:
        raise AnswerError("the answer is not JSON") from None
    if not isinstance(answer, dict) or (failures_key not in answer and successes_key not in answer):
        raise AnswerError(f"the answer has neither {failures_key} nor {successes_key}")
    failures = list(dict.fromkeys(_sku(entry) for entry in answer.get(failures_key) or ()))
    return failures, {_sku(entry) for entry in answer.get(successes_key) or ()}


def _sku(entry: Any) -> str:
    """A SKU of an answer's list: a string, or an object naming one."""
    if isinstance(entry, dict):
        return str(entry.get("channelSkuCode") or entry.get("clientSkuId") or entry)
    return str(entry)


DESTINATION = DestinationType(
    name="increff",
    summary="Increff OMS absolute inventory",
    settings=IncreffSettings,
    build=Increff,
)
