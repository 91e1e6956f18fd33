"""Regenerate what is derived from the target's settings: `.venv/bin/python -m tests.sync_docs`.

- the settings table of README.md (the output of `target-kibo-inventory --about --format=markdown`);
- the loader's `settings:` of meltano.yml (name, label, kind, options, default, description,
  sensitive), the last block of that file;
- meltano-plugin.yml, the plugin definition (`python -m tests.test_meltano_e2e`).

tests/test_docs.py fails when any of them drifts from the code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = str(Path(sys.executable).parent / "target-kibo-inventory")
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}
KINDS |= {"object": "object", "array": "array"}


def about(fmt: str) -> str:
    """The target's `--about` output in this format."""
    command = [TARGET, "--about", f"--format={fmt}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def readme_table(markdown: str) -> str:
    """The settings table of the `--about` markdown."""
    return markdown[markdown.index("| Setting |") :].split("\n\n")[0]


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A Meltano setting definition from the setting's JSON schema."""
    types = schema.get("type", "string")
    kind = KINDS.get(next(t for t in ([types] if isinstance(types, str) else types) if t != "null"))
    entry: dict[str, Any] = {"name": name, "label": schema.get("title") or name, "kind": kind}
    if schema.get("secret"):
        entry.update(kind="password", sensitive=True)
    elif "enum" in schema:
        entry.update(
            kind="options", options=[{"label": v, "value": v} for v in schema["enum"] if v]
        )
    if "default" in schema:
        entry["value"] = schema["default"]
    if schema.get("description"):
        entry["description"] = schema["description"]
    return entry


def meltano_settings(properties: dict[str, Any]) -> str:
    """The loader's `settings:` block of meltano.yml."""
    entries = [setting(name, schema) for name, schema in properties.items()]
    text = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=96)
    return "    settings:\n" + "".join(f"    {line}\n" for line in text.splitlines())


def main() -> None:
    readme = ROOT / "README.md"
    old = readme.read_text()
    table = readme_table(about("markdown"))
    start = old.index("| Setting |")
    end = old.index("\n\n", start)
    readme.write_text(old[:start] + table + old[end:])

    meltano = ROOT / "meltano.yml"
    text = meltano.read_text()
    loader = text.index("\n  - name: target-kibo-inventory\n")
    block = text.index("    settings:\n", loader)
    properties = json.loads(about("json"))["settings"]["properties"]
    meltano.write_text(text[:block] + meltano_settings(properties))

    from tests.test_meltano_e2e import write_plugin_definition

    write_plugin_definition()


if __name__ == "__main__":
    main()
