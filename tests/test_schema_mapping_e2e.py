"""End to end: a stream whose schema cannot give every item its quantity, an identifier or its
location stops the run when its SCHEMA message arrives, before any of its records.

A schema is judged when it lists its properties and allows no others (no `additionalProperties:
true` or schema); one that allows others, or lists none, is accepted as before and each record
is checked on its own.
"""

from __future__ import annotations

import json
import os
import subprocess

import yaml

from tests.harness import TARGET, lines, record, run_in_process, run_target, schema, state

STORE_FEED = {
    "branch": {"type": "string"},
    "item_no": {"type": "string"},
    "qty_onhand": {"type": "integer"},
}
STORE_MAP = {"locationName": "branch", "partNumber": "item_no", "quantity": "qty_on_hand"}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def _records(n: int = 5) -> list[dict]:
    return [record("stock", branch="B1", item_no=f"I-{i}", qty_onhand=i) for i in range(n)]


def test_a_wrong_field_map_under_dead_letter_stops_at_the_schema(emulator, tmp_path):
    """The issue's case: before, every record went to the dead-letter file and the run exited 0
    saying "every other record was loaded"."""
    dead = tmp_path / "dead.jsonl"
    config = emulator.config(
        field_map=STORE_MAP, on_invalid_record="dead_letter", dead_letter_path=str(dead)
    )
    messages = [schema("stock", STORE_FEED), *_records(), state({"bookmarks": {"stock": 5}})]
    run = run_target(config, messages, tmp_path)

    assert run.returncode == 1
    [error] = _error_lines(run.stderr)
    assert error.endswith(
        "Stream 'stock' cannot be loaded into destination 'kibo': its schema declares no "
        "property for API field 'quantity' (looked for 'qty_on_hand' (field_map.quantity); "
        "did you mean 'qty_onhand'?). The schema's properties are: branch, item_no, qty_onhand. "
        "Fix field_map (or the tap's schema, or a stream map) and run again; the run stopped "
        "before any record of this stream."
    )
    assert "Traceback" not in run.stderr
    assert emulator.api_requests() == []  # only the credentials check read the job queue
    assert not dead.exists()
    assert run.states == []

    # The field_map fixed, the same input loads.
    fixed = {**config, "field_map": {**STORE_MAP, "quantity": "qty_onhand"}}
    run = run_target(fixed, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("B1", f"I-{i}"): i for i in range(5)}
    assert not dead.exists()


def test_every_missing_field_is_named_with_the_default_names_looked_for(emulator, tmp_path):
    """Each with the property whose name says it holds such a field (issue 19)."""
    properties = {"store": {"type": "string"}, "item": {"type": "string"}, "on_hand": {}}
    run = run_in_process(emulator.config(), [schema("counts", properties)], tmp_path)
    assert run.returncode == 1
    [error] = _error_lines(run.stderr)
    assert (
        "Stream 'counts' cannot be loaded into destination 'kibo': its schema declares no "
        "property for any of the API fields partNumber, upc or sku (looked for 'partNumber', "
        "'part_number', 'upc', 'sku'; did you mean 'item'?); nor for API field 'quantity' "
        "(looked for 'quantity'; did you mean 'on_hand'?); nor for API field 'locationName' "
        "(looked for 'locationName', 'location_name'; did you mean 'store'?; or set "
        "location_name). The schema's properties are: store, item, on_hand."
    ) in error
    assert emulator.api_requests() == []  # only the credentials check read the job queue


