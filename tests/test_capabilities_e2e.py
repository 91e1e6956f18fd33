"""End to end: each capability that `--about` lists does what it says, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess

import yaml

from tests.harness import TARGET, lines, record, run_in_process, schema, state
from tests.outside import ROOT

CAPABILITIES = [
    "about",
    "stream-maps",
    "schema-flattening",
    "structured-logging",
    "validate-records",
]


def test_about_lists_the_capabilities_meltano_yml_declares():
    about = subprocess.run(
        [TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    assert json.loads(about.stdout)["capabilities"] == CAPABILITIES
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [loader] = project["plugins"]["loaders"]
    assert loader["capabilities"] == CAPABILITIES


def test_stream_map_renames_a_column_into_sku(emulator, tmp_path):
    properties = {"store": {"type": "string"}, "item_code": {"type": "string"}}
    properties["on_hand"] = {"type": "integer"}
    messages = [
        schema("counts", properties, ["store", "item_code"]),
        record("counts", store="Boston", item_code="CAP-RED", on_hand=4),
        record("counts", store="Denver", item_code="CAP-BLK", on_hand=9),
    ]
    config = emulator.config(
        field_map={"locationName": "store", "quantity": "on_hand"},
        stream_maps={
            "counts": {
                "sku": "item_code",
                "item_code": "__NULL__",
                "__key_properties__": ["store", "sku"],
            }
        },
    )
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("Boston", "CAP-RED"): 4, ("Denver", "CAP-BLK"): 9}
    items = {
        r["locationName"]: emulator.job(r["jobID"], items=True)["items"]
        for r in emulator.api_requests()
    }
    assert items == {
        "Boston": [{"sku": "CAP-RED", "quantity": 4}],
        "Denver": [{"sku": "CAP-BLK", "quantity": 9}],
    }


def test_nested_record_is_flattened_and_mapped(emulator, tmp_path):
    item = {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "counts": {"type": "object", "properties": {"on_hand": {"type": "integer"}}},
        },
    }
    properties = {"store": {"type": "string"}, "item": item}
    messages = [
        schema("nested", properties),
        record("nested", store="Boston", item={"sku": "SCARF-GRN", "counts": {"on_hand": 6}}),
        state({"bookmarks": {"nested": {"replication_key_value": 1}}}),
    ]
    config = emulator.config(
        flattening_enabled=True,
        flattening_max_depth=2,
        field_map={
            "locationName": "store",
            "sku": "item__sku",
            "quantity": "item__counts__on_hand",
        },
    )
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("Boston", "SCARF-GRN"): 6}
    assert run.states[0]["bookmarks"] == {"nested": {"replication_key_value": 1}}

    # Without flattening the schema declares no mapped property: the run stops at the SCHEMA
    # message, naming what field_map looked for; nothing sent.
    emulator.post("/emulator/reset", {})
    run = run_in_process({**config, "flattening_enabled": False}, messages, tmp_path)
    assert run.returncode != 0
    flatten = "'item' is an object: flattening_enabled makes its fields properties"
    assert (
        "Stream 'nested' cannot be loaded into destination 'kibo': its schema declares no "
        "property for any of the API fields partNumber, upc or sku (looked for 'partNumber', "
        f"'part_number', 'upc', 'item__sku' (field_map.sku); {flatten}); nor for API field "
        f"'quantity' (looked for 'item__counts__on_hand' (field_map.quantity); {flatten}). "
        "The schema's properties are: store, item."
    ) in run.stderr
    assert emulator.api_requests() == []


def test_validate_records_checks_records_against_their_schema(emulator, tmp_path):
    properties = {"sku": {"type": "string"}, "quantity": {"type": "integer"}}
    messages = [schema("counts", properties), record("counts", sku="HAT", quantity="12")]
    config = emulator.config(location_name="Main")

    run = run_in_process(config, messages, tmp_path)
    assert run.returncode != 0
    assert "field 'quantity' breaks the stream's schema: must be integer" in run.stderr
    assert emulator.api_requests() == []

    run = run_in_process({**config, "validate_records": False}, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("Main", "HAT"): 12}


def test_structured_logging_writes_json_log_lines(emulator, tmp_path):
    log_config = tmp_path / "logging.yml"
    log_config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"json": {"()": "singer_sdk.logging.StructuredFormatter"}},
                "handlers": {
                    "stderr": {
                        "class": "logging.StreamHandler",
                        "formatter": "json",
                        "stream": "ext://sys.stderr",
                    }
                },
                "root": {"level": "INFO", "handlers": ["stderr"]},
            }
        )
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emulator.config(location_name="Main")))
    env = {**os.environ, "SINGER_SDK_LOG_CONFIG": str(log_config)}

    def run(*messages: dict) -> tuple[int, list[dict]]:
        done = subprocess.run(
            [TARGET, "--config", str(config)],
            input=lines([schema("counts"), *messages]),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        # every line the target logs is one JSON object
        return done.returncode, [json.loads(line) for line in done.stderr.splitlines() if line]

    returncode, logged = run(record("counts", sku="HAT", quantity=3))
    assert returncode == 0
    [accepted] = [e for e in logged if e["message"].startswith("Job ")]
    assert accepted["level"] == "info"
    assert accepted["logger_name"] == "target-kibo-inventory"
    assert accepted["message"] == (
        f"Job {emulator.api_requests()[0]['jobID']} accepted: refresh of 1 items at location "
        "'Main' (stream counts)."
    )
    [summary] = [e for e in logged if e.get("metric_info", {}).get("type") == "summary"]
    assert (summary["message"], summary["logger_name"]) == ("METRIC", "singer_sdk.metrics")
    assert summary["metric_info"]["metric"] == "kibo_inventory_summary"
    run_summary = summary["metric_info"]["value"]
    assert (run_summary["status"], run_summary["requests"], run_summary["items"]) == (
        "succeeded",
        1,
        1,
    )
    assert run_summary["locations"][0]["jobs"] == [
        {"jobID": emulator.api_requests()[0]["jobID"], "status": None}  # not waited for
    ]

    returncode, logged = run(record("counts", sku="HAT", quantity=-3))
    assert returncode != 0
    [error] = [e for e in logged if e["level"] == "error"]
    assert error["extra"]["error_type"] == "InvalidRecordError"
    assert "exception" not in error  # the message says it all: no traceback repeats it
    assert error["message"] == (
        "Invalid record in stream 'counts', record #1 (sku='HAT'): field 'quantity' must be an "
        "integer ≥ 0 for refresh (an absolute count); got -3"
    )
