"""Regenerate what is derived from the target's `--about`: `.venv/bin/python -m tests.sync_docs`.

The one generator of:

- the settings table of README.md (the output of `target-kibo-inventory --about --format=markdown`);
- the loader entry of meltano.yml (`plugins.loaders`, the last block of that file): name,
  namespace, variant, label, description, links, `pip_url: -e .`, capabilities, settings groups
  and every setting (name, label, kind, options with readable labels, default, description,
  sensitive);
- meltano-plugin.yml, the plugin definition that `meltano add --from-ref` reads and Meltano Hub
  carries: the same entry with the Hub's metadata (keywords, maintenance status, domain URL)
  and `pip_url` for a clone in the project's extract/ folder, with the pinned forms beside it.

The version comes from `--about` (pyproject.toml, the one place it is set), the repository's
address from pyproject.toml's `[project.urls]`, when it has one: until the project has a public
address, the definitions carry no repo, docs or variant (nothing made up) and the pinned
`pip_url` forms are a wheel and a package index. tests/test_docs.py and
tests/test_plugin_definition.py fail when any of these files drifts from this generator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = str(Path(sys.executable).parent / "target-kibo-inventory")
README = ROOT / "README.md"
MELTANO_YML = ROOT / "meltano.yml"
PLUGIN_YML = ROOT / "meltano-plugin.yml"
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}
KINDS |= {"object": "object", "array": "array"}

PACKAGE = "target-kibo-inventory"
PROJECT_PIP_URL = "-e ."
"""meltano.yml: this repository is the Meltano project."""
CLONE_PIP_URL = "-e extract/target-kibo-inventory"
"""meltano-plugin.yml: a clone in the extract/ folder of your project (README)."""

LABEL = "Kibo OMS Inventory"
DESCRIPTION = (
    "Stock counts into Kibo OMS (Inventory Refresh and Adjust jobs), Kibo Unified Commerce or "
    "Increff OMS"
)
KEYWORDS = ["meltano_sdk", "inventory", "kibo", "increff", "oms", "ecommerce"]
MAINTENANCE_STATUS = "active"
DOMAIN_URL = "https://kibocommerce.com/"
HUB_ONLY = ("domain_url", "keywords", "maintenance_status")
"""Meltano Hub metadata that a project's meltano.yml does not keep (`meltano add` drops it)."""

SETTINGS_GROUPS = [
    ["tenant_id", "api_key", "api_secret"],
    [
        "destination",
        "base_url",
        "increff_auth_username",
        "increff_auth_password",
        "increff_auth_domain",
    ],
]
"""Each a set of settings that is enough to run: Kibo (the default destination, OAuth by
default), Increff."""

OPTION_LABELS = {
    "destination": {"kibo": "Kibo OMS", "increff": "Increff OMS"},
    "token_request": {
        "json": "JSON body (Kibo)",
        "basic": "HTTP Basic and a form body (legacy OMS)",
    },
    "api_style": {
        "translated": "Translated (OMS-compatible) endpoints",
        "unified_commerce": "Unified Commerce (native) inventory API",
    },
    "auth_method": {
        "oauth": "OAuth 2.0 (Application ID and Client Secret)",
        "bearer_api_key": "API key as the bearer token",
    },
    "environment": {
        "sandbox": "Sandbox",
        "production": "Production (translated endpoints)",
        **{f"tp{n}": f"Production pod tp{n} (native API)" for n in range(1, 6)},
        "stg1": "Staging pod stg1 (native API)",
        "stg2": "Staging pod stg2 (native API)",
    },
    "api_package": {
        "inventory_specific": "Inventory Specific (preferred)",
        "inventory_v5": "Inventory V5",
    },
    "operation": {"refresh": "Refresh (absolute counts)", "adjust": "Adjust (signed deltas)"},
    "increff_payload": {
        "products": "Products (locationCode and products)",
        "v0": "V0 (the older array of inventory lines)",
    },
    "on_invalid_record": {
        "fail": "Fail: stop at the first invalid record",
        "dead_letter": "Dead letter: set invalid records aside and go on",
    },
}
"""Readable labels of the options of each setting that has them (by value); an option without
one here is labelled by its value in words."""


