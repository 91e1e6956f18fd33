"""Delta feeds (README, "Delta feeds"): one new file per batch, read with a glob, run with the
real tap: tap-spreadsheets in a Meltano project skips the files it read before, so a second batch
file moves the stock by its own movements only. (A movements table read incrementally:
tests/test_postgres_movements_e2e.py.)
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from target_kibo_inventory.feeds import resend_warning
from tests.test_meltano_e2e import Meltano, _project

BATCHES = [
    [("M1", "Boston", "TEE", "-3"), ("M2", "Boston", "CAP", "5"), ("M3", "Austin", "TEE", "2")],
    [("M4", "Boston", "TEE", "-1"), ("M5", "Austin", "HAT", "7")],
]
"""Two batches of movements: movement_id, store, sku, movement_qty."""


def _write_batch(folder: Path, number: int, mtime: float) -> None:
    """Write a batch under another name, then move it into the folder the glob reads."""
    draft = folder.parent / f"batch-{number:03}.csv.part"
    with draft.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["movement_id", "store", "sku", "movement_qty"])
        writer.writerows(BATCHES[number - 1])
    os.utime(draft, (mtime, mtime))  # whole seconds apart, as the tap compares them
    draft.rename(folder / f"batch-{number:03}.csv")


def _moved(*batches: list[tuple[str, str, str, str]]) -> dict[tuple[str, str], int]:
    """(store, sku) → the sum of these movements, from an empty stock."""
    total: Counter[tuple[str, str]] = Counter()
    for batch in batches:
        for _, store, sku, qty in batch:
            total[(store, sku)] += int(qty)
    return dict(total)


@pytest.mark.meltano
def test_one_new_file_per_batch_read_with_a_glob(tmp_path, dev_emulator, meltano_executable):
    project = _project(tmp_path)
    movements = project / "movements"
    movements.mkdir()
    files = [
        {
            "path": f"{movements}/*.csv",
            "format": "csv",
            "table_name": "movements",
            "primary_keys": ["movement_id"],
        }
    ]
    meltano = Meltano(
        meltano_executable,
        project,
        TAP_SPREADSHEETS_FILES=json.dumps(files),
        TARGET_KIBO_INVENTORY_BASE_URL=dev_emulator.url,
        TARGET_KIBO_INVENTORY_AUTH_URL=dev_emulator.url + KIBO_TOKEN_PATH,
        TARGET_KIBO_INVENTORY_STREAM_OPERATIONS='{"movements": "adjust"}',
        TARGET_KIBO_INVENTORY_STREAM_FIELD_MAPS='{"movements": {"quantity": "movement_qty"}}',
    )
    meltano("install")
    started = (project / "meltano.yml").stat().st_mtime // 1

    _write_batch(movements, 1, started - 60)
    events, _ = meltano.run()
    first = dev_emulator.api_requests()
    assert {r["operation"] for r in first} == {"adjust"}
    assert dev_emulator.stock() == _moved(BATCHES[0])
    warning = resend_warning("movements", ["_sdc_last_modified"])
    assert [e["event"] for e in events if e.get("event") == warning] == [warning]

    _write_batch(movements, 2, started - 30)
    meltano.run()
    second = dev_emulator.api_requests()[len(first) :]
    assert sum(r["items"] for r in second) == len(BATCHES[1])  # batch 1 was not sent again
    assert dev_emulator.stock() == _moved(*BATCHES)

    meltano.run()  # no new file: nothing is sent
    assert len(dev_emulator.api_requests()) == len(first) + len(second)
    assert dev_emulator.stock() == _moved(*BATCHES)
