"""The README, docs/, meltano.yml, meltano-plugin.yml and CI stay true to the code."""

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
DOCS = ROOT / "docs"


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


def test_ci_runs_the_documented_lint_line_before_the_tests():
    """The lint line of docs/development.md's first commands."""
    development = (DOCS / "development.md").read_text().split("```bash\n")[1].split("```")[0]
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


# The emulator's fault settings as docs/emulator.md gives them.

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
    """docs/emulator.md, its title and all."""
    return (DOCS / "emulator.md").read_text()


def _faults_bullet() -> str:
    """The section's bullet that lists the faults (up to the next top-level bullet)."""
    section = _emulator_section()
    start = section.index("\n- Faults") + 1
    end = section.find("\n- ", start)
    return section[start : end if end > 0 else None]


def _documented_fault_flags() -> list[str]:
    return re.findall(r"`(--[a-z][a-z0-9-]*)`", _faults_bullet())


def _documented_fault_names() -> list[str]:
    """The POST /emulator/faults names: the flags in snake_case ("the same names in
    snake_case") and each snake_case name quoted beside them (the bullet's own sentence,
    before the list of what the faults give)."""
    flags = [flag[2:].replace("-", "_") for flag in _documented_fault_flags()]
    sentence = _faults_bullet().split("\n  - ")[0]
    quoted = re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)*)`", sentence)
    return list(dict.fromkeys([*flags, *quoted]))


def _value(name: str) -> object:
    return FAULT_VALUES[SYNONYMS.get(name, name)]


def test_the_emulator_docs_name_the_fault_settings_and_seed():
    section = _emulator_section()
    assert "`seed`" in section
    assert "`fault_seed`" in section
    assert "POST\n  /emulator/faults" in section or "POST /emulator/faults" in section
    flags = _documented_fault_flags()
    assert "--fault-seed" in flags
    assert len(flags) >= 10, flags
    assert {"seed", "fault_seed", "error_statuses"} <= set(_documented_fault_names())


@pytest.mark.parametrize("name", _documented_fault_names())
def test_each_documented_fault_name_is_accepted_by_post_emulator_faults(emulator, name):
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


def test_each_flag_of_the_emulator_docs_is_in_kibo_emulator_help(emulator_help):
    section = _emulator_section()
    usage = section.split("```bash\n")[1].split("```")[0]
    flags = set(re.findall(r"(--[a-z][a-z0-9-]*)", usage)) | set(_documented_fault_flags())
    offered = set(re.findall(r"(--[a-z][a-z0-9-]*)", emulator_help))
    assert flags <= offered, sorted(flags - offered)


@pytest.mark.parametrize("flag", _documented_fault_flags())
def test_each_documented_fault_flag_is_accepted_by_kibo_emulator(flag):
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


def _documented_or_assumed_section() -> str:
    return (DOCS / "documented-and-assumed.md").read_text()


def _documented_or_assumed() -> dict[str, str]:
    """The "What is documented, what is assumed" table: behaviour → its last cell."""
    section = _documented_or_assumed_section()
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
def test_the_docs_mark_each_assumption_as_assumed(behaviour):
    [status] = [status for row, status in _documented_or_assumed().items() if behaviour in row]
    assert status.startswith("assumed"), status


def test_the_docs_say_what_the_target_no_longer_assumes():
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
    for row in _documented_or_assumed_section().splitlines():
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


# Links: every relative link of the README and docs/ names a file that exists, and a heading of it


DOCUMENTS = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text without its code: fenced blocks and code spans hold no links."""
    return CODE_SPAN.sub("", FENCED.sub("", text))


def heading_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped,
    spaces as `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings; a repeated one gets `-1`, `-2`, … as on
    GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCED.sub("", path.read_text()), re.MULTILINE):
        slug = heading_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(path: Path) -> list[str]:
    links = LINK.findall(_prose(path.read_text()))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_heading_slug_is_githubs():
    assert heading_slug("Mapping records: `field_map`") == "mapping-records-field_map"
    assert heading_slug("State, resume and job tracking") == "state-resume-and-job-tracking"
    assert heading_slug("Job tracking: `wait_for_jobs`") == "job-tracking-wait_for_jobs"
    assert heading_slug("What is documented, what is assumed") == (
        "what-is-documented-what-is-assumed"
    )


def test_anchors_number_repeated_headings_and_skip_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Dry run\n\n```bash\n# not a heading\n```\n\n## Dry run\n")
    assert anchors(page) == {"title", "dry-run", "dry-run-1"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_names_a_file_and_a_heading_of_it(document):
    links = relative_links(document)
    assert links, f"{document.name} links to no other part of the documentation"
    broken = []
    for link in links:
        target, _, anchor = link.partition("#")
        file = (document.parent / target).resolve() if target else document
        if not file.exists():
            broken.append(f"{link}: no file {file.relative_to(ROOT)}")
        elif anchor and anchor not in anchors(file):
            broken.append(f"{link}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, broken


def test_the_readme_links_every_file_of_docs():
    linked = {
        (ROOT / link.partition("#")[0]).resolve() for link in relative_links(ROOT / "README.md")
    }
    assert len(DOCUMENTS) > 1
    assert not [path.name for path in DOCUMENTS[1:] if path.resolve() not in linked]
