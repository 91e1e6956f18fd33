"""Request bodies and limits checked against Kibo's official OpenAPI spec, when it is present."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT4

from target_kibo_inventory.destinations.kibo.limits import (
    ADJUST_MAX_ITEMS,
    REFRESH_COST_STEP,
    REFRESH_MAX_ITEMS,
)
from target_kibo_inventory.emulator.server import KIBO_TOKEN_PATH
from tests.harness import ALL_FIELDS, record, run_target, schema

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


# Kibo's native Unified Commerce API (api_style: unified_commerce): every body the target sends
# is validated against the spec's RefreshRequest / AdjustRequest, their `$ref`s and `allOf`
# resolved by `referencing`. The spec's schemas allow properties they do not name, so each
# name is also checked to be one the spec defines (exactly: `LTD`, not `ltd`); `date-time`
# values are checked to be ISO 8601 with an offset, the form of the spec's example
# '2020-09-28T12:00:00-0500'.

SPEC_URI = "urn:kibo:openapi-inventory"
DATE_TIMES = jsonschema.FormatChecker(formats=())


@DATE_TIMES.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


class SpecBody:
    """The request body schema of a native operation, from the spec."""

    def __init__(self, spec: dict, operation: str) -> None:
        registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec))
        self.resolver = registry.resolver(SPEC_URI)
        body_ref = _operation(spec, operation)["requestBody"]["$ref"]
        body = self.resolver.lookup(SPEC_URI + body_ref).contents
        schema_ref = SPEC_URI + body["content"]["application/json"]["schema"]["$ref"]
        self.title = self.resolver.lookup(schema_ref).contents["title"]
        self.validator = jsonschema.Draft4Validator(
            {"$ref": schema_ref}, registry=registry, format_checker=DATE_TIMES
        )
        self.fields = self._properties({"$ref": schema_ref}, self.resolver)
        self.item_fields = self._properties(self.fields["items"]["items"], self.resolver)

    def _properties(self, schema: dict, resolver) -> dict:
        """The properties a schema names, through `$ref` and `allOf`."""
        if "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            return self._properties(resolved.contents, resolved.resolver)
        properties = dict(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            properties |= self._properties(part, resolver)
        return properties

    def errors(self, body: dict) -> list[str]:
        """Where the body breaks the schema, or names a field the spec does not define."""
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validator.iter_errors(body)
        ]
        errors += [f"{n}: not a field of {self.title}" for n in body if n not in self.fields]
        for index, item in enumerate(body.get("items") or []):
            unknown = [n for n in item if n not in self.item_fields]
            errors += [f"items/{index}/{n}: not a field of the spec's item" for n in unknown]
        return errors


NATIVE_RECORD = {
    "sku": "S1",
    "upc": 12345,
    "part_number": "P1",
    "location_code": "WH1",
    "quantity": "9",
    "bin_id": 2,
    "ltd": 1.5,
    "floor": 1,
    "safety_stock": 2,
    "currency_id": 840,
    "retail_price": "19.99",
    "inventory_locator_name": "Aisle 5",
    "attributes": ["A", "B"],
    "tags": {"channel": "web"},
    "delivery_date": "2020-09-28T12:00:00-0500",
    "external_id": "PO-1",
    "lot_code": "LOT-7",
    "condition": "new",
    "serial_number": 778,
    "date": "2024-01-31T00:00:00.5+05:30",
}


def test_the_spec_body_check_finds_what_breaks_the_spec(spec):
    refresh = SpecBody(spec, "refresh")
    assert refresh.errors({"locationCode": "L", "items": [{"sku": "A", "quantity": 1}]}) == []
    assert refresh.errors({"items": []}) == [": 'locationCode' is a required property"]
    translated = {"locationName": "L", "items": [{"sku": "A", "quantity": 1, "ltd": 1.5}]}
    assert "locationName: not a field of Refresh Request" in refresh.errors(translated)
    assert "items/0/ltd: not a field of the spec's item" in refresh.errors(translated)
    wrong_types = {"locationCode": "L", "items": [{"sku": "A", "LTD": "x", "tags": ["web"]}]}
    assert len(refresh.errors(wrong_types)) == 2
    no_offset = {"locationCode": "L", "items": [{"sku": "A", "deliveryDate": "2020-09-28"}]}
    assert refresh.errors(no_offset)
    adjust = SpecBody(spec, "adjust")
    assert adjust.errors({"locationCode": "L", "items": [{"sku": "A", "floor": 1}]}) == [
        "items/0/floor: not a field of the spec's item"
    ]


def test_native_bodies_match_the_spec_schemas(spec, emulator, tmp_path):
    """Refresh and adjust bodies with every field of the spec's items, and the location read
    each way, are valid RefreshRequest and AdjustRequest bodies."""
    properties = {name: {} for name in [*NATIVE_RECORD, "location_name", "store"]}
    records = [
        NATIVE_RECORD,
        {"sku": "S2", "store": "Boston", "quantity": 0, "date": "2024-01-31T00:00:00Z"},
        {
            "upc": "U3",
            "location_name": "Main",
            "quantity": 3,
            "delivery_date": " 2030-01-01T00:00:00+00:00 ",
        },
    ]
    for operation in ("refresh", "adjust"):
        if operation == "adjust":  # an adjust of a net 0 is not sent (README, Batching)
            records[1] = {**records[1], "quantity": -2}
        messages = [schema(operation, properties)]
        messages += [record(operation, **r) for r in records]
        config = emulator.config(
            api_style="unified_commerce",
            api_secret=emulator.api_secret,
            auth_url=emulator.url + KIBO_TOKEN_PATH,
            operation=operation,
            field_map={"locationName": "store"},
            location_name="Fallback",
        )
        run = run_target(config, messages, tmp_path)
        assert run.returncode == 0, run.stderr
    logged = emulator.get("/emulator/requests", bodies=1)["requests"]
    sent = [
        (r["operation"], r["body"]) for r in logged if r.get("operation") not in (None, "queue")
    ]
    assert len(sent) == 6
    for operation, body in sent:
        assert SpecBody(spec, operation).errors(body) == [], body
    for operation in ("refresh", "adjust"):
        item_names = {
            n for op, body in sent if op == operation for item in body["items"] for n in item
        }
        assert item_names == set(SpecBody(spec, operation).item_fields), operation
        locations = {body["locationCode"] for op, body in sent if op == operation}
        assert locations == {"WH1", "Boston", "Fallback"}