def about(fmt: str) -> str:
    """The target's `--about` output in this format."""
    command = [TARGET, "--about", f"--format={fmt}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def project_urls() -> dict[str, str]:
    """pyproject.toml's `[project.urls]` (Repository, Documentation), empty when it has none."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"].get("urls", {})


def variant(repository: str) -> str:
    """The plugin's variant: the owner of the repository (as Meltano Hub names variants)."""
    return urlsplit(repository).path.strip("/").split("/")[0]


def wheel(version: str) -> str:
    """The file name of this version's wheel (pure Python, any platform)."""
    return f"{PACKAGE.replace('-', '_')}-{version}-py3-none-any.whl"


def pinned_pip_urls(version: str, repository: str | None) -> list[str]:
    """The pinned forms of `pip_url` for this version: a wheel in the project's extract/ folder,
    the package from an index, and the release tag when the repository has an address."""
    forms = [f"extract/{wheel(version)}", f"{PACKAGE}=={version}"]
    return [*forms, f"git+{repository}.git@v{version}"] if repository else forms


def links(urls: dict[str, str]) -> dict[str, str]:
    """The definition's variant, repo and docs: from the repository's address, if it has one."""
    if "Repository" not in urls:
        return {}
    repository = urls["Repository"]
    docs = urls.get("Documentation", repository)
    return {"variant": variant(repository), "repo": repository, "docs": docs}


def option_label(setting: str, value: str) -> str:
    """A readable label for one option of a setting."""
    return OPTION_LABELS.get(setting, {}).get(value) or value.replace("_", " ").capitalize()


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A Meltano setting definition from the setting's JSON schema."""
    types = schema.get("type", "string")
    kind = KINDS.get(next(t for t in ([types] if isinstance(types, str) else types) if t != "null"))
    entry: dict[str, Any] = {"name": name, "label": schema.get("title") or name, "kind": kind}
    if schema.get("secret"):
        entry.update(kind="password", sensitive=True)
    elif "enum" in schema:
        options = [{"label": option_label(name, v), "value": v} for v in schema["enum"] if v]
        entry.update(kind="options", options=options)
    if "default" in schema:
        entry["value"] = schema["default"]
    if schema.get("description"):
        entry["description"] = schema["description"]
    return entry


def plugin_definition(about_json: dict[str, Any]) -> dict[str, Any]:
    """The loader's definition with Meltano Hub's metadata (meltano-plugin.yml)."""
    urls = links(project_urls())
    return {
        "name": PACKAGE,
        "namespace": "target_kibo_inventory",
        **{key: urls[key] for key in ("variant",) if key in urls},
        "label": LABEL,
        "description": DESCRIPTION,
        "domain_url": DOMAIN_URL,
        **{key: urls[key] for key in ("repo", "docs") if key in urls},
        "keywords": KEYWORDS,
        "maintenance_status": MAINTENANCE_STATUS,
        "pip_url": CLONE_PIP_URL,
        "executable": PACKAGE,
        "capabilities": about_json["capabilities"],
        "settings_group_validation": SETTINGS_GROUPS,
        "settings": [
            setting(name, schema) for name, schema in about_json["settings"]["properties"].items()
        ],
    }


def loader_entry(about_json: dict[str, Any]) -> dict[str, Any]:
    """The loader of this repository's meltano.yml: the definition as a project keeps it."""
    definition = plugin_definition(about_json)
    return {
        key: PROJECT_PIP_URL if key == "pip_url" else value
        for key, value in definition.items()
        if key not in HUB_ONLY
    }


def _dump(value: Any, width: int) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=width)


def render_plugin_yml(about_json: dict[str, Any]) -> str:
    """meltano-plugin.yml: a header naming the pinned pip_url forms, then the definition."""
    version = about_json["version"]
    forms = pinned_pip_urls(version, project_urls().get("Repository"))
    notes = [
        "a wheel copied to extract/ (README, Installing)",
        "once published to your package index",
        "the release tag",
    ]
    width = max(len(form) for form in forms)
    pins = "\n".join(
        f"#   pip_url: {form:<{width}}   # {note}" for form, note in zip(forms, notes, strict=False)
    )
    header = f"""\
# This loader's Meltano plugin definition, in Meltano Hub's format. For your own project: put a
# clone of this repository (or its unpacked source) into the project's extract/ folder and
# `meltano add --plugin-type loader {PACKAGE} --from-ref` this file (README,
# "Quick start with Meltano"); Meltano keeps all of it but the Hub's keywords,
# maintenance_status and domain_url.
#
# pip_url installs that clone, editable. To pin release {version} instead, set one of:
{pins}
#
# Generated from `target-kibo-inventory --about` and pyproject.toml; regenerate it with
# .venv/bin/python -m tests.sync_docs
"""
    return header + _dump(plugin_definition(about_json), 100)


def render_meltano_yml(text: str, about_json: dict[str, Any]) -> str:
    """meltano.yml with its loader entry (the last block of the file) regenerated."""
    start = text.index("\n  - name: target-kibo-inventory\n") + 1
    entry = _dump([loader_entry(about_json)], 98)
    return text[:start] + "".join(f"  {line}\n" for line in entry.splitlines())


def readme_table(markdown: str) -> str:
    """The settings table of the `--about` markdown."""
    return markdown[markdown.index("| Setting |") :].split("\n\n")[0]


def render_readme(text: str, markdown: str) -> str:
    """README.md with its settings table replaced by the `--about` one."""
    start = text.index("| Setting |")
    end = text.index("\n\n", start)
    return text[:start] + readme_table(markdown) + text[end:]


def main() -> None:
    about_json = json.loads(about("json"))
    README.write_text(render_readme(README.read_text(), about("markdown")))
    MELTANO_YML.write_text(render_meltano_yml(MELTANO_YML.read_text(), about_json))
    PLUGIN_YML.write_text(render_plugin_yml(about_json))


if __name__ == "__main__":
    main()
