"""End to end with Meltano: this repository's meltano.yml in a fresh project, three `meltano run`s.
(The README's quick start in a new project: tests/test_quick_start_e2e.py.)

The project is a temp folder holding `meltano.yml` (the loader's `pip_url` pointed at this
checkout) and the sample CSV. `meltano install` builds both plugins' virtual environments from
PyPI and this checkout; the extractor is `tap-spreadsheets` as defined in `meltano.yml`, the
loader reaches the emulator through the `dev` environment's settings, with only `base_url` and
`auth_url` overridden by environment variables (the emulator listens on a free port).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from tests.harness import EmulatorClient
from tests.outside import ROOT, report
from tests.sync_docs import HUB_ONLY

STATE_ID = "dev:tap-spreadsheets-to-target-kibo-inventory"
RUN = ("--log-format=json", "run", "tap-spreadsheets", "target-kibo-inventory")


class Meltano:
    """The meltano CLI in one project directory, with a clean environment."""

    def __init__(self, executable: str, project: Path, **env: str) -> None:
        self.executable = executable
        self.project = project
        prefixes = ("MELTANO_", "TARGET_KIBO_INVENTORY_", "TAP_SPREADSHEETS_", "VIRTUAL_ENV")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        self.env["PATH"] = f"{Path(executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        # Nothing off this machine but PyPI (for `meltano install`): no Hub, no telemetry.
        self.env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        self.env["MELTANO_SNOWPLOW_COLLECTOR_ENDPOINTS"] = "[]"
        self.env["MELTANO_HUB_URL"] = self.env["MELTANO_HUB_API_ROOT"] = "http://127.0.0.1:9"
        self.env.update(env)

    def __call__(
        self, *args: str, shell: bool = False, check: bool = True
    ) -> tuple[subprocess.CompletedProcess, float]:
        """Run `meltano ARGS` (or, with shell, the command line ARGS[0]) in the project; with
        check, it must succeed."""
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", args[0]] if shell else [self.executable, *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done, time.monotonic() - started

    def run(self) -> tuple[list[dict], float]:
        """`meltano run tap-spreadsheets target-kibo-inventory`: its JSON log events, seconds."""
        done, seconds = self(*RUN)
        events = []
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events, seconds

    def state(self) -> dict:
        """The state Meltano stored for the pipeline."""
        done, _ = self("state", "get", STATE_ID)
        return json.loads(done.stdout)["singer_state"]


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "examples").mkdir(parents=True)
    text = (ROOT / "meltano.yml").read_text()
    assert text.count("pip_url: -e .\n") == 1
    (project / "meltano.yml").write_text(text.replace("pip_url: -e .\n", f"pip_url: -e {ROOT}\n"))
    shutil.copy(ROOT / "examples" / "inventory.csv", project / "examples" / "inventory.csv")
    return project


def _expected(path: Path) -> dict[tuple[str, str], dict]:
    """The stock the CSV describes, as the emulator shows it (field_map: store, aisle)."""
    with path.open(newline="") as file:
        return {
            (row["store"], row["sku"]): {
                "locationName": row["store"],
                "sku": row["sku"],
                "upc": row["upc"],
                "quantity": int(row["quantity"]),
                "safetyStock": int(row["safety_stock"]),
                "inventoryLocatorName": row["aisle"],
            }
            for row in csv.DictReader(file)
        }


def _stock(emulator: EmulatorClient) -> dict[tuple[str, str], dict]:
    return {(r["locationName"], r["sku"]): r for r in emulator.inventory()}


def _bookmark(path: Path) -> str:
    """tap-spreadsheets' bookmark: the file's modification time, in whole seconds, UTC."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return mtime.replace(microsecond=0).isoformat()


def _by_id(jobs: list[dict]) -> list[dict]:
    """Jobs by job ID: locations are sent in parallel, so they are accepted in any order."""
    return sorted(jobs, key=lambda job: job["jobID"])


def _jobs(requests: list[dict]) -> list[dict]:
    """The state's job entries for these requests, by job ID."""
    return _by_id(
        [
            {
                "jobID": r["jobID"],
                "operation": "refresh",
                "locationName": r["locationName"],
                "items": r["items"],
                "stream": "inventory",
            }
            for r in requests
        ]
    )


