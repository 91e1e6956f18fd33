"""In process: which schemas `check_schema` judges and what it requires; the arithmetic of
`max_invalid_records`."""

from __future__ import annotations

import pytest

from target_kibo_inventory.dead_letter import InvalidLimit
from target_kibo_inventory.destinations.increff import V0
from target_kibo_inventory.destinations.kibo.translated import ADJUST_ITEMS, REFRESH_ITEMS
from target_kibo_inventory.mapping import SchemaMappingError, check_schema

ENOUGH = {"sku": {}, "quantity": {}, "location_name": {}}


def _check(schema: dict, rules=REFRESH_ITEMS, field_map=None, location=None) -> None:
    check_schema("s", schema, rules, field_map or {}, location, "kibo")


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": ENOUGH},
        {"properties": ENOUGH, "additionalProperties": False},
        {"properties": {}},  # lists nothing: not judged
        {"type": "object"},  # no properties at all: not judged
        {"properties": {"x": {}}, "additionalProperties": True},
        {"properties": {"x": {}}, "additionalProperties": {}},
        {"properties": {"x": {}}, "patternProperties": {"(": {}}},  # a pattern Python can't read
        {"properties": {"upc": {}, "qty": {}}, "patternProperties": {"^(quantity|location)": {}}},
    ],
)
def test_accepted(schema):
    _check(schema)


@pytest.mark.parametrize(
    ("schema", "missing"),
    [
        ({"properties": {"sku": {}, "quantity": {}}}, ["locationName"]),
        ({"properties": {"sku": {}, "location_name": {}}}, ["quantity"]),
        ({"properties": {"qty": {}, "location_name": {}}}, ["partNumber", "quantity"]),
        ({"properties": {"x": {}}, "additionalProperties": False}, ["partNumber", "quantity"]),
    ],
)
def test_refused_naming_each_missing_field(schema, missing):
    with pytest.raises(SchemaMappingError) as error:
        _check(schema)
    for field in missing:
        assert field in str(error.value)


def test_a_default_location_stands_in_for_the_column():
    _check({"properties": {"sku": {}, "quantity": {}}}, location="Main")


def test_adjust_needs_the_same_fields():
    with pytest.raises(SchemaMappingError, match="API field 'quantity'"):
        _check({"properties": {"sku": {}, "location_name": {}}}, rules=ADJUST_ITEMS)


def test_a_mapped_field_is_looked_for_only_under_its_mapped_name():
    with pytest.raises(SchemaMappingError, match=r"'on_hand' \(field_map\.quantity\)"):
        _check({"properties": ENOUGH}, field_map={"quantity": "on_hand"})
    _check({"properties": {**ENOUGH, "on_hand": {}}}, field_map={"quantity": "on_hand"})


def test_a_case_difference_is_pointed_out():
    with pytest.raises(SchemaMappingError, match=r"did you mean 'Quantity'\?"):
        _check({"properties": {"sku": {}, "location_name": {}, "Quantity": {}}})


def test_increff_v0_falls_back_through_every_sku_source_and_location_name():
    _check({"properties": {"upc": {}, "quantity": {}, "location_name": {}}}, rules=V0)
    with pytest.raises(SchemaMappingError) as error:
        _check({"properties": {"quantity": {}}}, rules=V0)
    message = str(error.value)
    assert "'clientSkuId', 'client_sku_id', 'channelSkuCode', 'channel_sku_code', 'sku'" in message
    assert "'fulfillmentLocationId', 'fulfillment_location_id', 'locationCode'" in message


def test_a_long_list_of_properties_is_cut():
    properties = {f"column_{i}": {} for i in range(80)}
    with pytest.raises(SchemaMappingError, match=r"column_49 \(and 30 more\)\."):
        _check({"properties": properties})


@pytest.mark.parametrize(
    ("value", "read", "allowed"),
    [
        (5, 0, 5),
        (5, 10_000, 5),
        (5.0, 10, 5),
        (0.1, 1, 10),
        (0.1, 100, 10),
        (0.1, 109, 10),
        (0.1, 110, 11),
        (0.29, 100, 29),  # exact: 0.29 * 100 is 28.999... in floating point
        (0.001, 1, 1),  # a fraction always lets one record through
        (0.001, 2_000, 2),
        (0.5, 3, 50),
    ],
)
def test_invalid_limit_allows(value, read, allowed):
    assert InvalidLimit(value).allows(read) == allowed
