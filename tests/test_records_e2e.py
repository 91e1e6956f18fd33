"""End to end: every validation rule stops the run with an error naming stream, record, field.
The first case runs the CLI; the other cases and rules run its command in process."""

from __future__ import annotations

import pytest

from tests.harness import ALL_FIELDS, record, run_in_process, schema, state

ANY = {}
PROPERTIES = ALL_FIELDS
GOOD = {"sku": "GOOD-1", "location_name": "L1", "quantity": 1}

CASES = {
    "quantity missing": ({"sku": "X"}, "quantity", "is required"),
    "quantity not a number": ({"sku": "X", "quantity": "abc"}, "quantity", "must be an integer"),
    "quantity fractional": ({"sku": "X", "quantity": 1.5}, "quantity", "must be an integer"),
    "quantity boolean": ({"sku": "X", "quantity": True}, "quantity", "must be an integer"),
    "refresh quantity negative": ({"sku": "X", "quantity": -1}, "quantity", "≥ 0 for refresh"),
    "no identifier": ({"quantity": 1}, "partNumber/upc/sku", "at least one of partNumber"),
    "blank sku": ({"sku": "  ", "quantity": 1}, "sku", "must be a non-empty string"),
    "identifier not a string": ({"upc": ["1"], "quantity": 1}, "upc", "non-empty string"),
    "binID below 1": ({"sku": "X", "quantity": 1, "bin_id": 0}, "binID", "≥ 1"),
    "locator name too long": (
        {"sku": "X", "quantity": 1, "inventory_locator_name": "A" * 51},
        "inventoryLocatorName",
        "at most 50 characters",
    ),
    "too many attributes": (
        {"sku": "X", "quantity": 1, "attributes": [f"T{i}" for i in range(64)]},
        "attributes",
        "at most 63 attributes",
    ),
    "attributes not strings": (
        {"sku": "X", "quantity": 1, "attributes": [1, 2]},
        "attributes",
        "list of strings",
    ),
    "ltd not a number": ({"sku": "X", "quantity": 1, "ltd": "high"}, "ltd", "must be a number"),
    "retailPrice not a number": (
        {"sku": "X", "quantity": 1, "retail_price": "9,99"},
        "retailPrice",
        "must be a number",
    ),
    "floor not an integer": ({"sku": "X", "quantity": 1, "floor": 2.5}, "floor", "integer"),
    "safetyStock not an integer": (
        {"sku": "X", "quantity": 1, "safety_stock": "x"},
        "safetyStock",
        "integer",
    ),
    "currencyID not an integer": (
        {"sku": "X", "quantity": 1, "currency_id": 1.2},
        "currencyID",
        "integer",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_record_stops_the_run_naming_stream_record_field_and_rule(
    emulator, tmp_path, run_case, case
):
    fields, field, rule = CASES[case]
    bad = {"location_name": "L1", **fields}
    messages = [
        schema("inventory", PROPERTIES, key_properties=[]),
        record("inventory", **GOOD),
        state({"bookmarks": {"inventory": 1}}),
        record("inventory", **bad),
        state({"bookmarks": {"inventory": 2}}),
    ]
    run = run_case(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert "Invalid record in stream 'inventory', record #2" in run.stderr
    assert f"field '{field}" in run.stderr
    assert rule in run.stderr
    assert run.states == []  # nothing past what was accepted
    assert emulator.api_requests() == []


def test_error_names_record_property_identifier_and_position(emulator, tmp_path):
    messages = [
        schema("counts", {"item": ANY, "store": ANY, "qty": ANY}, key_properties=["item"]),
        *(record("counts", item=f"I{i}", store="S", qty=i) for i in range(3)),
        record("counts", item="I-BAD", store="S", qty=-4),
    ]
    config = emulator.config(field_map={"sku": "item", "locationName": "store", "quantity": "qty"})
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode != 0
    assert (
        "Invalid record in stream 'counts', record #4 (item='I-BAD'): field 'quantity' "
        "(record property 'qty') must be an integer ≥ 0 for refresh (an absolute count); got -4"
    ) in run.stderr


def test_missing_location_without_default_names_the_setting(emulator, tmp_path):
    # The schema declares a location column; this record has none.
    messages = [
        schema("stock", {"sku": ANY, "quantity": ANY, "location_name": ANY}),
        record("stock", sku="A", quantity=1),
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert "field 'locationName' is required" in run.stderr
    assert "location_name setting is not set" in run.stderr

    # The schema declares none: the run stops at the SCHEMA (tests/test_schema_mapping_e2e.py).
    messages[0] = schema("stock", {"sku": ANY, "quantity": ANY})
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode != 0
    assert (
        "no property for API field 'locationName' (looked for 'locationName', "
        "'location_name'; or set location_name)"
    ) in run.stderr


def test_adjust_accepts_any_sign_and_warns_about_fields_it_cannot_send(emulator, tmp_path):
    messages = [
        schema("moves", {"sku": ANY, "location_name": ANY, "quantity": ANY, "floor": ANY}),
        record("moves", sku="A", location_name="L", quantity=-3, floor=1),
        record("moves", sku="B", location_name="L", quantity="+4"),
    ]
    run = run_in_process(emulator.config(operation="adjust"), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "adjust, whose items take no floor" in run.stderr
    assert emulator.stock() == {("L", "A"): -3, ("L", "B"): 4}
    job = emulator.job(emulator.api_requests()[0]["jobID"], items=True)
    assert job["items"] == [{"sku": "A", "quantity": -3}, {"sku": "B", "quantity": 4}]
