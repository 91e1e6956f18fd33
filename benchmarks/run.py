"""Benchmark suite: throughput, CPU, peak memory and requests, as ratios measured in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/run.py            # 1M and 5M records, under 10 minutes
    .venv/bin/python benchmarks/run.py --quick    # 100k records, under a minute

It generates the inputs (string quantities; one location, and 2,000 locations in random
order; one location where 10% of the records repeat an earlier item, as a change-data-capture
tap sends), starts the bundled emulator, and runs in one go: an orjson parse loop (the floor), a
do-nothing SDK target with the default reader and validator (the baseline, validation on and
off), and this target end to end into the emulator (validation on and off). Each run is a
child process: wall time from the parent, CPU seconds and peak RSS from os.wait4. Each run's
CPU microseconds per record are compared with the figures of the last release, kept in
`benchmarks/reference.json` (`--save-reference` writes this run's there): a regression shows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference.json"
"""CPU microseconds per record of each run, as the last release measured them."""
FULL_REFRESH = 12000
REGRESSION = 0.15
"""This target's runs taking more CPU per record than the reference by this share are flagged
(the shared machine's noise between runs is about ±10%; the other runs are shown for scale)."""
BIN = Path(sys.executable).parent
SCHEMA = {
    "type": "SCHEMA",
    "stream": "stock",
    "schema": {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "location_name": {"type": "string"},
            "quantity": {"type": ["integer", "string"]},
        },
    },
    "key_properties": ["sku", "location_name"],
}
FLOOR = """
import sys, orjson
loads = orjson.loads
for line in sys.stdin.buffer:
    loads(line)
"""


@dataclass
class Result:
    """One measured run."""

    name: str
    records: int
    wall: float
    cpu: float
    peak_mb: float
    requests: int | None = None
    optimum: int | None = None

    @property
    def rate(self) -> float:
        return self.records / self.wall

    @property
    def key(self) -> str:
        """Its name in the reference: the run and its records (--quick runs are not compared)."""
        return f"{self.name} @ {self.records:,}"

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per record (start-up included)."""
        return self.cpu / self.records * 1e6


def generate(
    path: Path, records: int, locations: int, seed: int, repeats: float = 0.0
) -> dict[str, int]:
    """Write a tap's output (in a child process, so that this one stays small: a child's peak
    RSS as Linux reports it starts from its parent's); return the fewest requests per location."""
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--generate",
            str(path),
            str(records),
            str(locations),
            str(seed),
            str(repeats),
        ],
        check=True,
    )
    return json.loads(path.with_suffix(".requests.json").read_text())


