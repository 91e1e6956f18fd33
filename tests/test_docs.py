"""The README, meltano.yml, meltano-plugin.yml and CI stay true to the code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.helpers import TARGET
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