def test_the_location_setting_stands_in_for_a_location_column(emulator, tmp_path):
    properties = {"sku": {"type": "string"}, "quantity": {"type": "integer"}}
    messages = [schema("counts", properties), record("counts", sku="A", quantity=3)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 1
    assert "nor for" not in run.stderr
    assert "no property for API field 'locationName'" in run.stderr

    run = run_in_process(emulator.config(location_name="Main"), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("Main", "A"): 3}


def test_a_later_stream_with_an_unusable_schema_stops_the_run_there(emulator, tmp_path):
    good = {"sku": {}, "location_name": {}, "quantity": {}}
    messages = [
        schema("stock", good),
        record("stock", sku="A", location_name="L", quantity=1),
        schema("moves", {"sku": {}, "location_name": {}, "delta": {}}),
        record("moves", sku="A", location_name="L", delta=2),
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 1
    [error] = _error_lines(run.stderr)
    assert "Stream 'moves' cannot be loaded" in error
    assert "API field 'quantity' (looked for 'quantity')" in error
    assert run.states == []


def test_increff_names_its_sku_field_and_every_fallback(emulator, tmp_path):
    config = {
        **emulator.config(),
        "destination": "increff",
        "increff_auth_username": "demo-user",
        "increff_auth_password": "demo-password",
        "increff_auth_domain": "demo",
        "field_map": {"sku": "article"},
    }
    properties = {"location_name": {}, "quantity": {}, "articles": {}}
    run = run_in_process(config, [schema("stock", properties)], tmp_path)
    assert run.returncode == 1
    assert (
        "Stream 'stock' cannot be loaded into destination 'increff': its schema declares no "
        "property for API field 'channelSkuCode' (looked for 'channelSkuCode', "
        "'channel_sku_code', 'article' (field_map.sku), 'partNumber', 'part_number', 'upc'; "
        "did you mean 'articles'?). The schema's properties are: location_name, quantity, "
        "articles."
    ) in run.stderr

    # A feed mapped for Kibo (its sku) works unchanged for Increff.
    properties = {"location_name": {}, "quantity": {}, "article": {}}
    messages = [
        schema("stock", properties),
        record("stock", article="SKU-1", location_name="wd001", quantity=4),
    ]
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("wd001", "SKU-1"): 4}


def test_a_schema_that_allows_other_properties_is_not_judged(emulator, tmp_path):
    """`additionalProperties: true` (or a schema for them) says records carry columns the
    schema does not name: accepted as before; each record is mapped on its own."""
    for additional in (True, {"type": ["integer", "string"]}):
        body = {"type": "object", "properties": {"sku": {}}, "additionalProperties": additional}
        message = {"type": "SCHEMA", "stream": "open", "schema": body, "key_properties": []}
        text = lines(
            [
                message,
                record("open", sku="A", qty=1, location_name="L", quantity=7),
                record("open", sku="B", location_name="L", quantity=8),
            ]
        )
        run = run_in_process(emulator.config(), text, tmp_path)
        assert run.returncode == 0, run.stderr
        assert emulator.stock() == {("L", "A"): 7, ("L", "B"): 8}
        emulator.post("/emulator/reset", {})

    # Without the allowance the same schema is judged, and refused.
    body = {"type": "object", "properties": {"sku": {}}}
    message = {"type": "SCHEMA", "stream": "open", "schema": body, "key_properties": []}
    run = run_in_process(emulator.config(), [message], tmp_path)
    assert run.returncode == 1
    assert "Stream 'open' cannot be loaded" in run.stderr


def test_a_schema_with_no_properties_listed_is_not_judged(emulator, tmp_path):
    """`properties: {}`: the tap names no column, so nothing can be judged at the SCHEMA; a
    record without a quantity is an invalid record, as before."""
    body = {"type": "object", "properties": {}}
    message = {"type": "SCHEMA", "stream": "free", "schema": body, "key_properties": []}
    messages = [
        message,
        record("free", sku="A", location_name="L", quantity=2),
        record("free", sku="B", location_name="L"),
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 1
    assert "Invalid record in stream 'free', record #2 (sku='B'): field 'quantity' is required" in (
        run.stderr
    )


def test_pattern_properties_count_as_declared(emulator, tmp_path):
    body = {
        "type": "object",
        "properties": {"sku": {}, "location_name": {}},
        "patternProperties": {"^quant": {"type": "integer"}},
    }
    message = {"type": "SCHEMA", "stream": "p", "schema": body, "key_properties": []}
    messages = [message, record("p", sku="A", location_name="L", quantity=5)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 5}


def test_the_schema_judged_is_the_one_after_stream_maps(emulator, tmp_path):
    """A stream map that renames a column into `quantity` makes the stream loadable."""
    messages = [schema("stock", STORE_FEED), *_records(3)]
    config = emulator.config(
        field_map={"locationName": "branch", "partNumber": "item_no"},
        stream_maps={"stock": {"quantity": "qty_onhand", "qty_onhand": "__NULL__"}},
    )
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("B1", f"I-{i}"): i for i in range(3)}

    # The stream map that drops the count instead: refused, naming the properties left.
    emulator.post("/emulator/reset", {})
    config["stream_maps"] = {"stock": {"qty_onhand": "__NULL__"}}
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 1
    assert "API field 'quantity' (looked for 'quantity')" in run.stderr
    assert "The schema's properties are: branch, item_no." in run.stderr


def test_undeclared_record_properties_are_still_read_when_the_schema_passes(emulator, tmp_path):
    """The schema declares an identifier, the quantity and the location; a record that also
    carries an undeclared `upc` gets it."""
    properties = {"sku": {}, "location_name": {}, "quantity": {}}
    messages = [
        schema("stock", properties),
        record("stock", sku="A", upc="0001", location_name="L", quantity=1),
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    [row] = emulator.inventory()
    assert (row["sku"], row["upc"], row["quantity"]) == ("A", "0001", 1)


def test_the_error_is_one_structured_line_without_traceback(emulator, tmp_path):
    """With the SDK's structured logging (as Meltano runs it), the error is one JSON line."""
    log_config = tmp_path / "logging.yml"
    json_handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    log_config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"json": {"()": "singer_sdk.logging.StructuredFormatter"}},
                "handlers": {"stderr": json_handler},
                "root": {"level": "INFO", "handlers": ["stderr"]},
            }
        )
    )
    (tmp_path / "config.json").write_text(json.dumps(emulator.config(field_map=STORE_MAP)))
    done = subprocess.run(
        [TARGET, "--config", str(tmp_path / "config.json")],
        input=lines([schema("stock", STORE_FEED), *_records(2)]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SINGER_SDK_LOG_CONFIG": str(log_config)},
        cwd=tmp_path,
    )
    assert done.returncode == 1
    logged = [json.loads(line) for line in done.stderr.splitlines() if line]
    [error] = [e for e in logged if e["level"] == "error"]
    assert error["extra"]["error_type"] == "SchemaMappingError"
    assert "exception" not in error
    assert error["message"].startswith("Stream 'stock' cannot be loaded into destination 'kibo'")
