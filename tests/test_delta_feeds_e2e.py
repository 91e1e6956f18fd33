"""Delta feeds (README, "Delta feeds"): the two layouts that send each movement once, run with
the real taps.

- One new file per batch, read with a glob: tap-spreadsheets in a Meltano project skips the files
  it read before, so a second batch file moves the stock by its own movements only.
- A movements table with an incremental key: tap-postgres selects the rows at or after its
  bookmark, so the row at the bookmark comes again; closing each batch with a movement of 0 and
  reading a view that stops at the newest one makes that row one that moves nothing (a stream map
  drops it).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from target_kibo_inventory.feeds import resend_warning
from tests.harness import TARGET
from tests.outside import postgres_server, report
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


TABLE = """
CREATE TABLE movements (
    movement_id bigserial PRIMARY KEY,
    store text NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL
);
CREATE VIEW movements_closed AS
  SELECT * FROM movements
  WHERE movement_id <= (SELECT max(movement_id) FROM movements WHERE quantity = 0);
"""
STREAM = "public-movements_closed"
CLOSING_ROW = "INSERT INTO movements (store, sku, quantity) VALUES ('-', '-', 0);"


def _insert(db, batch: list[tuple[str, str, str, str]]) -> None:
    """A batch of movements and its closing row of quantity 0, in one transaction."""
    values = ", ".join(f"('{store}', '{sku}', {qty})" for _, store, sku, qty in batch)
    db.psql(
        f"BEGIN; INSERT INTO movements (store, sku, quantity) VALUES {values}; {CLOSING_ROW}"
        " COMMIT;"
    )


def _catalog(tap: str, config: Path) -> Path:
    done = subprocess.run(
        [tap, "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    catalog = json.loads(done.stdout)
    [entry] = [s for s in catalog["streams"] if s["tap_stream_id"] == STREAM]
    for item in entry["metadata"]:
        if item["breadcrumb"] == []:
            item["metadata"].update(
                {
                    "selected": True,
                    "replication-method": "INCREMENTAL",
                    "replication-key": "movement_id",
                }
            )
    catalog["streams"] = [entry]
    path = config.with_name("catalog.json")
    path.write_text(json.dumps(catalog))
    return path


def _sync(tap: str, folder: Path, catalog: Path, state: dict | None) -> tuple[list[dict], dict]:
    """tap-postgres, then the target on what it wrote; its records, the target's last STATE."""
    state_args = []
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        state_args = ["--state", str(folder / "state.json")]
    output = folder / "tap-output.jsonl"
    with output.open("w") as out, (folder / "tap.log").open("w") as log:
        subprocess.run(
            [tap, "--config", str(folder / "tap.json"), "--catalog", str(catalog), *state_args],
            stdout=out,
            stderr=log,
            check=True,
            timeout=300,
        )
    with output.open() as tap_output:
        target = subprocess.run(
            [TARGET, "--config", str(folder / "target.json")],
            stdin=tap_output,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert target.returncode == 0, target.stderr
    messages = [json.loads(line) for line in output.read_text().splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    return records, json.loads(target.stdout.splitlines()[-1])


@pytest.mark.postgres
def test_a_movements_table_closed_by_a_row_of_zero(
    tmp_path, emulator, tap_postgres_executable, capsys
):
    with postgres_server() as db:
        db.psql("CREATE DATABASE inventory")
        db.database = "inventory"
        db.psql(TABLE)
        (tmp_path / "tap.json").write_text(
            json.dumps({**db.tap_config(), "filter_schemas": ["public"]})
        )
        config = emulator.config(
            field_map={"locationName": "store"},
            stream_operations={STREAM: "adjust"},
            stream_maps={STREAM: {"__filter__": "quantity != 0"}},
        )
        (tmp_path / "target.json").write_text(json.dumps(config))
        catalog = _catalog(tap_postgres_executable, tmp_path / "tap.json")

        _insert(db, BATCHES[0])
        first, state = _sync(tap_postgres_executable, tmp_path, catalog, None)
        assert [r["quantity"] for r in first][-1] == 0  # the closing row is the bookmark
        assert emulator.stock() == _moved(BATCHES[0])

        _insert(db, BATCHES[1])
        db.psql("INSERT INTO movements (store, sku, quantity) VALUES ('Boston', 'LATE', 9);")
        second, state = _sync(tap_postgres_executable, tmp_path, catalog, state)
        # The row at the bookmark came again (the tap selects >=): the first closing row.
        assert second[0] == first[-1]
        assert len(second) == 1 + len(BATCHES[1]) + 1  # not the row after the newest closing one
        assert emulator.stock() == _moved(*BATCHES)

        third, _ = _sync(tap_postgres_executable, tmp_path, catalog, state)
        assert [r["movement_id"] for r in third] == [second[-1]["movement_id"]]
        assert emulator.stock() == _moved(*BATCHES)
        report(
            capsys,
            f"movements table: run 1 read {len(first)} rows, run 2 {len(second)} (the closing row "
            f"at the bookmark again), run 3 {len(third)}; stock == each movement applied once",
        )
