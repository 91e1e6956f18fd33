"""A small resumable tap for the crash tests: deterministic records after a given bookmark.

    python tests/resumable_tap.py --records 12000 --mode adjust [--state state.json]
        [--state-every 500] [--pause-at 3000,6000 --target-output target.out] [--hang-at 7000]
        [--die-at 10250] [--locations "North Store,Warehouse"] [--skus 400]

Record i (0-based) is the same in every run: a distinct item, or with --skus one of that
many items (so that items repeat, and the target collapses them). The bookmark is the number
of records emitted (`bookmarks.stock.position`); with --state the tap resumes after it and,
like SDK taps, echoes the state's other keys. --pause-at waits at those positions after the
start until the target's output file (--target-output) holds the STATE of that position: its
drain interval passed, it sent what it had and wrote the state (a signal, never a fixed time;
at most PAUSE_LIMIT seconds, then it goes on); --hang-at stops emitting at that position
(creating --hang-marker) and waits to be killed; --die-at exits 1 at that position, as a tap
that fails part-way. --locations keeps only the records of those locations (a partition of the
feed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

LOCATIONS = ("North Store", "South Store", "Warehouse")
PAUSE_LIMIT = 120.0
"""How long a pause waits for the target's STATE at most (a target that died writes none)."""
SCHEMA = {
    "type": "SCHEMA",
    "stream": "stock",
    "schema": {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "location_name": {"type": "string"},
            "quantity": {"type": "integer"},
        },
    },
    "key_properties": [],
}


def stream_of(i: int, mode: str) -> str:
    """Record i's stream: `stock`; in the mixed mode, `counts` and `moves` in turn."""
    if mode != "mixed":
        return "stock"
    return "counts" if i % 2 == 0 else "moves"


def record(i: int, mode: str, skus: int = 0) -> dict[str, Any]:
    """Record i: the same in every run; each a distinct item, or one of `skus` items.

    A count in the refresh mode, a delta in the adjust mode; the mixed mode alternates
    counts and deltas (streams `counts` and `moves`).
    """
    counts = mode == "refresh" or (mode == "mixed" and i % 2 == 0)
    quantity = (i * 37) % 1000 if counts else (i * 13) % 20 - 10 or 10  # a delta is never 0
    return {
        "sku": f"SKU-{(i * 31) % skus:04d}" if skus else f"SKU-{i:05d}",
        "location_name": LOCATIONS[(i * 7) % len(LOCATIONS)],
        "quantity": quantity,
    }


def written_positions(path: Path) -> set[int]:
    """The positions of the STATE messages in the target's output so far (whole lines)."""
    text = path.read_text() if path.exists() else ""
    lines = text[: text.rfind("\n") + 1].splitlines()
    return {json.loads(line)["bookmarks"]["stock"]["position"] for line in lines if line.strip()}


def wait_for_state(path: Path, position: int) -> None:
    """Until the target wrote the STATE of `position` to `path` (or PAUSE_LIMIT passed)."""
    deadline = time.monotonic() + PAUSE_LIMIT
    while position not in written_positions(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--mode", choices=("refresh", "adjust", "mixed"), default="refresh")
    parser.add_argument("--state")
    parser.add_argument("--state-every", type=int, default=500)
    parser.add_argument("--pause-at", default="")
    parser.add_argument("--target-output", help="the target's stdout, read at --pause-at")
    parser.add_argument("--hang-at", type=int)
    parser.add_argument("--hang-marker", help="file created when the tap starts to hang")
    parser.add_argument("--die-at", type=int)
    parser.add_argument("--locations", default="", help="only these locations (comma-separated)")
    parser.add_argument("--skus", type=int, default=0, help="repeat these many items (0: none)")
    args = parser.parse_args()

    state: dict[str, Any] = {}
    if args.state:
        with open(args.state) as file:
            state = json.load(file)
    start = state.get("bookmarks", {}).get("stock", {}).get("position", 0)
    pauses = {int(p) for p in args.pause_at.split(",") if p}
    if pauses and not args.target_output:
        parser.error("--pause-at waits for the target's STATE: give --target-output")
    locations = {name for name in args.locations.split(",") if name}
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")

    def emit_state(position: int) -> None:
        emit({"type": "STATE", "value": {**state, "bookmarks": {"stock": {"position": position}}}})
        out.flush()

    streams = ("counts", "moves") if args.mode == "mixed" else ("stock",)
    for stream in streams:
        emit({**SCHEMA, "stream": stream})
    for i in range(start, args.records):
        if i == args.hang_at:
            out.flush()
            if args.hang_marker:
                Path(args.hang_marker).touch()
            time.sleep(3600)
        if i == args.die_at:
            out.flush()
            sys.exit(1)
        if i in pauses and i > start:
            out.flush()
            wait_for_state(Path(args.target_output), i)
        row = record(i, args.mode, args.skus)
        if not locations or row["location_name"] in locations:
            emit({"type": "RECORD", "stream": stream_of(i, args.mode), "record": row})
        if (i + 1) % args.state_every == 0:
            emit_state(i + 1)
    emit_state(args.records)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the target was killed: stop quietly, as a tap would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
