"""The README, meltano.yml, meltano-plugin.yml and CI stay true to the code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from tests.harness import BIN, TARGET
from tests.sync_docs import render_meltano_yml, render_plugin_yml

ROOT = Path(__file__).resolve().parents[1]


def _about(fmt: str) -> str:
    return subprocess.run(
        [TARGET, "--about", f"--format={fmt}"], capture_output=True, text=True, check=True
    ).stdout


def test_readme_settings_table_is_the_about_output():
    about = _about("markdown")
    table = about[about.index("| Setting |") :].split("\n\n")[0]
    assert table in (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_test_command():
    readme_commands = (ROOT / "README.md").read_text().split("```bash\n")[1].split("```")[0]
    demo, tests = readme_commands.strip().splitlines()
    assert "examples/demo.py" in demo
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == tests


def test_ci_runs_the_readme_lint_line_before_the_tests():
    readme = (ROOT / "README.md").read_text()
    development = readme[readme.index("## Development") :].split("```bash\n")[1].split("```")[0]
    [lint] = [
        line.split("   #")[0].strip() for line in development.splitlines() if "# lint" in line
    ]
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert lint in ci_lines[:-1]
    assert "mypy" in lint
    assert "ruff check" in lint


def test_meltano_yml_defines_every_setting_with_a_kind():
    settings = json.loads(_about("json"))["settings"]["properties"]
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [loader] = project["plugins"]["loaders"]
    assert loader["namespace"] == "target_kibo_inventory"
    assert loader["pip_url"] == "-e ."
    assert loader["executable"] == "target-kibo-inventory"
    defined = {s["name"]: s for s in loader["settings"]}
    assert set(defined) == set(settings)
    assert all(s.get("kind") for s in defined.values())
    for secret in ("api_key", "api_secret"):
        assert defined[secret]["kind"] == "password"
        assert defined[secret]["sensitive"] is True


def test_meltano_yml_and_the_plugin_definition_are_the_generator_output():
    about = json.loads(_about("json"))
    stale = "stale: regenerate with .venv/bin/python -m tests.sync_docs"
    meltano = (ROOT / "meltano.yml").read_text()
    assert meltano == render_meltano_yml(meltano, about), f"meltano.yml is {stale}"
    plugin = (ROOT / "meltano-plugin.yml").read_text()
    assert plugin == render_plugin_yml(about), f"meltano-plugin.yml is {stale}"


# The emulator's fault settings as the README's "The emulator" section gives them.

FAULT_VALUES = {
    "seed": 7,
    "error_rate": 0.25,
    "error_statuses": [503],
    "rate_limit_rate": 0.25,
    "retry_after": 2.5,
    "drop_before_rate": 0.25,
    "drop_after_rate": 0.25,
    "latency": 0.5,
    "step_seconds": 0.5,
    "fail_sku_prefix": "FAIL-",
    "increff_reject_sku_prefix": "REJECT-",
}
"""A value each fault setting accepts, other than its default (by the emulator's name)."""
SYNONYMS = {"fault_seed": "seed"}


def _emulator_section() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## The emulator\n") + 1 :]
    return section[: section.index("\n## ")]


def _faults_bullet() -> str:
    """The section's bullet that lists the faults (up to the next top-level bullet)."""
    section = _emulator_section()
    start = section.index("\n- Faults") + 1
    end = section.find("\n- ", start)
    return section[start : end if end > 0 else None]


def _readme_fault_flags() -> list[str]:
    return re.findall(r"`(--[a-z][a-z0-9-]*)`", _faults_bullet())


def _readme_fault_names() -> list[str]:
    """The POST /emulator/faults names: the flags in snake_case ("the same names in
    snake_case") and each snake_case name quoted beside them (the bullet's own sentence,
    before the list of what the faults give)."""
    flags = [flag[2:].replace("-", "_") for flag in _readme_fault_flags()]
    sentence = _faults_bullet().split("\n  - ")[0]
    quoted = re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)*)`", sentence)
    return list(dict.fromkeys([*flags, *quoted]))


def _value(name: str) -> object:
    return FAULT_VALUES[SYNONYMS.get(name, name)]


def test_the_readme_emulator_section_names_the_fault_settings_and_seed():
    section = _emulator_section()
    assert "`seed`" in section
    assert "`fault_seed`" in section
    assert "POST\n  /emulator/faults" in section or "POST /emulator/faults" in section
    flags = _readme_fault_flags()
    assert "--fault-seed" in flags
    assert len(flags) >= 10, flags
    assert {"seed", "fault_seed", "error_statuses"} <= set(_readme_fault_names())


@pytest.mark.parametrize("name", _readme_fault_names())
def test_each_fault_name_of_the_readme_is_accepted_by_post_emulator_faults(emulator, name):
    answer = requests.post(f"{emulator.url}/emulator/faults", json={name: _value(name)}, timeout=30)
    assert answer.status_code == 200, (name, answer.text)
    in_force = emulator.get("/emulator/faults")
    assert in_force[SYNONYMS.get(name, name)] == _value(name), name


def test_post_emulator_faults_refuses_a_name_it_does_not_know(emulator):
    answer = requests.post(f"{emulator.url}/emulator/faults", json={"eror_rate": 0.5}, timeout=30)
    assert answer.status_code == 400
    assert "eror_rate" in answer.text


@pytest.fixture(scope="module")
def emulator_help() -> str:
    done = subprocess.run(
        [str(BIN / "kibo-emulator"), "--help"], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_each_flag_of_the_readme_emulator_section_is_in_kibo_emulator_help(emulator_help):
    section = _emulator_section()
    usage = section.split("```bash\n")[1].split("```")[0]
    flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", usage)) | set(_readme_fault_flags())
    offered = set(re.findall(r"(--[a-z][a-z0-9-]*)", emulator_help))
    assert flags <= offered, sorted(flags - offered)


@pytest.mark.parametrize("flag", _readme_fault_flags())
def test_each_fault_flag_of_the_readme_is_accepted_by_kibo_emulator(flag):
    """argparse reads the flag and its value before `--help` prints and exits 0."""
    value = _value(flag[2:].replace("-", "_"))
    value = value[0] if isinstance(value, list) else value
    done = subprocess.run(
        [str(BIN / "kibo-emulator"), flag, str(value), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: kibo-emulator" in done.stdout


# What the target relies on: documented or assumed (issue 23, item 7)


def _documented_or_assumed() -> dict[str, str]:
    """The README's "What is documented, what is assumed" table: behaviour → its last cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## What is documented, what is assumed\n") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]
    assert all(len(row) == 3 for row in cells), [row for row in cells if len(row) != 3]
    return {row[0]: row[2] for row in cells}


@pytest.mark.parametrize(
    "behaviour",
    [
        "a tenant's accepted jobs run in order",
        "an accepted job is applied",
        "the translated host serves the job queue",
        "the API key itself as the bearer",
        "the answer names each SKU as it was sent",
    ],
)
def test_the_readme_marks_each_assumption_as_assumed(behaviour):
    [status] = [status for row, status in _documented_or_assumed().items() if behaviour in row]
    assert status.startswith("assumed"), status


def test_the_readme_says_what_the_target_no_longer_assumes():
    """Repeated items are collapsed before sending (issue 18); a FAILED job counts as not
    applied only with itemCount 0 (issue 17), which the spec's itemCount documents."""
    rows = _documented_or_assumed()
    [repeated] = [s for row, s in rows.items() if "repeated items in one request" in row]
    assert repeated.startswith("not relied on: a location's repeated items are collapsed")
    [failed] = [s for row, s in rows.items() if row.startswith("a FAILED job with `itemCount` 0")]
    assert failed == "documented"


def test_every_documented_row_names_its_document():
    rows = _documented_or_assumed()
    assert len(rows) >= 20
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## What is documented, what is assumed\n") :]
    for row in section.splitlines():
        if row.startswith("| ") and row.rstrip().endswith("| documented |"):
            document = row.strip("|").split(" | ")[1].strip()
            assert document not in ("", "none"), row


def test_the_readme_has_a_first_run_checklist_for_a_real_sandbox():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## A first run against a real Kibo sandbox\n") :]
    section = section[: section.index("\n## ", 1)]
    steps = re.findall(r"^\d\. \*\*(.+?)\*\*", section, re.MULTILINE)
    assert steps == ["Dry run.", "One location.", "The job in Kibo's queue."]
    assert '"dry_run": true' in section
    assert "job_log_path" in section
