"""The example destination's emulated API (README, "Adding a destination").

`PATCH /locations/{code}/stock` with `{"lines": [{"article", "quantity"}]}`, at most 100 lines,
the emulator's API key as the bearer token; lines whose article starts with `X` are refused,
the others set the location's counts. Written from the API's description (stockroom.py's
docstring), not from the destination's code. tests/test_new_destination.py copies it into
`target_kibo_inventory/emulator/`, where the emulator finds it.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from target_kibo_inventory.emulator.api import Api, Reply, Request, Route, refuse
from target_kibo_inventory.emulator.rules import BadRequestError

if TYPE_CHECKING:
    from email.message import Message

    from target_kibo_inventory.emulator.faults import Faults
    from target_kibo_inventory.emulator.server import Emulator

FAMILY = "stockroom"
PATH = re.compile(r"/locations/([^/]+)/stock")
MAX_LINES = 100
REFUSED_PREFIX = "X"


class Stockroom(Api):
    """Stockroom's stock update."""

    def route(self, method: str, path: str) -> tuple[Route, str | None] | None:
        """`PATCH /locations/{code}/stock`, naming the location."""
        match = PATH.fullmatch(path)
        if method != "PATCH" or match is None:
            return None
        return Route(self, FAMILY, "stock"), unquote(match[1])

    def error(self, destination: str, status: int, message: str, title: str | None) -> Any:
        """`{"error": message}`."""
        return {"error": message}

    def authenticate(
        self, emulator: Emulator, route: Route, headers: Message, entry: dict[str, Any]
    ) -> Reply | None:
        """The emulator's API key as the bearer token."""
        if headers.get("Authorization") == f"Bearer {emulator.api_key}":
            entry["auth"] = FAMILY
            return None
        return refuse(route, HTTPStatus.UNAUTHORIZED, "invalid token")

    def write(
        self,
        emulator: Emulator,
        route: Route,
        request: Request,
        body: Any,
        entry: dict[str, Any],
        faults: Faults,
    ) -> Reply:
        """Set the counts of the lines it does not refuse."""
        match = PATH.fullmatch(request.path.rstrip("/"))
        location = unquote(match[1]) if match else ""
        lines = body.get("lines") if isinstance(body, dict) else None
        if not isinstance(lines, list) or not 0 < len(lines) <= MAX_LINES:
            raise BadRequestError(f"lines: an array of 1 to {MAX_LINES} lines is required")
        for index, line in enumerate(lines):
            article = line.get("article") if isinstance(line, dict) else None
            quantity = line.get("quantity") if isinstance(line, dict) else None
            if not isinstance(article, str) or not article:
                raise BadRequestError(f"lines[{index}].article: a string is required")
            if type(quantity) is not int or quantity < 0:
                raise BadRequestError(f"lines[{index}].quantity: a count from 0 is required")
        refused = [line["article"] for line in lines if line["article"].startswith(REFUSED_PREFIX)]
        applied = [line for line in lines if line["article"] not in refused]
        emulator.store.set_stock(
            [(location, {"sku": line["article"], "quantity": line["quantity"]}) for line in applied]
        )
        entry.update(locationName=location, items=len(lines), rejected=refused)
        return Reply(HTTPStatus.OK, {"refused": refused})


API = Stockroom()