def _change_counts(path: Path) -> int:
    """Give every third row a new quantity; make sure the file's mtime moves on a second."""
    before = path.stat().st_mtime
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows[::3]:
        row["quantity"] = str((int(row["quantity"]) + 17) % 80)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if int(path.stat().st_mtime) <= int(before):
        os.utime(path, (before + 2, before + 2))
    return len(rows[::3])


@pytest.mark.meltano
def test_meltano_run_three_times(tmp_path, dev_emulator, capsys, meltano_executable):
    meltano = Meltano(
        meltano_executable,
        _project(tmp_path),
        TARGET_KIBO_INVENTORY_BASE_URL=dev_emulator.url,
        TARGET_KIBO_INVENTORY_AUTH_URL=dev_emulator.url + KIBO_TOKEN_PATH,
    )
    csv_path = meltano.project / "examples" / "inventory.csv"
    _, install_seconds = meltano("install")

    # 1: everything in the CSV
    events, first_seconds = meltano.run()
    first = dev_emulator.api_requests()
    assert _stock(dev_emulator) == _expected(csv_path)
    assert sorted(r["locationName"] for r in first) == sorted({k[0] for k in _expected(csv_path)})
    state = meltano.state()
    bookmark = {
        "replication_key": "_sdc_last_modified",
        "replication_key_value": _bookmark(csv_path),
    }
    assert state["bookmarks"] == {"inventory": bookmark}
    assert _by_id(state["kibo_inventory"]["jobs"]) == _jobs(first)
    # structured-logging: Meltano parsed the target's JSON log lines (the SDK parser's fields)
    accepted = [e for e in events if str(e.get("event", "")).startswith("Job ")]
    assert len(accepted) == len(first)
    assert all(e["plugin_logger"] == "target-kibo-inventory" for e in accepted)
    assert all(e["app_name"] == "singer-sdk" for e in accepted)

    # 2: the file is unchanged: the tap resumes from its bookmark and nothing is sent
    events, second_seconds = meltano.run()
    assert dev_emulator.api_requests() == first
    assert any(str(e.get("event", "")).startswith("Skipping ") for e in events)
    second_state = meltano.state()
    assert second_state == {"bookmarks": {"inventory": bookmark}, "kibo_inventory": {"jobs": []}}

    # 3: new counts in the file: the tap reads it again and the stock follows
    changed = _change_counts(csv_path)
    _, third_seconds = meltano.run()
    third = dev_emulator.api_requests()[len(first) :]
    assert _stock(dev_emulator) == _expected(csv_path)
    third_state = meltano.state()
    assert third_state["bookmarks"]["inventory"]["replication_key_value"] == _bookmark(csv_path)
    assert _by_id(third_state["kibo_inventory"]["jobs"]) == _jobs(third)

    rows = len(_expected(csv_path))
    report(
        capsys,
        f"meltano install (tap-spreadsheets + target-kibo-inventory): {install_seconds:.1f}s",
        f"meltano run 1: {len(first)} requests ({[r['items'] for r in first]} items), "
        f"stock == CSV ({rows} items), {first_seconds:.1f}s",
        f"  meltano state get {STATE_ID}: {json.dumps(state)}",
        f"meltano run 2 (file unchanged): 0 requests, {second_seconds:.1f}s",
        f"  state: {json.dumps(second_state)}",
        f"meltano run 3 ({changed} counts changed): {len(third)} requests "
        f"({[r['items'] for r in third]} items: the tap re-reads a changed file whole), "
        f"stock == CSV, {third_seconds:.1f}s",
        f"  state: {json.dumps(third_state)}",
    )


PLUGIN_YML = ROOT / "meltano-plugin.yml"


def _loader_definition() -> dict:
    """The loader of meltano.yml, installed from the clone in the project's extract/ folder."""
    [loader] = yaml.safe_load((ROOT / "meltano.yml").read_text())["plugins"]["loaders"]
    return {**loader, "pip_url": "-e extract/target-kibo-inventory"}


def test_plugin_definition_is_the_loader_of_meltano_yml():
    """But for pip_url and the Meltano Hub metadata a project does not keep."""
    definition = yaml.safe_load(PLUGIN_YML.read_text())
    kept = {k: v for k, v in definition.items() if k not in HUB_ONLY}
    assert kept == _loader_definition(), (
        "meltano-plugin.yml is stale: .venv/bin/python -m tests.sync_docs"
    )
