"""The Singer SDK's standard target tests, run against the emulator over real HTTP.

Their streams are not inventory feeds. One config makes records valid where they can be: `id`
is the partNumber and `metric` the count, at one default location. Every standard test is given
an asserted outcome below: the stock it leaves in the emulator, or, for streams whose schema
declares no count or no identifier, the documented SchemaMappingError when that SCHEMA message
arrives, with nothing sent (before the schema-time check, these runs stopped at the stream's
first record with an InvalidRecordError, and a stream of SCHEMA messages only passed).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

from target_kibo_inventory.mapping import SchemaMappingError
from target_kibo_inventory.target import TargetKiboInventory
from tests.outside import report

pytestmark = pytest.mark.sdk_standard

LOCATION = "Standard Tests"
CONFIG = {"location_name": LOCATION, "field_map": {"partNumber": "id", "quantity": "metric"}}
NO_COUNT = "API field 'quantity' (looked for 'metric' (field_map.quantity))"
NO_ID = "any of the API fields partNumber, upc or sku (looked for 'id' (field_map.partNumber), "
NO_ID += "'upc', 'sku'{hint})"


def _no_id(hint: str = "") -> str:
    return NO_ID.format(hint=hint)


_Standard = get_target_test_class(TargetKiboInventory, config=CONFIG)


def _sends(name: str, stock: dict[str, int], why: str) -> Callable:
    """The standard test passes and leaves this stock (partNumber → quantity) at LOCATION."""
    standard = getattr(_Standard, f"test_target_{name}")

    def test(self, config, resource, runner, emulator, capsys) -> None:
        standard(config, resource, runner)
        assert emulator.stock() == {(LOCATION, part): qty for part, qty in stock.items()}
        report(capsys, f"sdk {name}: passes, {len(emulator.api_requests())} requests, {stock=}")

    test.__doc__ = why
    return test


def _refuses(name: str, stream: str, missing: str, properties: str, why: str) -> Callable:
    """The stream is no inventory: the run stops when its SCHEMA arrives, naming the API
    fields its schema has no property for, and the properties it has."""
    standard = getattr(_Standard, f"test_target_{name}")
    message = (
        f"Stream '{stream}' cannot be loaded into destination 'kibo': its schema declares no "
        f"property for {missing}. The schema's properties are: {properties}. Fix field_map (or "
        "the tap's schema, or a stream map) and run again; the run stopped before any record "
        "of this stream."
    )

    def test(self, config, resource, runner, emulator, capsys) -> None:
        with pytest.raises(SchemaMappingError, match=f"^{re.escape(message)}$"):
            standard(config, resource, runner)
        assert emulator.api_requests() == []
        report(capsys, f"sdk {name}: refused at its SCHEMA, 0 requests: {message}")

    test.__doc__ = why
    return test


class TestSDKStandardTargetTests(_Standard):
    """Each standard test, with the outcome it must have here."""

    @pytest.fixture
    def runner(self, emulator) -> TargetTestRunner:
        """The SDK's runner, with the target pointed at this test's emulator."""
        return TargetTestRunner(TargetKiboInventory, config=emulator.config(**CONFIG))

    test_target_cli_prints = _sends("cli_prints", {}, "--version and --about print; no input.")
    test_target_duplicate_records = _sends(
        "duplicate_records", {"1": 100, "2": 20}, "Ids and counts: the last count of an id wins."
    )
    test_target_no_primary_keys = _sends(
        "no_primary_keys", {"1": 11, "2": 22, "3": 33}, "Ids and counts without key properties."
    )
    test_target_invalid_schema = _sends(
        "invalid_schema", {}, "The SDK's own assertion: a SCHEMA without properties."
    )
    test_target_record_before_schema = _sends(
        "record_before_schema", {}, "The SDK's own assertion: RecordsWithoutSchemaException."
    )
    test_target_record_missing_key_property = _sends(
        "record_missing_key_property", {}, "The SDK's own assertion: MissingKeyPropertiesError."
    )
    test_target_array_data = _refuses(
        "array_data", "test_array_data", NO_COUNT, "id, fruits", "Ids and fruit lists: no count."
    )
    test_target_encoded_string_data = _refuses(
        "encoded_string_data", "test_strings", NO_COUNT, "id, info", "Ids and texts: no count."
    )
    test_target_optional_attributes = _refuses(
        "optional_attributes", "test_optional_attributes", NO_COUNT, "id, optional", "No count."
    )
    test_target_pk_updates = _refuses(
        "pk_updates", "example_stream", NO_COUNT, "id, name, email", "Ids, names, e-mails."
    )
    test_target_record_missing_fields = _refuses(
        "record_missing_fields", "record_missing_fields", NO_COUNT, "id, optional", "No count."
    )
    test_target_schema_updates = _refuses(
        "schema_updates", "test_schema_updates", NO_COUNT, "id, a1, a2", "Ids and a1..a6."
    )
    test_target_camelcase = _refuses(
        "camelcase",
        "TestCamelcase",
        _no_id("; did you mean 'Id'?") + f"; nor for {NO_COUNT}",
        "Id, clientName",
        "`Id` and `clientName`: no identifier (names are case-sensitive), no count.",
    )
    test_target_camelcase_complex_schema = _refuses(
        "camelcase_complex_schema",
        "ForecastingTypeToCategory",
        _no_id("; did you mean 'Id'?") + f"; nor for {NO_COUNT}",
        "Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, "
        "SystemModstamp, ForecastingTypeId, ForecastingItemCategory, DisplayPosition, "
        "IsAdjustable, IsOwnerAdjustable",
        "SCHEMA messages only, of Salesforce-like columns: no identifier, no count.",
    )
    test_target_schema_no_properties = _refuses(
        "schema_no_properties",
        "test_object_schema_with_properties",
        f"{_no_id()}; nor for {NO_COUNT}",
        "object_store",
        "Only a nested object: no identifier at the top level (see test_capabilities_e2e.py).",
    )
    test_target_special_chars_in_attributes = _refuses(
        "special_chars_in_attributes",
        "test:SpecialChars!in?attributes",
        _no_id("; did you mean '_id'?") + f"; nor for {NO_COUNT}",
        "_id, d",
        "`_id` and a nested object: no identifier, no count.",
    )


def test_every_standard_test_has_an_outcome_here():
    standard = {name for name in dir(_Standard) if name.startswith("test_")}
    assert standard <= set(vars(TestSDKStandardTargetTests))
