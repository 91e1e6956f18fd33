"""Requests, items, seconds and peak memory for input shapes that repeat and interleave items.

    .venv/bin/python benchmarks/shapes.py

Each shape is piped through this target into the bundled emulator (one location unless said):

- interleaved: counts and movements of different items alternating record by record
  (streams `counts` and `moves`, 2,000 records);
- change data capture: 24,000 versions of 1,000 SKUs' counts;
- point of sale: 20,000 deltas of 500 SKUs;
- tidy: 100,000 distinct counts at 7 locations.

It prints, per shape, the records, the requests the emulator accepted and their items, the
seconds and the target's peak RSS (os.wait4).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from run import BIN, Emulator, measure  # benchmarks/ is the script's folder: on sys.path

SCHEMA = {
    "type": "object",
    "properties": {
        "sku": {"type": "string"},
        "location_name": {"type": "string"},
        "quantity": {"type": "integer"},
    },
}


def _lines(records: list[tuple[str, str, str, int]]) -> str:
    streams = sorted({stream for stream, _, _, _ in records})
    out = [json.dumps({"type": "SCHEMA", "stream": s, "schema": SCHEMA}) for s in streams]
    for stream, location, sku, quantity in records:
        record = {"sku": sku, "location_name": location, "quantity": quantity}
        out.append(json.dumps({"type": "RECORD", "stream": stream, "record": record}))
    out.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"done": True}}}))
    return "\n".join(out) + "\n"


def shapes() -> dict[str, list[tuple[str, str, str, int]]]:
    """The input of each shape: (stream, location, sku, quantity)."""
    rng = random.Random(7)
    interleaved = []
    for i in range(1000):
        interleaved.append(("counts", "L", f"C{i}", i))
        interleaved.append(("moves", "L", f"M{i}", -1))
    return {
        "interleaved counts and movements": interleaved,
        "change data capture (24 versions of each SKU)": [
            ("counts", "L", f"S{rng.randrange(1000)}", rng.randrange(500)) for _ in range(24_000)
        ],
        "point of sale (40 deltas of each SKU)": [
            ("moves", "L", f"S{rng.randrange(500)}", rng.choice((-1, -2, 1))) for _ in range(20_000)
        ],
        "tidy (distinct counts, 7 locations)": [
            ("counts", f"Store {i % 7}", f"S{i}", i % 500) for i in range(100_000)
        ],
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="kibo-shapes-"))
    emulator = Emulator()
    config = {
        **emulator.config(),
        "stream_operations": {"counts": "refresh", "moves": "adjust"},
        "journal_path": str(work / "journal"),
    }
    (work / "config.json").write_text(json.dumps(config))
    print("| shape | records | requests | items sent | seconds | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    try:
        for name, records in shapes().items():
            path = work / "input.jsonl"
            path.write_text(_lines(records))
            target = [str(BIN / "target-kibo-inventory"), "--config", "config.json"]
            result = measure(name, target, path, len(records), work)
            seen = emulator.get("/emulator/requests")["requests"]
            emulator.post("/emulator/reset")
            sent = [
                r
                for r in seen
                if r.get("status") == 200 and r.get("operation") in ("refresh", "adjust")
            ]
            items = sum(r.get("items", 0) for r in sent)
            print(
                f"| {name} | {len(records):,} | {len(sent):,} | {items:,} | {result.wall:.1f} | "
                f"{result.peak_mb:.0f} |",
                flush=True,
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
