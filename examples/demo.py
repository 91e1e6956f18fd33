"""Demo: the sample inventory through target-kibo-inventory into the bundled OMS emulator.

Starts the emulator on a free port of 127.0.0.1, pipes examples/stock.singer.jsonl through
the target, then prints the accepted job IDs, the emitted state and the resulting stock.

    python examples/demo.py                          # Kibo: refresh counts, adjust movements
    python examples/demo.py --destination increff    # the same pipeline into Increff OMS

Switching to Increff is a change of settings alone: `destination` and Increff's three
credentials; Increff takes absolute counts only, so a stream map leaves out the movements.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TENANT, API_KEY, API_SECRET = "demo", "demo-key", "demo-secret"
"""The emulator's demo tenant, Application (Client) ID and Client Secret."""
TOKEN_PATH = "/api/platform/applications/authtickets/oauth"
KIBO_CONFIG = {
    "tenant_id": TENANT,
    "api_key": API_KEY,
    "api_secret": API_SECRET,  # OAuth 2.0, as Kibo documents it: the emulator issues the token
    "field_map": {"locationName": "store"},
    "stream_operations": {"stock_levels": "refresh", "stock_movements": "adjust"},
}
INCREFF_CONFIG = {
    "destination": "increff",
    "increff_auth_username": "demo-user",
    "increff_auth_password": "demo-password",
    "increff_auth_domain": "demo",
    "field_map": {"locationName": "store"},
    "stream_maps": {"stock_movements": None},  # Increff takes absolute counts only
}
SECRETS = ("api_key", "api_secret", "increff_auth_password")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(100):
        if process.poll() is not None:
            sys.exit("the emulator did not start")
        try:
            get(url + "/emulator/health")
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("the emulator did not answer")


def run_target(url: str, destination: str) -> list[dict]:
    if destination == "increff":
        config = {**INCREFF_CONFIG, "base_url": url}
    else:  # the token comes from the emulator too (auth_url), never from Kibo's own
        config = {**KIBO_CONFIG, "base_url": url, "auth_url": url + TOKEN_PATH}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    shown = {k: "********" if k in SECRETS else v for k, v in config.items()}
    print(f"$ target-kibo-inventory --config {file.name} < examples/stock.singer.jsonl")
    print(f"  config: {json.dumps(shown)}\n")
    with (HERE / "stock.singer.jsonl").open() as messages:
        done = subprocess.run(
            [str(BIN / "target-kibo-inventory"), "--config", file.name],
            stdin=messages,
            capture_output=True,
            text=True,
            check=False,
            cwd=tempfile.gettempdir(),  # where a crash journal would go
        )
    Path(file.name).unlink()
    if done.returncode:
        sys.exit(f"target-kibo-inventory failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def print_requests(states: list[dict]) -> None:
    print("Requests accepted by Increff (from the target's STATE output):")
    print(f"  {'location':18}  {'items':>5}  {'succeeded':>9}  {'failed':>6}  stream")
    for emitted in states:
        for entry in emitted["kibo_inventory"].get("requests", []):
            print(
                f"  {entry['locationCode']:18}  {entry['items']:>5}  {entry['succeeded']:>9}  "
                f"{entry['failed']:>6}  {entry['stream']}"
            )


def print_jobs(url: str, states: list[dict]) -> None:
    print("Jobs accepted by Kibo (from the target's STATE output):")
    print(f"  {'jobID':>5}  {'operation':9}  {'location':18}  {'items':>5}  {'stream':16} status")
    for emitted in states:
        for job in emitted["kibo_inventory"]["jobs"]:
            status = get(f"{url}/emulator/jobs/{job['jobID']}")["status"]
            print(
                f"  {job['jobID']:>5}  {job['operation']:9}  {job['locationName']:18}  "
                f"{job['items']:>5}  {job['stream']:16} {status}"
            )


def print_stock(url: str) -> None:
    rows = get(f"{url}/emulator/inventory?wait=1")["inventory"]
    print("\nStock in the emulator after the jobs ran:")
    print(f"  {'location':18}  {'sku':14}  {'upc':13}  {'quantity':>8}")
    for row in rows:
        print(
            f"  {row['locationName']:18}  {row.get('sku', ''):14}  {row.get('upc', ''):13}  "
            f"{row['quantity']:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destination", choices=("kibo", "increff"), default="kibo")
    destination = parser.parse_args().destination
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = subprocess.Popen(
        [
            *(str(BIN / "kibo-emulator"), "--port", str(port), "--tenant", TENANT),
            *("--api-key", API_KEY, "--api-secret", API_SECRET),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(url, emulator)
        print(f"OMS emulator running at {url} (Kibo tenant '{TENANT}', Increff domain 'demo')\n")
        states = run_target(url, destination)
        if destination == "increff":
            print_requests(states)
        else:
            print_jobs(url, states)
        print("\nState emitted by the target (the tap's bookmarks plus what was accepted):")
        for emitted in states:
            print("  " + json.dumps(emitted))
        print_stock(url)
    finally:
        emulator.terminate()
        emulator.wait()
    print("\nEmulator stopped.")


if __name__ == "__main__":
    main()
