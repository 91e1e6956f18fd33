"""End to end: every setting can come from an environment variable with `--config ENV`.

The settings are those `--about` lists (the target's schema and the SDK's built-in settings it
keeps), so a setting added later is covered too: with the value given below, or its default.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from target_kibo_inventory.destinations.kibo.settings import KiboSettings
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import TARGET, EmulatorClient, lines, record, schema, state

PREFIX = "TARGET_KIBO_INVENTORY_"
KIBO_TOKEN_PATH = "/api/platform/applications/authtickets/oauth"


@functools.cache
def _settings_schema() -> dict[str, dict]:
    about = subprocess.run(
        [TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    return json.loads(about.stdout)["settings"]["properties"]


def _values(emulator: EmulatorClient, tmp_path: Path) -> dict[str, Any]:
    """A value, as its JSON type, for every setting: chosen to show in the run, or the default."""
    ca_bundle = tmp_path / "ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    chosen = {
        "tenant_id": emulator.tenant,
        "api_key": emulator.api_key,
        "api_secret": emulator.api_secret,
        "auth_url": emulator.url + KIBO_TOKEN_PATH,
        "token_request": "json",
        "auth_method": "oauth",
        "environment": "production",
        "api_package": "inventory_v5",
        "base_url": emulator.url,
        "operation": "refresh",
        "stream_operations": {"counts": "refresh", "moves": "adjust"},
        "location_name": "Env Store",
        "field_map": {"quantity": "qty"},
        "refresh_batch_items": 3000,
        "adjust_batch_items": 2,
        "on_invalid_record": "dead_letter",
        "dead_letter_path": "env-dead.jsonl",
        "drain_interval_seconds": 120.5,
        "journal_path": "env-journal.jsonl",
        "journal_resolve": {},
        "max_buffered_items": 100000,
        "max_parallel_requests": 3,
        "wait_for_jobs": True,
        "job_wait_timeout_seconds": 600.5,
        "job_log_path": "env-jobs.jsonl",
        "check_credentials_at_start": True,
        "dry_run": False,
        "dry_run_dir": "env-dry-run",
        "max_retries": 2,
        "max_retry_seconds": 30.5,
        "adjust_retry_ambiguous": True,
        "ca_bundle": str(ca_bundle),
        "request_timeout": 30,
        "maybe_applied_wait_seconds": 60.5,
        "destination": "kibo",
        "api_style": "translated",
        "site_id": "7",
        "increff_auth_username": "env-user",
        "increff_auth_password": "env-password",
        "increff_auth_domain": "env-domain",
        "increff_batch_items": 250,
        "increff_payload": "v0",
        "increff_client_id": 42,
        "validate_records": True,
        "stream_maps": {"noise": None},
        "stream_map_config": {"factor": 2},
        "faker_config": {"seed": 1},
        "flattening_enabled": False,
        "flattening_max_depth": 1,
        "flattening_max_key_length": 255,
        "flattening_separator": "__",
    }
    values = {}
    for name, setting in _settings_schema().items():
        if name in chosen:
            values[name] = chosen[name]
        else:
            assert "default" in setting, f"give setting {name!r} a value in this test"
            values[name] = setting["default"]
    return values


def _env(values: dict[str, Any]) -> dict[str, str]:
    """The values as environment variables: text as is, anything else as JSON."""
    return {
        PREFIX + name.upper(): value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
    }


def _run_env(
    env: dict[str, str], messages: list[dict] | str, cwd: Path
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    return subprocess.run(
        [TARGET, "--config", "ENV"],
        input=messages if isinstance(messages, str) else lines(messages),
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=cwd,
        check=False,
        timeout=300,
    )


def test_every_setting_is_read_from_the_environment_with_its_type(emulator, tmp_path, monkeypatch):
    values = _values(emulator, tmp_path)
    for name, text in _env(values).items():
        monkeypatch.setenv(name, text)
    target = TargetKiboInventory(config={}, parse_env_config=True)
    assert {name: target.config.get(name) for name in values} == values
    settings = target.settings
    assert (settings.request_timeout, settings.max_retry_seconds) == (30, 30.5)
    assert settings.drain_interval_seconds == 120.5
    kibo = settings.of(KiboSettings)
    assert (kibo.adjust_batch_items, settings.max_parallel_requests) == (2, 3)
    assert settings.adjust_retry_ambiguous is True
    assert settings.operation_for("moves") == "adjust"
    assert (settings.wait_for_jobs, settings.job_wait_timeout_seconds) == (True, 600.5)
    assert (settings.job_log_path, settings.dry_run_dir) == ("env-jobs.jsonl", "env-dry-run")


def test_a_run_configured_only_from_the_environment(queue_emulator, tmp_path):
    """wait_for_jobs on the translated endpoints: the emulator serves the job queue there."""
    emulator = queue_emulator
    values = _values(emulator, tmp_path)
    counts = {"sku": {"type": "string"}, "qty": {"type": "integer"}}
    messages = [
        schema("counts", counts),
        record("counts", sku="A", qty=5),
        record("counts", sku="B", qty=-1),  # refresh counts are ≥ 0: dead letter
        schema("moves", counts),
        *(record("moves", sku=f"M{i}", qty=i) for i in range(1, 4)),
        schema("noise", counts),
        record("noise", sku="N", qty=9),  # removed by stream_maps
        state({"bookmarks": {"moves": 3}}),
    ]
    run = _run_env(_env(values), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Parsing 'request_timeout' config from env variable" in run.stderr
    assert emulator.stock() == {
        ("Env Store", "A"): 5,
        ("Env Store", "M1"): 1,
        ("Env Store", "M2"): 2,
        ("Env Store", "M3"): 3,
    }
    api = emulator.api_requests()
    assert {r["path"] for r in api} == {"/api/v5/inventory/refresh", "/api/v5/inventory/adjust"}
    assert sorted(r["items"] for r in api if r["operation"] == "adjust") == [1, 2]
    assert {(r["auth"], r["site"]) for r in api} == {("token", "7")}  # site_id: x-vol-site
    assert any(r["path"] == KIBO_TOKEN_PATH for r in emulator.requests())
    [dead] = (tmp_path / "env-dead.jsonl").read_text().splitlines()
    assert json.loads(dead)["record"]["sku"] == "B"
    logged = [json.loads(line) for line in (tmp_path / "env-jobs.jsonl").read_text().splitlines()]
    assert sorted(job["jobID"] for job in logged) == sorted(j["jobID"] for j in emulator.jobs())
    assert {job["status"] for job in logged} == {"SUCCESS"}  # wait_for_jobs


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "REQUEST_TIMEOUT",
            "thirty",
            "'request_timeout' (TARGET_KIBO_INVENTORY_REQUEST_TIMEOUT) "
            "must be a number, not 'thirty'",
        ),
        (
            "MAX_RETRY_SECONDS",
            "NaN",
            "'max_retry_seconds' (TARGET_KIBO_INVENTORY_MAX_RETRY_SECONDS) "
            "must be a number, not 'NaN'",
        ),
        (
            "MAX_RETRIES",
            "2.5",
            "'max_retries' (TARGET_KIBO_INVENTORY_MAX_RETRIES) must be an integer, not '2.5'",
        ),
        (
            "ADJUST_RETRY_AMBIGUOUS",
            "maybe",
            "'adjust_retry_ambiguous' "
            "(TARGET_KIBO_INVENTORY_ADJUST_RETRY_AMBIGUOUS) must be true or false, not 'maybe'",
        ),
        (
            "FIELD_MAP",
            "quantity=qty",
            "'field_map' (TARGET_KIBO_INVENTORY_FIELD_MAP) must be a "
            "JSON object, not 'quantity=qty'",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_setting(
    emulator, tmp_path, name, text, message
):
    env = {
        PREFIX + "TENANT_ID": emulator.tenant,
        PREFIX + "API_KEY": emulator.api_key,
        PREFIX + "BASE_URL": emulator.url,
        PREFIX + name: text,
    }
    run = _run_env(env, "", tmp_path)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if message in line]
    assert len(errors) == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


def test_a_misspelled_variable_is_refused_naming_the_closest_setting(emulator, tmp_path):
    """Issue 17, item 3: `..._STREAM_OPERATION` (no S) loaded deltas as counts, exit 0."""
    env = {
        **emulator.environment(),
        PREFIX + "STREAM_OPERATION": json.dumps({"stock_movements": "adjust"}),
        PREFIX + "LOGLEVEL": "info",  # the SDK's own: no setting, but known
    }
    messages = [
        schema("stock_movements"),
        record("stock_movements", sku="A", location_name="L", quantity=10),
        record("stock_movements", sku="A", location_name="L", quantity=2),
        record("stock_movements", sku="A", location_name="L", quantity=3),
    ]
    run = _run_env(env, messages, tmp_path)
    assert run.returncode == 1
    [error] = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert (
        "Unknown environment variable TARGET_KIBO_INVENTORY_STREAM_OPERATION: did you mean "
        "TARGET_KIBO_INVENTORY_STREAM_OPERATIONS (setting 'stream_operations')?"
    ) in error
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []  # refused at start-up: not even the credentials check

    env[PREFIX + "STREAM_OPERATIONS"] = env.pop(PREFIX + "STREAM_OPERATION")
    run = _run_env(env, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 15}
