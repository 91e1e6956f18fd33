"""End to end: movements that an incremental tap reads again at its bookmark apply once.

The tap here (tests/incremental_tap.py) selects `>= bookmark` like the SDK's SQL taps, but hands
back only its own bookmark keys: the target relies on its journal folder, which the runs share.
tests/test_postgres_e2e.py shows the same with the real tap-postgres and a fresh folder per run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import TARGET

pytestmark = pytest.mark.slow  # several CLI runs each, waiting on the tap and the emulator

TAP = [sys.executable, str(Path(__file__).with_name("incremental_tap.py"))]
FIELD_MAP = {"locationName": "store", "quantity": "delta"}


def _sync(workdir: Path, config: dict, rows: list[dict], key: str, state: dict | None):
    """incremental_tap | target-kibo-inventory in `workdir`; the run and its last STATE."""
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "rows.json").write_text(json.dumps(rows))
    resume: list[str] = []
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        resume = ["--state", "state.json"]
    with subprocess.Popen(
        [*TAP, "--rows", "rows.json", "--key", key, *resume], stdout=subprocess.PIPE, cwd=workdir
    ) as tap:
        run = subprocess.run(
            [TARGET, "--config", "config.json"],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=120,
            check=False,
        )
    assert tap.returncode == 0
    states = [json.loads(line) for line in run.stdout.splitlines()]
    return run, (states[-1] if states else state)


def _stock(rows: list[dict]) -> dict[tuple[str, str], int]:
    stock: Counter[tuple[str, str]] = Counter()
    for row in rows:
        stock[(row["store"], row["sku"])] += row["delta"]
    return dict(stock)


BATCHES = [
    [("A", 5, 1), ("B", 3, 1), ("A", -1, 2)],
    [],  # nothing new: the tap reads the rows at its bookmark again
    [("A", 2, 2)],  # a late row with the bookmark's value (moved_at), or a new id
    [],
    [("B", -4, 3), ("A", 1, 3), ("C", 7, 3)],
]
"""Five runs' new rows: (sku, delta, moved_at)."""


@pytest.mark.parametrize("key", ["id", "moved_at"])
def test_a_tap_handing_back_only_its_bookmark_reapplies_nothing_with_a_kept_journal(
    emulator, tmp_path, key
):
    config = emulator.config(operation="adjust", field_map=FIELD_MAP)
    rows: list[dict] = []
    state = None
    for batch in BATCHES:
        rows += [
            {"id": len(rows) + n + 1, "store": "S", "sku": sku, "delta": delta, "moved_at": at}
            for n, (sku, delta, at) in enumerate(batch)
        ]
        run, state = _sync(tmp_path, config, rows, key, state)
        assert run.returncode == 0, run.stderr
        assert emulator.stock() == _stock(rows), f"after {len(rows)} rows"
        assert "did the tap fail?" not in run.stderr
    assert state["bookmarks"]["movements"]["replication_key_value"] == rows[-1][key]
