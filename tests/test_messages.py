"""The messages a new user meets first (issue 19): an empty quantity names its record property,
a thousands separator gets a hint, an unmapped column is offered by what its name says, and
`--about` and `--help` say what the target does. In process, but `--about` and `--help`, which
are the CLI's."""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from target_kibo_inventory.destinations.kibo.translated import REFRESH_ITEMS
from target_kibo_inventory.mapping import InvalidRecordError, SchemaMappingError, check_schema
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import TARGET, lines, record, schema
from tests.test_pipeline import Recorder

FIELD_MAP = {"locationName": "store", "upc": "product_code", "quantity": "qty_on_hand"}
COLUMNS = {
    name: {"type": ["string", "null"]}
    for name in ("store", "product_code", "item_description", "qty_on_hand", "last_counted")
}
"""The issue's CSV, `Store, Product Code, Item Description, Qty On Hand, Last Counted`, as
tap-spreadsheets declares it."""


def _error_of(tmp_path, monkeypatch, **row) -> str:
    """The error that stops a run (in process) at this one record of the issue's CSV."""
    monkeypatch.chdir(tmp_path)
    config = {"tenant_id": "t", "api_key": "k", "api_secret": "secret-0", "field_map": FIELD_MAP}
    target = TargetKiboInventory(config=config, client=Recorder(lambda r: b'{"jobID": 1}'))
    values = {"store": "S1", "product_code": "0001", "item_description": "Tee", **row}
    with pytest.raises(InvalidRecordError) as error:
        target.listen(io.StringIO(lines([schema("stock", COLUMNS), record("stock", **values)])))
    return str(error.value)


@pytest.mark.parametrize(("value", "got"), [("", "''"), (None, "null")])
def test_an_empty_quantity_names_the_record_property(tmp_path, monkeypatch, value, got):
    assert _error_of(tmp_path, monkeypatch, qty_on_hand=value) == (
        "Invalid record in stream 'stock', record #1 (product_code='0001'): field 'quantity' "
        f"(record property 'qty_on_hand') is required; got {got}"
    )


def test_a_missing_quantity_names_the_property_looked_for(tmp_path, monkeypatch):
    assert _error_of(tmp_path, monkeypatch).endswith(
        "field 'quantity' is required: the record has no property 'qty_on_hand'"
    )


@pytest.mark.parametrize(("value", "plain"), [("1,200", "1200"), ("1 200", "1200")])
def test_a_thousands_separator_gets_a_hint(tmp_path, monkeypatch, value, plain):
    separator = value[1]
    assert _error_of(tmp_path, monkeypatch, qty_on_hand=value).endswith(
        f"field 'quantity' (record property 'qty_on_hand') must be an integer; got {value!r} "
        f"({separator!r} as a thousands separator? Numbers are read without one, as "
        f"{plain!r}: remove it in the source, or with a stream map)"
    )


def test_a_number_that_is_not_grouped_gets_no_hint(tmp_path, monkeypatch):
    assert _error_of(tmp_path, monkeypatch, qty_on_hand="1,20").endswith(
        "must be an integer; got '1,20'"
    )


def test_an_unmapped_quantity_offers_the_column_named_so():
    with pytest.raises(SchemaMappingError) as error:
        check_schema("stock", {"properties": COLUMNS}, REFRESH_ITEMS, {}, None, "kibo")
    message = str(error.value)
    assert (
        "nor for API field 'quantity' (looked for 'quantity'; did you mean 'qty_on_hand'?)"
    ) in message
    assert "(looked for 'partNumber', 'part_number', 'upc', 'sku'; did you mean " in message
    assert "did you mean 'product_code'?" in message  # not item_description: it describes
    assert "did you mean 'store'?; or set location_name" in message


def test_a_typo_is_still_offered_before_a_column_named_so():
    properties = {"sku": {}, "store": {}, "qty": {}, "quantty": {}}
    with pytest.raises(SchemaMappingError, match="did you mean 'quantty'"):
        check_schema("stock", {"properties": properties}, REFRESH_ITEMS, {}, None, "kibo")


def _cli(*args: str) -> str:
    return subprocess.run([TARGET, *args], capture_output=True, text=True, check=True).stdout


def test_about_names_every_destination():
    description = json.loads(_cli("--about", "--format=json"))["description"]
    assert description == (
        "Loads stock counts into Kibo OMS, Kibo Unified Commerce and Increff OMS."
    )


def test_help_says_what_the_target_does():
    text = " ".join(_cli("--help").split())
    assert "Execute the Singer target." not in text
    assert (
        "Load stock counts from a Singer tap into Kibo OMS, Kibo Unified Commerce or Increff OMS."
    ) in text
    assert "Inventory Refresh (absolute counts) or Adjust (signed deltas)" in text
    assert "meltano run tap-spreadsheets target-kibo-inventory" in text
    assert "--config" in text
