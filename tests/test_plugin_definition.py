"""meltano-plugin.yml is a plugin definition a team can pin and publish: Meltano Hub's metadata,
every setting of `--about` with its label, kind, options and default, settings groups that run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from singer_sdk.exceptions import ConfigValidationError

from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import TARGET
from tests.sync_docs import HUB_ONLY, SETTINGS_GROUPS, pinned_pip_urls, project_urls

ROOT = Path(__file__).resolve().parents[1]
MAINTENANCE_STATUSES = {"active", "beta", "development", "inactive", "unknown"}
"""Meltano Hub's `maintenance_status` values (hub_metadata.schema.json)."""
HUB_KINDS = {"oauth", "hidden", "password", "date_iso8601", "file", "email", "integer"}
HUB_KINDS |= {"options", "object", "array", "boolean", "string", "decimal"}
"""Setting kinds: Meltano Hub's base_setting.schema.json, and Meltano's `decimal`."""


@pytest.fixture(scope="module")
def about() -> dict:
    done = subprocess.run(
        [TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def definition() -> dict:
    return yaml.safe_load((ROOT / "meltano-plugin.yml").read_text())


def test_hub_metadata(definition, about):
    """repo, docs and variant come from the repository's address in pyproject.toml; while it
    has none, the definition has none either (nothing made up)."""
    urls = project_urls()
    assert definition["name"] == about["name"] == "target-kibo-inventory"
    assert definition["namespace"] == "target_kibo_inventory"
    assert definition["executable"] == "target-kibo-inventory"
    assert definition["label"]
    assert definition["description"]
    if "Repository" in urls:
        assert definition["variant"] == urls["Repository"].rstrip("/").split("/")[-2]
        assert definition["repo"] == urls["Repository"]
        assert definition["docs"] == urls.get("Documentation", urls["Repository"])
    else:
        assert not {"variant", "repo", "docs"} & set(definition)
    for link in ("repo", "docs", "domain_url"):
        assert definition.get(link, "https://").startswith("https://"), link
    assert "meltano_sdk" in definition["keywords"]
    assert all(isinstance(k, str) for k in definition["keywords"])
    assert definition["maintenance_status"] in MAINTENANCE_STATUSES
    assert definition["capabilities"] == about["capabilities"]


def test_every_setting_of_about_with_its_kind_label_options_and_default(definition, about):
    properties = about["settings"]["properties"]
    settings = {s["name"]: s for s in definition["settings"]}
    assert list(settings) == list(properties)
    for name, schema in properties.items():
        entry = settings[name]
        assert entry["kind"] in HUB_KINDS, name
        assert entry["label"], name
        assert entry["label"] != name, name
        assert entry.get("value") == schema.get("default"), name
        assert entry.get("description") == schema.get("description"), name
        if schema.get("secret"):
            assert (entry["kind"], entry["sensitive"]) == ("password", True), name
        else:
            assert "sensitive" not in entry, name
        if "enum" in schema:
            assert entry["kind"] == "options", name
            assert [o["value"] for o in entry["options"]] == schema["enum"], name
            for option in entry["options"]:
                assert option["label"], (name, option)
                assert option["label"] != option["value"], (name, option)
        else:
            assert "options" not in entry, name
    assert {"api_key", "api_secret", "increff_auth_password"} <= {
        name for name, s in settings.items() if s.get("sensitive")
    }


def test_settings_groups_are_settings_that_are_enough_to_run(definition, about, tmp_path):
    """Each group names settings of --about, and a config of exactly those starts the target;
    without any one of them it does not."""
    assert definition["settings_group_validation"] == SETTINGS_GROUPS
    properties = about["settings"]["properties"]
    values = {
        "tenant_id": "t1",
        "api_key": "k1",
        "api_secret": "secret-s1",
        "destination": "increff",
        "base_url": "http://127.0.0.1:9",
        "increff_auth_username": "u",
        "increff_auth_password": "p",
        "increff_auth_domain": "d",
    }
    for group in SETTINGS_GROUPS:
        assert set(group) <= set(properties), group
        config = {name: values[name] for name in group}
        target = TargetKiboInventory(config=config)
        assert target.destination.name == config.get("destination", "kibo")
        for missing in group:
            if missing == "destination":
                continue  # without it, the default destination (kibo) asks for its own
            partial = {k: v for k, v in config.items() if k != missing}
            with pytest.raises(ConfigValidationError, match=missing):
                TargetKiboInventory(config=partial)


def test_the_pinned_pip_url_forms_name_this_version(definition, about):
    text = (ROOT / "meltano-plugin.yml").read_text()
    pinned = re.findall(r"^#   pip_url: (\S+)", text, re.MULTILINE)
    repository = project_urls().get("Repository")
    forms = pinned_pip_urls(about["version"], repository)
    assert pinned == forms
    wheel, index = forms[:2]
    assert wheel == f"extract/target_kibo_inventory-{about['version']}-py3-none-any.whl"
    assert re.fullmatch(r"target-kibo-inventory==\d+\.\d+\.\d+", index)
    if repository:
        assert re.fullmatch(r"git\+https://\S+\.git@v\d+\.\d+\.\d+", forms[2])
    assert definition["pip_url"] == "-e extract/target-kibo-inventory"


PLACEHOLDERS = re.compile(
    r"your-org|<URL[^>]*>|example\.(?:com|org)/|github\.com/[^/\s]*/target-kibo"
)
"""Made-up addresses of this project (its own repository has no public address yet)."""


@pytest.mark.parametrize(
    "name",
    [
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "meltano.yml",
        "meltano-plugin.yml",
        "tests/sync_docs.py",
        *sorted(f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")),
    ],
)
def test_no_made_up_address_of_the_project(name):
    """`meltano add` once printed `Variant: your-org` and a GitHub link that does not exist."""
    text = (ROOT / name).read_text()
    assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text)


def test_meltano_yml_loader_is_the_definition_a_project_keeps(definition):
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [loader] = project["plugins"]["loaders"]
    kept = {k: v for k, v in definition.items() if k not in HUB_ONLY}
    assert loader == {**kept, "pip_url": "-e ."}


def _check_meltano(path: Path) -> subprocess.CompletedProcess[str]:
    """pre-commit's `check-meltano`: the file against Meltano's schema, as vendored by
    check-jsonschema (a dev dependency, so no download)."""
    checker = Path(TARGET).with_name("check-jsonschema")
    command = [str(checker), "--builtin-schema", "vendor.meltano", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_meltano_yml_passes_check_meltano(tmp_path):
    """The project file is valid for Meltano (the check pre-commit runs), and the check is
    real: the same file with a loader setting of an unknown kind is refused."""
    done = _check_meltano(ROOT / "meltano.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = yaml.safe_load((ROOT / "meltano.yml").read_text())
    broken["plugins"]["loaders"][0]["settings"][0]["kind"] = "no-such-kind"
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(broken))
    refused = _check_meltano(tmp_path / "meltano.yml")
    assert refused.returncode == 1, refused.stdout
    assert "no-such-kind" in refused.stdout + refused.stderr
