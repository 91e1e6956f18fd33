"""Stockroom: an example destination, complete in this one file (README, "Adding a destination").

A made-up inventory API: `PATCH {base_url}/locations/{code}/stock` with `{"lines": [{"article",
"quantity"}]}` and a bearer token, at most 100 lines a request, answered line by line with
`{"refused": [article, ...]}`. tests/test_new_destination.py copies this file into
`target_kibo_inventory/destinations/` and its emulator side (stockroom_emulator.py) into
`target_kibo_inventory/emulator/`, then loads records through the CLI: nothing else is edited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from singer_sdk import typing as th

from target_kibo_inventory import rules
from target_kibo_inventory.auth import BearerAuth
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
from target_kibo_inventory.errors import AnswerError
from target_kibo_inventory.settings import DestinationSettings, require, setting

if TYPE_CHECKING:
    from collections.abc import Sequence

    import requests

    from target_kibo_inventory.settings import Settings

MAX_LINES = 100
"""Most lines in one request (its limits live here, named)."""
COUNTS = rules.Integers(0, 2**31 - 1, " (Stockroom's counts are 32-bit)")
ITEMS = ItemRules(
    fields=(
        FieldRule("article", rules.to_text, fallbacks=("sku",)),
        FieldRule("quantity", COUNTS.at_least(0, " (an absolute count)")),
    ),
    identifiers=("article",),
    location=FieldRule("store", rules.location, fallbacks=("locationName",)),
)
WORDS = Words("Stockroom", {"refresh": "stock update"}, items="lines", cost_steps=False, jobs=False)
"""How the logs name what it does: `stock update of 3 lines`; no cost steps, no jobs."""


@dataclass(frozen=True)
class StockroomSettings(DestinationSettings):
    """Stockroom's own settings, beside the shared ones (base_url is its host)."""

    stockroom_token: str | None = setting(
        th.StringType,
        "Stockroom token",
        "Bearer token of the Stockroom API. Required for `stockroom`.",
        secret=True,
    )
    stockroom_batch_items: int = setting(
        th.IntegerType(minimum=1, maximum=MAX_LINES),
        "Lines per Stockroom request",
        f"Lines in a full Stockroom request; it takes at most {MAX_LINES}.",
        default=MAX_LINES,
    )


class Stockroom:
    """Absolute counts, answered line by line; no job queue."""

    name = "stockroom"
    operations: tuple[str, ...] = ("refresh",)
    location_key = "store"
    words = WORDS
    job_queue = None
    identity_fields = ("article",)
    merge = staticmethod(merge_json)

    def __init__(self, settings: Settings) -> None:
        own = settings.of(StockroomSettings)
        require(self.name, ("base_url", "stockroom_token"), settings, own)
        self.url = str(settings.base_url).rstrip("/")
        self.size = own.stockroom_batch_items
        self._auth = BearerAuth(str(own.stockroom_token))

    def items(self, operation: str) -> ItemRules:
        """An article and its count."""
        return ITEMS

    def full_size(self, operation: str) -> int:
        """`stockroom_batch_items`."""
        return self.size

    def cost_step(self, operation: str) -> int:
        """A request is a request."""
        return self.size

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        """Counts from 0."""
        return (0, COUNTS.high)

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        """PATCH `{"lines": [...]}` to the location's stock."""
        url = f"{self.url}/locations/{quote(location, safe='')}/stock"
        return HttpRequest("PATCH", url, b"".join((b'{"lines":[', *items, b"]}")))

    def headers(self) -> dict[str, str]:
        """No headers beyond the token."""
        return {}

    def auth(self) -> BearerAuth:
        """The token as the bearer."""
        return self._auth

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        """`{"refused": [...]}`: those lines failed, the others were applied."""
        try:
            refused = set(json.loads(content)["refused"])
        except (ValueError, KeyError, TypeError):
            raise AnswerError("the answer has no list of refused lines") from None
        sent = json.loads(b"".join((b"[", *items, b"]")))
        failed = [
            FailedItem(line["article"], line, "Stockroom refused it", index)
            for index, line in enumerate(sent)
            if line["article"] in refused
        ]
        return Answer(failed=failed, succeeded=len(sent) - len(failed))

    def error_message(self, response: requests.Response) -> str:
        """Its `{"error"}` body."""
        try:
            return str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            return response.text

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        """The token was refused."""
        return (
            f"Stockroom refused the token (HTTP {status}) for {what}: check stockroom_token. "
            f"Server said: {server_says}"
        )

    def run_warnings(self) -> list[str]:
        """Nothing left to say."""
        return []


DESTINATION = DestinationType(
    name="stockroom",
    summary="a Stockroom inventory, the README's example",
    settings=StockroomSettings,
    build=Stockroom,
)
