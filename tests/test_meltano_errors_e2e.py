"""Under `meltano run`, a failed run ends with the target's ERROR line in sight: the tap (a small
one: 3000 rows of CSV, many times a pipe's buffer) ends cleanly, with no broken-pipe traceback
from it or from Meltano, and after the target's ERROR line come only Meltano's own closing lines.
A wrong API key (the credentials check) and a mapping error (the schema check)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from target_kibo_inventory.emulator.server import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    DEMO_TENANT,
    KIBO_TOKEN_PATH,
    Emulator,
)
from tests.harness import EmulatorClient
from tests.outside import report
from tests.test_meltano_e2e import Meltano, _project

ROWS = 3000
MELTANO_CLOSING_LINES = 3
"""What Meltano prints after a failed loader: "Loader failed", "Block run completed", "Run
completed"."""
NOISE = ("Traceback", "BrokenPipeError", "Event loop is closed", "ConnectionResetError")


@pytest.fixture(scope="module")
def project(tmp_path_factory, meltano_executable) -> Iterator[tuple[Path, EmulatorClient]]:
    """This repository's Meltano project, installed, with a CSV of 3000 rows; an emulator."""
    project = _project(tmp_path_factory.mktemp("errors"))
    path = project / "examples" / "inventory.csv"
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {**rows[i % len(rows)], "sku": f"{rows[i % len(rows)]['sku']}-{i}"} for i in range(ROWS)
        )
    Meltano(meltano_executable, project)("install")
    server = Emulator(DEMO_TENANT, DEMO_API_KEY, DEMO_API_SECRET)
    url = server.start("127.0.0.1", 0)
    yield project, EmulatorClient(url, DEMO_TENANT, DEMO_API_KEY, DEMO_API_SECRET)
    server.stop()


def _failed_run(meltano_executable: str, project: tuple[Path, EmulatorClient], **env: str) -> str:
    """`meltano run tap-spreadsheets target-kibo-inventory`, as a user sees it: it fails and
    the last thing the target logged is its ERROR line, followed only by Meltano's closing
    lines; returns that ERROR line."""
    folder, emulator = project
    meltano = Meltano(
        meltano_executable,
        folder,
        TARGET_KIBO_INVENTORY_BASE_URL=emulator.url,
        TARGET_KIBO_INVENTORY_AUTH_URL=emulator.url + KIBO_TOKEN_PATH,
        **env,
    )
    done, _ = meltano("run", "tap-spreadsheets", "target-kibo-inventory", check=False)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    for noise in NOISE:
        assert noise not in output, output
    lines = output.strip().splitlines()
    assert f"metric_name=record_count metric_value={ROWS}" in output  # the tap ended cleanly
    [last_error] = [i for i, line in enumerate(lines) if "[error" in line and "target-kibo" in line]
    after = lines[last_error + 1 :]
    assert len(after) <= MELTANO_CLOSING_LINES, after
    assert all(" meltano " in line for line in after), after
    assert emulator.api_requests() == []
    return lines[last_error]


@pytest.mark.meltano
def test_a_wrong_key_is_the_last_thing_meltano_run_shows(project, meltano_executable, capsys):
    error = _failed_run(
        meltano_executable, project, TARGET_KIBO_INVENTORY_API_KEY="not-the-demo-key"
    )
    assert "The credentials check at start-up" in error
    assert "Kibo refused the tenant or API key (HTTP 401)" in error
    report(capsys, f"wrong key under meltano run, the target's last line: {error[:160]}…")


@pytest.mark.meltano
def test_a_mapping_error_is_the_last_thing_meltano_run_shows(project, meltano_executable, capsys):
    error = _failed_run(
        meltano_executable, project, TARGET_KIBO_INVENTORY_FIELD_MAP='{"quantity": "qty"}'
    )
    assert "Stream 'inventory' cannot be loaded into destination 'kibo'" in error
    assert "'qty' (field_map.quantity)" in error
    report(capsys, f"mapping error under meltano run, the target's last line: {error[:160]}…")
