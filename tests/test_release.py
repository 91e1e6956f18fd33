"""A release a team can pin: the version set in one place, the licence, the changelog."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

import target_kibo_inventory
from target_kibo_inventory import client
from tests.harness import TARGET
from tests.sync_docs import pinned_pip_urls, wheel

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.compile(r"\d+\.\d+\.\d+")
RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]


def test_the_version_is_set_in_pyproject_only_and_read_everywhere():
    version = _pyproject()["version"]
    assert VERSION.fullmatch(version)
    about = subprocess.run(
        [TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    assert json.loads(about.stdout)["version"] == version
    assert target_kibo_inventory.__version__ == version
    assert client._user_agent() == f"target-kibo-inventory/{version}"
    printed = subprocess.run([TARGET, "--version"], capture_output=True, text=True, check=True)
    assert f"target-kibo-inventory v{version}," in printed.stdout + printed.stderr
    # No other file of the package spells a version out.
    for path in (ROOT / "target_kibo_inventory").rglob("*.py"):
        assert not re.search(r"version__\s*=\s*['\"]\d+\.\d+", path.read_text()), path


def test_licence_is_the_full_apache_2_text():
    assert _pyproject()["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    for section in range(1, 10):
        assert re.search(rf"^\s+{section}\. [A-Z]", text, re.MULTILINE), section
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
    assert len(text.split()) > 1500  # the whole text, not a notice


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/en/1.1.0/)" in text
    assert "[Semantic Versioning](https://semver.org/spec/v2.0.0.html)" in text
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "[Unreleased]"
    released = RELEASE_HEADING.findall(text)
    assert len(released) == len(headings) - 1, "each release: ## [X.Y.Z] - YYYY-MM-DD"
    versions = [tuple(map(int, v.split("."))) for v, _ in released]
    assert versions == sorted(versions, reverse=True), "newest release first"
    if released:  # the newest release is the version pyproject.toml is at
        assert released[0][0] == _pyproject()["version"]
    for kind in re.findall(r"^### (.+)$", text, re.MULTILINE):
        assert kind in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kind
    # Each heading links to its changes once the repository has a public address; none is
    # made up before (pyproject.toml has no [project.urls] yet).
    repository = _pyproject().get("urls", {}).get("Repository")
    for heading in headings:
        name = heading.split("]")[0] + "]"
        link = re.search(rf"^{re.escape(name)}: (\S+)$", text, re.MULTILINE)
        assert bool(link) == bool(repository), name
        if link:
            assert link[1].startswith(repository), name


def test_changelog_names_what_this_release_adds():
    unreleased = (ROOT / "CHANGELOG.md").read_text().split("## [Unreleased]")[1].split("\n## ")[0]
    for name in ("max_invalid_records", "on_invalid_record", "field_map", "meltano-plugin.yml"):
        assert name in unreleased, name


def test_the_wheel_is_the_pinned_pip_url_form(tmp_path):
    """README "Installing": `pip wheel` of a clone writes the wheel that meltano-plugin.yml's
    pinned `pip_url` names (built here without the package index: hatchling is a dev
    dependency)."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    done = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    version = _pyproject()["version"]
    [built] = [path.name for path in tmp_path.glob("*.whl")]
    assert built == wheel(version)
    assert f"extract/{built}" in pinned_pip_urls(version, None)
    with zipfile.ZipFile(tmp_path / built) as archive:
        names = archive.namelist()
    assert "target_kibo_inventory/emulator/show.py" in names
    assert not [name for name in names if name.startswith("tests/")]