def write_input(path: Path, records: int, locations: int, seed: int, repeats: float) -> None:
    """`records` records spread evenly over `locations` locations, in random order; a share
    `repeats` of them repeat an earlier record's item (sku and location) with a new count.
    Beside it, `<name>.requests.json`: the fewest requests per location, each full one carrying
    12000 distinct items (a repeat of an item sent already is sent again)."""
    rng = random.Random(seed)
    names = [f"Store {n:04d}" for n in range(locations)]
    order = [n for n in range(locations) for _ in range(records // locations)]
    rng.shuffle(order)
    pending: dict[str, set[int]] = {name: set() for name in names}
    optimum = dict.fromkeys(names, 0)
    with path.open("w") as out:
        out.write(json.dumps(SCHEMA) + "\n")
        for i in range(len(order)):
            item = rng.randrange(i) if i and rng.random() < repeats else i
            held = pending[names[order[item]]]
            held.add(item)  # a repeat of an item still pending collapses into it
            if len(held) == FULL_REFRESH:
                optimum[names[order[item]]] += 1
                held.clear()
            out.write(
                f'{{"type":"RECORD","stream":"stock","record":{{"sku":"SKU-{item:08d}",'
                f'"location_name":"{names[order[item]]}","quantity":"{rng.randrange(1000)}"}}}}\n'
            )
            if i % 10000 == 9999:
                out.write(f'{{"type":"STATE","value":{{"bookmarks":{{"stock":{i + 1}}}}}}}\n')
    for name, held in pending.items():
        optimum[name] += bool(held)
    path.with_suffix(".requests.json").write_text(json.dumps(optimum))


def measure(name: str, args: list[str], stdin: Path, records: int, cwd: Path) -> Result:
    """Run a child process on an input file: wall time, CPU seconds and peak RSS (wait4)."""
    with stdin.open("rb") as source:
        start = time.perf_counter()
        child = subprocess.Popen(
            args, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd
        )
        stderr = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"{name} failed:\n{stderr.decode()[-3000:]}")
    return Result(name, records, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class Emulator:
    """The bundled emulator, in its own process."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                str(BIN / "kibo-emulator"),
                "--port",
                str(port),
                "--tenant",
                "bench",
                "--api-key",
                "bench-key",
                "--api-secret",
                "bench-secret",
            ],
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                self.get("/emulator/health")
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("the emulator did not start")

    def config(self) -> dict:
        """The target's settings for this emulator: OAuth, the token from the emulator too."""
        return {
            "tenant_id": "bench",
            "api_key": "bench-key",
            "api_secret": "bench-secret",
            "base_url": self.url,
            "auth_url": self.url + "/api/platform/applications/authtickets/oauth",
        }

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=600) as answer:
            return json.load(answer)

    def post(self, path: str, body: bytes = b"{}") -> dict:
        request = urllib.request.Request(self.url + path, method="POST", data=body)
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.load(answer)

    def accepted(self) -> int:
        """Inventory requests accepted since the last reset (then reset); token requests and
        reads of the job queue are not counted."""
        seen = self.get("/emulator/requests")["requests"]
        self.post("/emulator/reset")
        return sum(
            1 for r in seen if r.get("status") == 200 and r.get("operation") not in (None, "queue")
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        path, records, locations, seed, repeats = sys.argv[2:]
        write_input(Path(path), int(records), int(locations), int(seed), float(repeats))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k records, under a minute")
    parser.add_argument(
        "--save-reference", action="store_true", help=f"write this run's figures to {REFERENCE}"
    )
    args = parser.parse_args()
    small, large = (100_000, 200_000) if args.quick else (1_000_000, 5_000_000)
    work = Path(tempfile.mkdtemp(prefix="kibo-bench-"))
    emulator = Emulator()
    try:
        results = run_all(work, emulator, small, large)
    finally:
        emulator.stop()
        shutil.rmtree(work)  # the inputs: over a gigabyte
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    print_table(results, small, reference.get("cpu_us_per_record", {}))
    print_goals(results, small)
    if args.save_reference:
        figures = {r.key: round(r.cpu_us, 2) for r in results}
        measured = (
            f"{time.strftime('%Y-%m-%d')}, {os.uname().nodename}, Python {sys.version.split()[0]}"
        )
        REFERENCE.write_text(
            json.dumps({"measured": measured, "cpu_us_per_record": figures}, indent=2) + "\n"
        )


def run_all(work: Path, emulator: Emulator, small: int, large: int) -> list[Result]:
    print(f"Generating inputs in {work} ...", file=sys.stderr)
    inputs = {
        "one": (work / "one.jsonl", generate(work / "one.jsonl", small, 1, 1)),
        "one_large": (work / "one_large.jsonl", generate(work / "one_large.jsonl", large, 1, 2)),
        "many": (work / "many.jsonl", generate(work / "many.jsonl", small, 2000, 3)),
        "many_large": (
            work / "many_large.jsonl",
            generate(work / "many_large.jsonl", large, 2000, 4),
        ),
        "repeats": (work / "repeats.jsonl", generate(work / "repeats.jsonl", small, 1, 5, 0.1)),
    }
    configs = {
        "base_on": {},
        "base_off": {"validate_records": False},
        "ours_on": emulator.config(),
    }
    configs["ours_off"] = {**configs["ours_on"], "validate_records": False}
    for name, config in configs.items():
        (work / f"{name}.json").write_text(json.dumps(config))
    python, target = sys.executable, str(BIN / "target-kibo-inventory")
    baseline = [python, str(HERE / "baseline_target.py")]
    results = []

    def ours(label: str, config: str, key: str, records: int) -> None:
        print(f"  {label} ...", file=sys.stderr)
        result = measure(
            label, [target, "--config", f"{config}.json"], inputs[key][0], records, work
        )
        result.requests = emulator.accepted()
        result.optimum = sum(inputs[key][1].values())
        results.append(result)

    def other(label: str, args: list[str], key: str, records: int) -> None:
        print(f"  {label} ...", file=sys.stderr)
        results.append(measure(label, args, inputs[key][0], records, work))

    other("orjson parse loop (floor)", [python, "-c", FLOOR], "one", small)
    other(
        "SDK do-nothing, validation on (baseline)",
        [*baseline, "--config", "base_on.json"],
        "one",
        small,
    )
    other("SDK do-nothing, validation off", [*baseline, "--config", "base_off.json"], "one", small)
    ours("this target, validation on", "ours_on", "one", small)
    ours("this target, validation off", "ours_off", "one", small)
    ours(f"this target, {large:,} records", "ours_on", "one_large", large)
    ours("this target, 2,000 locations", "ours_on", "many", small)
    ours(f"this target, 2,000 locations, {large:,} records", "ours_on", "many_large", large)
    ours("this target, 10% repeated items", "ours_on", "repeats", small)
    return results


def print_table(results: list[Result], small: int, reference: dict[str, float]) -> None:
    """The table; CPU per record beside the reference's, a regression flagged."""
    baseline = next(r for r in results if "(baseline)" in r.name)
    print(
        "\n| run | records | records/s | vs baseline | CPU s | CPU µs/record (reference) "
        "| peak RSS MB | requests (optimum; one per record) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        requests = (
            f"{r.requests:,} ({r.optimum:,}; {r.records:,})" if r.requests is not None else ""
        )
        cpu_us = _against(r.cpu_us, reference.get(r.key), ours=r.requests is not None)
        print(
            f"| {r.name} | {r.records:,} | {r.rate:,.0f} | {r.rate / baseline.rate:.2f} | "
            f"{r.cpu:.1f} | {cpu_us} | {r.peak_mb:.0f} | {requests} |"
        )


def _against(cpu_us: float, reference: float | None, *, ours: bool) -> str:
    if reference is None:
        return f"{cpu_us:.2f} (none)"
    change = cpu_us / reference - 1
    flag = " REGRESSION" if ours and change > REGRESSION else ""
    return f"{cpu_us:.2f} ({reference:.2f}, {change:+.0%}{flag})"


def print_goals(results: list[Result], small: int) -> None:
    """Issue 21's goals, each with its figure (they are set at 1,000,000 records)."""
    if small < 1_000_000:
        print("\nThe goals are set at 1,000,000 and 5,000,000 records: run without --quick.")
        return
    by_name = {r.name: r for r in results}
    baseline = by_name["SDK do-nothing, validation on (baseline)"]
    off_base = by_name["SDK do-nothing, validation off"]
    on = by_name["this target, validation on"]
    many = by_name["this target, 2,000 locations"]
    large = next(r for r in results if r.records > small and "locations" not in r.name)
    at_optimum = all(r.requests == r.optimum for r in results if r.requests is not None)
    goals = [
        ("validation on vs the baseline", f"{on.rate / baseline.rate:.2f}x", "≥ 10x"),
        ("validation on vs the SDK unvalidated", f"{on.rate / off_base.rate:.2f}x", "≥ 3.5x"),
        ("2,000 locations vs the baseline", f"{many.rate / baseline.rate:.2f}x", "≥ 6x"),
        (f"peak RSS at {on.records:,} records", f"{on.peak_mb:.0f} MB", "≤ 60 MB"),
        (
            f"peak RSS at {large.records:,} records",
            f"{large.peak_mb:.0f} MB ({large.peak_mb / on.peak_mb - 1:+.0%})",
            "within 10%",
        ),
        ("requests", "at the optimum" if at_optimum else "NOT at the optimum", "the optimum"),
    ]
    print("\n| goal | figure | wanted |\n|---|---:|---|")
    for name, figure, wanted in goals:
        print(f"| {name} | {figure} | {wanted} |")


if __name__ == "__main__":
    main()
