"""The README's quick start, followed line by line in an empty folder: every command of its
`bash` blocks, in order, as one script; it loads the README's CSV into the emulator.

Three things differ from a user's shell, each said here: the clone line links this checkout
instead (the project has no public address to clone from); the emulator's port is a free one
instead of 8700 (tests share the machine); the line that starts the emulator in the background
is started by the test, which stops it after. The commands are read from the README, so the test
breaks when the README drifts.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.harness import EmulatorClient
from tests.outside import ROOT, free_port, report
from tests.test_meltano_e2e import Meltano, _loader_definition

README = ROOT / "README.md"
CLONE = "git clone /path/to/target-kibo-inventory extract/target-kibo-inventory"
STATE_ID = "dev:tap-spreadsheets-to-target-kibo-inventory"


def quick_start() -> str:
    """The README's quick start section, up to its "Installing" subsection."""
    text = README.read_text()
    section = text[text.index("## Quick start with Meltano\n") :]
    return section[: section.index("\n### Installing")]


def commands(section: str) -> list[str]:
    """The lines of the section's `bash` blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def heredoc(lines: list[str], name: str) -> str:
    """The text a `cat > NAME <<'EOF'` of these lines writes."""
    start = lines.index(f"cat > {name} <<'EOF'") + 1
    return "\n".join(lines[start : lines.index("EOF", start)]) + "\n"


def _script(lines: list[str]) -> str:
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def _run(meltano: Meltano, script: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=meltano.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done


def _wait_until_serving(url: str, emulator: subprocess.Popen) -> None:
    """Poll the emulator's health view until it answers (or the process ends)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and emulator.poll() is None:
        try:
            requests.get(f"{url}/emulator/health", timeout=5).raise_for_status()
        except requests.RequestException:
            time.sleep(0.1)
        else:
            return
    pytest.fail(f"the emulator did not answer at {url}")


@pytest.mark.meltano
def test_the_quick_start_loads_the_csv_into_the_emulator(tmp_path, meltano_executable, capsys):
    section = quick_start()
    port = free_port()
    lines = [line.replace("8700", str(port)) for line in commands(section)]
    init = re.fullmatch(r"meltano init (\S+) && cd \1", lines[0])
    assert init, lines[0]
    assert lines[1] == CLONE
    lines[1] = f"ln -s {ROOT} extract/target-kibo-inventory"  # the clone
    [start] = [i for i, line in enumerate(lines) if "kibo-emulator --port" in line]
    assert lines[start].endswith(" &")
    project = tmp_path / init[1]
    meltano = Meltano(meltano_executable, tmp_path)
    url = f"http://127.0.0.1:{port}"

    started = time.monotonic()
    added = _run(meltano, _script(lines[:start]), tmp_path)
    # `meltano add` names no made-up variant or repository (issue 19: `Variant: your-org`).
    assert "Added loader 'target-kibo-inventory'" in added.stdout
    assert "Variant:" not in added.stdout + added.stderr
    assert "Repository:" not in added.stdout + added.stderr
    with (project / "emulator.log").open("w") as log:
        emulator = subprocess.Popen(
            ["bash", "-c", "exec " + lines[start].removesuffix("&").strip()],
            cwd=project,
            env=meltano.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(url, emulator)
        done = _run(meltano, _script(lines[start + 1 :]), project)
        seconds = time.monotonic() - started
        client = EmulatorClient(url, "demo", "", "")
        stock = client.stock()
        sent = client.api_requests()
    finally:
        emulator.terminate()
        emulator.wait(timeout=60)

    # The README's CSV, loaded: (store, product code) → quantity on hand.
    rows = list(csv.DictReader(io.StringIO(heredoc(lines, "stock.csv"))))
    assert list(rows[0]) == [
        "Store",
        "Product Code",
        "Item Description",
        "Qty On Hand",
        "Last Counted",
    ]
    expected = {(row["Store"], row["Product Code"]): int(row["Qty On Hand"]) for row in rows}
    assert stock == expected
    assert [r["operation"] for r in sent] == ["refresh"] * len({s for s, _ in expected})
    # What the README says the stock view prints, it prints.
    shown = re.search(r"kibo-emulator stock --url .*?```\n\n```\n(.*?)```", section, re.DOTALL)
    assert shown, "the README shows the output of kibo-emulator stock"
    assert shown[1] in done.stdout
    # The dry run sent nothing and wrote its requests; no bookmark moved (the state is run 1's).
    dry = json.loads((project / "kibo-dry-run" / "request-00001.json").read_text())
    assert dry["body"]["items"][0]["upc"] in {code for _, code in expected}
    meltano.project = project
    state = json.loads(meltano("state", "get", STATE_ID)[0].stdout)["singer_state"]
    assert sorted(j["jobID"] for j in state["kibo_inventory"]["jobs"]) == sorted(
        r["jobID"] for r in sent
    )
    # The loader's definition is meltano-plugin.yml's; sensitive settings went to .env.
    config = yaml.safe_load((project / "meltano.yml").read_text())
    [loader] = config["plugins"]["loaders"]
    definition = _loader_definition()
    sensitive = {s["name"] for s in definition["settings"] if s.get("sensitive")}
    for setting in definition["settings"]:
        if setting["kind"] == "password":  # Meltano writes this old kind as string + sensitive
            setting["kind"] = "string"
    assert {k: v for k, v in loader.items() if k != "config"} == definition
    env = (project / ".env").read_text()
    for line in lines:
        if words := re.fullmatch(r"meltano config set target-kibo-inventory (\S+) (\S+)", line):
            name, value = words[1], words[2]
            assert (f"TARGET_KIBO_INVENTORY_{name.upper()}='{value}'" in env) == (
                name in sensitive
            ), name
            assert (name in loader["config"]) == (name not in sensitive), name
    [tap] = config["plugins"]["extractors"]
    assert tap["pip_url"].startswith("tap-spreadsheets==")

    report(
        capsys,
        f"README quick start in an empty folder: {len(lines)} lines, {seconds:.1f}s; "
        f"{len(sent)} refresh requests, stock == the README's CSV ({len(expected)} items)",
    )
