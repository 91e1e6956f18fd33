"""Request bodies and limits checked against Kibo's official OpenAPI spec, when it is present."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from target_kibo_inventory.limits import ADJUST_MAX_ITEMS, REFRESH_COST_STEP, REFRESH_MAX_ITEMS
from tests.helpers import ALL_FIELDS, record, run_target, schema

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "api" / "kibo-openapi-inventory.json"

pytestmark = pytest.mark.skipif(
    not SPEC_PATH.exists(), reason=f"Kibo's OpenAPI spec is not at {SPEC_PATH}"
)


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(SPEC_PATH.read_text())


def _operation(spec: dict, name: str) -> dict:
    return spec["paths"][f"/commerce/inventory/v5/inventory/{name}"]["post"]


def test_limits_match_the_spec(spec):
    refresh = _operation(spec, "refresh")["description"]
    adjust = _operation(spec, "adjust")["description"]
    assert re.search(rf"Refresh API can accept up to {REFRESH_MAX_ITEMS} items", refresh)
    assert re.search(rf"batches of {REFRESH_COST_STEP} items", refresh)
    assert re.search(rf"Adjust API only accepts up to {ADJUST_MAX_ITEMS} items", adjust)


# The translation API's adjust guide (kibo-uc-inventory-adjust.txt) documents this field, which
# the native API's AdjustItem schema lacks.
GUIDE_ONLY = {"AdjustItem": {"inventorylocatorname": {"type": "string", "maxLength": 50}}}


def _check_items(items: list[dict], name: str, item_schema: dict) -> None:
    """Each field is one the spec names (its `LTD` is the guides' `ltd`), of the spec's type."""
    properties = {n.lower(): sub for n, sub in item_schema["properties"].items()}
    properties.update(GUIDE_ONLY.get(name, {}))
    for item in items:
        for name, value in item.items():
            assert name.lower() in properties, f"{name} is not a field of {item_schema['title']}"
            jsonschema.validate(value, properties[name.lower()])


def test_refresh_and_adjust_bodies_match_the_spec_schemas(spec, emulator, tmp_path):
    schemas = spec["components"]["schemas"]
    properties = ALL_FIELDS
    full = {
        "sku": "S1",
        "upc": 12345,
        "part_number": "P1",
        "location_name": "L",
        "quantity": "9",
        "bin_id": 2,
        "ltd": 1.5,
        "floor": 1,
        "safety_stock": 2,
        "currency_id": 840,
        "retail_price": "19.99",
        "inventory_locator_name": "Aisle 5",
        "attributes": ["A", "B"],
    }
    for operation, item_schema in (("refresh", "RefreshItem"), ("adjust", "AdjustItem")):
        messages = [schema(operation, properties), record(operation, **full)]
        run = run_target(emulator.config(operation=operation), messages, tmp_path)
        assert run.returncode == 0, run.stderr
        [request] = [r for r in emulator.api_requests() if r["operation"] == operation]
        items = emulator.job(request["jobID"], items=True)["items"]
        _check_items(items, item_schema, schemas[item_schema])
        assert items[0]["quantity"] == 9
    assert emulator.stock() == {("L", "S1"): 18}
