"""`kibo-emulator stock` and `kibo-emulator requests`: a running emulator's views, as tables."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from collections.abc import Sequence

COMMANDS = ("stock", "requests")
DEFAULT_URL = "http://127.0.0.1:8700"
TIMEOUT = 120
"""Seconds to wait for the view: `stock` waits until every queued job is applied."""
STOCK_FIRST = ("partNumber", "upc", "sku", "quantity")
REQUEST_COLUMNS = ("method", "path", "operation", "locationName", "items", "status", "jobID")


def _parser(command: str) -> argparse.ArgumentParser:
    what = {
        "stock": "The emulator's stock, a table per location, once every queued job is applied.",
        "requests": "The emulator's request log, oldest first: every request it was sent.",
    }
    parser = argparse.ArgumentParser(prog=f"kibo-emulator {command}", description=what[command])
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="the running emulator (default: %(default)s)"
    )
    if command == "stock":
        parser.add_argument("--location", default=None, help="only this location")
    return parser


def main(argv: Sequence[str]) -> int:
    """Print the view that `argv` names (`stock` or `requests`, then its options)."""
    command, *rest = argv
    args = _parser(command).parse_args(rest)
    url = args.url.rstrip("/")
    try:
        if command == "stock":
            params = {"wait": 1, **({"location": args.location} if args.location else {})}
            print(stock_tables(_get(f"{url}/emulator/inventory", params)["inventory"]))
        else:
            print(table(REQUEST_COLUMNS, _get(f"{url}/emulator/requests", {})["requests"]))
    except requests.RequestException as error:
        print(
            f"kibo-emulator {command}: no emulator answered at {url} ({type(error).__name__}); "
            "start one with `kibo-emulator --port 8700`, or give its --url.",
            file=sys.stderr,
        )
        return 1
    return 0


def _get(url: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = requests.get(url, params=params, timeout=TIMEOUT)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def stock_tables(rows: Sequence[dict[str, Any]]) -> str:
    """A table per location: its items' identifiers, quantity and other fields."""
    if not rows:
        return "No stock yet."
    by_location: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_location.setdefault(str(row["locationName"]), []).append(row)
    blocks = []
    for location, items in by_location.items():
        names = {name for item in items for name in item} - {"locationName"}
        columns = [n for n in STOCK_FIRST if n in names] + sorted(names - set(STOCK_FIRST))
        noun = "item" if len(items) == 1 else "items"
        lines = table(columns, items).splitlines()
        blocks.append("\n".join([f"{location} ({len(items)} {noun})", *(f"  {x}" for x in lines)]))
    return "\n\n".join(blocks)


def table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """Rows as aligned text columns under their names; a missing value is blank."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(columns, *cells, strict=True)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
