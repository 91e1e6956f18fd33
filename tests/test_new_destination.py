"""Adding a destination is adding files (docs/development.md, "Adding a destination").

A copy of the package gets tests/new_destination/stockroom.py in `destinations/` and its emulator
side, stockroom_emulator.py, in `emulator/`; nothing else changes. The CLI and the emulator,
both run from the copy, then know the new API: `--about` lists its settings, records load into
the emulator over HTTP, a refused line is set aside, and the logs speak its words.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

import target_kibo_inventory
from tests.harness import EmulatorClient, lines, record, schema, state

PACKAGE = Path(target_kibo_inventory.__file__).parent
EXAMPLE = Path(__file__).parent / "new_destination"
TARGET_CLI = "from target_kibo_inventory.target import TargetKiboInventory as T; T.cli()"
EMULATOR_CLI = "from target_kibo_inventory.emulator.cli import main; main()"
KEY = "stockroom-token-0123456789"
DEAD_LETTERS = "kibo-inventory-dead-letter.jsonl"
"""The default dead_letter_path."""


def _package_with_the_new_files(root: Path) -> dict[str, str]:
    """A copy of the package with the two new files; the environment that imports it.

    Python finds the copy first on PYTHONPATH, but after the working folder (`-c`): the
    processes run elsewhere than in the repository.
    """
    copy = root / "target_kibo_inventory"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(EXAMPLE / "stockroom.py", copy / "destinations" / "stockroom.py")
    shutil.copy(EXAMPLE / "stockroom_emulator.py", copy / "emulator" / "stockroom.py")
    return {**os.environ, "PYTHONPATH": str(root)}


@contextlib.contextmanager
def _emulator(env: dict[str, str], cwd: Path) -> Iterator[EmulatorClient]:
    """The copy's emulator on a free port of 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", EMULATOR_CLI, "--port", str(port), "--api-key", KEY]
    process = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(requests.ConnectionError):
                requests.get(url + "/emulator/health", timeout=1)
                break
            time.sleep(0.1)
        yield EmulatorClient(url, "demo", KEY, "demo-secret")
    finally:
        process.kill()
        process.wait()


def test_a_destination_added_as_files_loads_records(tmp_path):
    env = _package_with_the_new_files(tmp_path / "site")
    about = subprocess.run(
        [sys.executable, "-c", TARGET_CLI, "--about", "--format=json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    assert settings["destination"]["enum"] == ["kibo", "increff", "stockroom"]
    assert settings["destination"]["description"].endswith(
        "`increff` (Increff OMS absolute inventory) or `stockroom` (a Stockroom inventory, the "
        "README's example)."
    )
    assert settings["stockroom_token"]["secret"] is True
    assert settings["stockroom_batch_items"]["default"] == 100

    with _emulator(env, tmp_path) as emulator:
        config = {
            "destination": "stockroom",
            "base_url": emulator.url,
            "stockroom_token": KEY,
            "stockroom_batch_items": 3,
            "on_invalid_record": "dead_letter",
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        stock = [record("stock", sku=f"A{i}", location_name="north", quantity=i) for i in range(5)]
        refused = record("stock", sku="X1", location_name="north", quantity=2)
        run = subprocess.run(
            [sys.executable, "-c", TARGET_CLI, "--config", "config.json"],
            input=lines([schema("stock"), *stock, refused, state({"b": 1})]),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert emulator.stock() == {("north", f"A{i}"): i for i in range(5)}
        sent = [r for r in emulator.requests() if r.get("destination") == "stockroom"]
    assert [(r["method"], r["items"], r["status"]) for r in sent] == [("PATCH", 3, 200)] * 2
    [dead] = [json.loads(line) for line in (tmp_path / DEAD_LETTERS).read_text().splitlines()]
    assert (dead["destination"], dead["identifier"], dead["position"]) == ("stockroom", "X1", 6)
    assert (
        "Accepted: stock update of 3 lines at location 'north' (stream stock); 2 succeeded, "
        "1 failed." in run.stderr
    )
    summary = next(line for line in run.stderr.splitlines() if "Summary (stockroom" in line)
    assert "6 records" in summary
    assert "cost steps" not in summary
    assert "jobs" not in summary
    assert json.loads(run.stdout.splitlines()[-1])["kibo_inventory"]["requests"][0]["store"] == (
        "north"
    )
