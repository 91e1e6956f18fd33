"""The API key and secret never appear in logs (DEBUG too), errors, files, state or --about."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.harness import TARGET, lines, record, schema, state

KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"


def _run(config: dict, messages: list[dict], tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "LOGLEVEL": "DEBUG"}
    return subprocess.run(
        [TARGET, "--config", "config.json", *args],
        input=lines(messages),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.slow  # six runs of the CLI, at DEBUG
def test_secrets_appear_nowhere(emulator, tmp_path):
    config = emulator.config(
        api_secret=emulator.api_secret,
        auth_url=emulator.url + KIBO_TOKEN_PATH,
        operation="adjust",
        on_invalid_record="dead_letter",
    )
    messages = [
        schema("moves"),
        record("moves", sku="A", location_name="L", quantity=2),
        record("moves", sku="B", location_name="L", quantity="two"),  # dead letter
        record("moves", sku="C", location_name="M", quantity=-1),
        state({"bookmarks": {"moves": 3}}),
    ]
    emulator.script({"status": 503}, {"status": 401}, {"status": 429, "retry_after": 0})
    outputs = []
    ok = _run(config, messages, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "DEBUG" in ok.stderr  # the logs really were at DEBUG
    outputs += [ok.stdout, ok.stderr]

    emulator.script({"status": 504})  # an error with a traceback: the ambiguous adjust
    failed = _run(config, messages, tmp_path)
    assert failed.returncode != 0
    assert "Traceback" in failed.stderr
    outputs += [failed.stdout, failed.stderr]

    bad_secret = _run({**config, "api_secret": emulator.api_secret + "-wrong"}, messages, tmp_path)
    assert bad_secret.returncode != 0
    outputs += [bad_secret.stdout, bad_secret.stderr]

    for fmt in ("text", "json", "markdown"):
        about = _run(config, [], tmp_path, "--about", f"--format={fmt}")
        outputs += [about.stdout, about.stderr]

    files = [p for p in tmp_path.iterdir() if p.name != "config.json" and p.is_file()]
    assert any(p.name == "kibo-inventory-dead-letter.jsonl" for p in files)
    outputs += [p.read_text() for p in files]
    for secret in (emulator.api_key, emulator.api_secret):
        for output in outputs:
            assert secret not in output
