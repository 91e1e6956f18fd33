"""How many requests in flight: wall time of one run per max_parallel_requests value.

    .venv/bin/python benchmarks/parallel.py [--latency 0.05] [--locations 400]

The emulator adds `latency` seconds to every request (a remote OMS); the input spreads
records over `locations` locations, so the drain at the end sends one request per location.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from run import BIN, Emulator, generate, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--locations", type=int, default=400)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kibo-parallel-"))
    messages = work / "messages.jsonl"
    generate(messages, args.records, args.locations, seed=5)
    emulator = Emulator()
    try:
        emulator.post("/emulator/faults", json.dumps({"latency": args.latency}).encode())
        print(f"Emulator latency {args.latency} s, {args.locations} locations\n")
        print("| max_parallel_requests | wall s | records/s | requests |")
        print("|---:|---:|---:|---:|")
        for parallel in (1, 2, 4, 8, 16):
            config = {**emulator.config(), "max_parallel_requests": parallel}
            (work / "config.json").write_text(json.dumps(config))
            target = [str(BIN / "target-kibo-inventory"), "--config", "config.json"]
            result = measure(f"parallel {parallel}", target, messages, args.records, work)
            requests = emulator.accepted()
            print(
                f"| {parallel} | {result.wall:.2f} | {result.rate:,.0f} | {requests:,} |",
                flush=True,
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
