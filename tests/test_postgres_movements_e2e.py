"""End to end: a movements table replicated incrementally by the real tap-postgres, as adjust.

tap-postgres selects the rows at its bookmark again on every run (`>=`). Each run here is a
separate `tap-postgres | target-kibo-inventory` in a fresh working directory (no journal
folder carried over: an ephemeral container), given only the state of the run before; the
stock after each run must be the sum of the table's deltas.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.outside import Postgres, postgres_server, report
from tests.test_postgres_e2e import _sync

pytestmark = pytest.mark.postgres

STREAM = "public-movements"
CREATE = """
CREATE TABLE movements (
    id bigserial PRIMARY KEY,
    store text NOT NULL,
    sku text NOT NULL,
    delta integer NOT NULL,
    moved_at timestamptz NOT NULL
);
"""
RUNS = [
    [("A", 5, 1), ("B", 3, 1), ("A", -1, 2)],
    [],  # no new row: the tap reads the rows at its bookmark again
    [("A", 2, 2)],  # committed late, with the timestamp of the last rows
    [],
    [("B", -4, 3), ("A", 1, 3), ("C", 7, 3)],  # several rows share the new maximum
]
"""Each run's new rows: (sku, delta, seconds after midnight of moved_at)."""


@pytest.fixture
def database() -> Iterator[Postgres]:
    with postgres_server() as server:
        server.psql("CREATE DATABASE inventory")
        server.database = "inventory"
        server.psql(CREATE)
        yield server


def _catalog(tap: str, config: Path, workdir: Path, key: str) -> Path:
    """Discover, select `movements`, replicate it incrementally on `key`."""
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
                {"selected": True, "replication-method": "INCREMENTAL", "replication-key": key}
            )
    catalog["streams"] = [entry]
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def _table_sums(db: Postgres) -> dict[tuple[str, str], int]:
    rows = db.psql("SELECT store, sku, sum(delta) FROM movements GROUP BY store, sku")
    return {(store, sku): int(total) for store, sku, total in rows}


@pytest.mark.parametrize("key", ["id", "moved_at"])
def test_movements_read_again_at_the_bookmark_apply_once_in_fresh_working_directories(
    database, emulator, tmp_path, capsys, tap_postgres_executable, key
):
    tap = tap_postgres_executable
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps({**database.tap_config(), "filter_schemas": ["public"]}))
    catalog = _catalog(tap, tap_config, tmp_path, key)
    config = emulator.config(
        operation="adjust", field_map={"locationName": "store", "quantity": "delta"}
    )
    state = None
    lines = []
    for number, rows in enumerate(RUNS, 1):
        for sku, delta, second in rows:
            database.psql(
                "INSERT INTO movements (store, sku, delta, moved_at) VALUES "
                f"('Store 1', '{sku}', {delta}, timestamptz '2026-12-01 00:00:00+00' "
                f"+ {second} * interval '1 second')"
            )
        workdir = tmp_path / f"run-{number}"  # a fresh working directory: no journal folder
        workdir.mkdir()
        target_config = workdir / "target.json"
        target_config.write_text(json.dumps(config))
        state, seconds = _sync(tap, tap_config, catalog, target_config, state)
        sums = _table_sums(database)
        stock = emulator.stock()
        lines.append(f"run {number} ({key}): {len(rows)} new row(s), stock {stock}, {seconds:.1f}s")
        assert stock == sums, f"run {number}"
        assert "did the tap fail?" not in (workdir / "target.log").read_text()
    report(capsys, *lines)
    applied = Counter(j["type"] for j in emulator.jobs())
    assert applied == {"ADJUST": 3}  # runs 1, 3 and 5 sent movements; 2 and 4 nothing
