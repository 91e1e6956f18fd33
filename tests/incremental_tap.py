"""A small incremental tap that hands back nothing of the state but its own bookmark.

    python tests/incremental_tap.py --rows rows.json [--state state.json] [--key id]

It reads the rows of a `movements` table from a JSON file and, like the SQL taps of the SDK,
selects the rows whose replication key is at or above the bookmark (`>=`, so that rows sharing
the bookmark value are never missed), sorted by it. Unlike an SDK tap it echoes, before its
first record, only its own bookmark keys (`replication_key`, `replication_key_value`): what a
target wrote beside them is dropped. It writes a closing STATE only when the bookmark moved.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

STREAM = "movements"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", required=True)
    parser.add_argument("--state")
    parser.add_argument("--key", default="id")
    args = parser.parse_args()
    with open(args.rows) as file:
        rows: list[dict[str, Any]] = json.load(file)
    bookmark = None
    if args.state:
        with open(args.state) as file:
            entry = json.load(file).get("bookmarks", {}).get(STREAM, {})
        bookmark = entry.get("replication_key_value")

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")

    def emit_state(value: Any) -> None:
        entry = {"replication_key": args.key, "replication_key_value": value}
        emit({"type": "STATE", "value": {"bookmarks": {STREAM: entry}}})

    if bookmark is not None:
        emit_state(bookmark)
    properties = {name: {"type": ["integer", "string"]} for name in rows[0]} if rows else {}
    emit(
        {
            "type": "SCHEMA",
            "stream": STREAM,
            "schema": {"type": "object", "properties": properties},
            "key_properties": ["id"],
            "bookmark_properties": [args.key],
        }
    )
    selected = sorted(
        (row for row in rows if bookmark is None or row[args.key] >= bookmark),
        key=lambda row: (row[args.key], row["id"]),
    )
    for row in selected:
        emit({"type": "RECORD", "stream": STREAM, "record": row})
    top = max((row[args.key] for row in selected), default=bookmark)
    if top is not None and top != bookmark:
        emit_state(top)


if __name__ == "__main__":
    main()
