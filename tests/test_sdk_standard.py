"""The Singer SDK's standard target tests, run against the emulator over real HTTP.

Their streams are not inventory feeds. One config makes records valid where they can be: `id`
is the partNumber and `metric` the count, at one default location. Every standard test is given
an asserted outcome below: the stock it leaves in the emulator, or, for streams that carry no
count or no identifier, the documented InvalidRecordError with nothing sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

from target_kibo_inventory.mapping import InvalidRecordError
from target_kibo_inventory.target import TargetKiboInventory
from tests.tools import report

pytestmark = pytest.mark.sdk_standard

LOCATION = "Standard Tests"
CONFIG = {"location_name": LOCATION, "field_map": {"partNumber": "id", "quantity": "metric"}}
NO_COUNT = "field 'quantity' is required"
NO_ID = (
    "field 'partNumber/upc/sku' is required: at least one of partNumber, upc or sku must be "
    "a non-empty string"
)

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


def _refuses(name: str, stream: str, record: str, error: str, why: str) -> Callable:
    """The stream is no inventory: the run stops at its first record, naming the rule broken."""
    standard = getattr(_Standard, f"test_target_{name}")
    message = f"Invalid record in stream '{stream}', record #1{record}: {error}"

    def test(self, config, resource, runner, emulator, capsys) -> None:
        with pytest.raises(InvalidRecordError, match=f"^{re.escape(message)}$"):
            standard(config, resource, runner)
        assert emulator.api_requests() == []
        report(capsys, f"sdk {name}: refused, 0 requests: {message}")

    test.__doc__ = why
    return test


class TestSDKStandardTargetTests(_Standard):
    """Each standard test, with the outcome it must have here."""

    @pytest.fixture
    def runner(self, emulator) -> TargetTestRunner:
        """The SDK's runner, with the target pointed at this test's emulator."""
        return TargetTestRunner(TargetKiboInventory, config=emulator.config(**CONFIG))

    test_target_cli_prints = _sends("cli_prints", {}, "--version and --about print; no input.")
    test_target_camelcase_complex_schema = _sends(
        "camelcase_complex_schema", {}, "SCHEMA messages only: nothing to send."
    )
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
        "array_data", "test_array_data", " (id=1)", NO_COUNT, "Ids and fruit lists: no count."
    )
    test_target_encoded_string_data = _refuses(
        "encoded_string_data", "test_strings", " (id=1)", NO_COUNT, "Ids and texts: no count."
    )
    test_target_optional_attributes = _refuses(
        "optional_attributes", "test_optional_attributes", " (id=1)", NO_COUNT, "No count."
    )
    test_target_pk_updates = _refuses(
        "pk_updates", "example_stream", " (id=1)", NO_COUNT, "Ids, names, e-mails: no count."
    )
    test_target_record_missing_fields = _refuses(
        "record_missing_fields", "record_missing_fields", " (id=1)", NO_COUNT, "No count."
    )
    test_target_schema_updates = _refuses(
        "schema_updates", "test_schema_updates", " (id=1)", NO_COUNT, "Ids and a1..a6: no count."
    )
    test_target_camelcase = _refuses(
        "camelcase", "TestCamelcase", " (Id='1')", NO_ID, "`Id` and `clientName`: no identifier."
    )
    test_target_schema_no_properties = _refuses(
        "schema_no_properties",
        "test_object_schema_with_properties",
        "",
        NO_ID,
        "Only a nested object: no identifier at the top level (see test_capabilities_e2e.py).",
    )
    test_target_special_chars_in_attributes = _refuses(
        "special_chars_in_attributes",
        "test:SpecialChars!in?attributes",
        " (_id='a2e98886')",
        NO_ID,
        "`_id` and a nested object: no identifier.",
    )


def test_every_standard_test_has_an_outcome_here():
    standard = {name for name in dir(_Standard) if name.startswith("test_")}
    assert standard <= set(vars(TestSDKStandardTargetTests))
