"""The SDK sink: checks each record, maps it onto an item and hands it to the run's loader."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import Sink
from typing_extensions import override

from target_kibo_inventory.journal.bookmarks import canonical
from target_kibo_inventory.mapping import (
    InvalidRecordError,
    MissingKeyPropertyError,
    RecordMapper,
    api_fields,
    check_schema,
)
from target_kibo_inventory.reader import InputLineError
from target_kibo_inventory.rules import clip, quote
from target_kibo_inventory.validation import (
    InvalidSchemaError,
    SchemaViolationError,
    compile_validator,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_kibo_inventory.target import TargetKiboInventory

METRIC_EVERY = 1000
"""Records are added to the SDK's record_count metric in bunches of this many."""


class InventorySink(Sink):
    """One stream's records, as items for the shared loader.

    Requests are sized by the loader per location (`refresh_batch_items`,
    `adjust_batch_items`), not per stream, so this sink is never "full": the SDK drains it
    only at its drain points (end of input, the periodic record-age drain, SIGTERM), where
    every buffered item is sent before STATE is written.
    """

    def __init__(
        self,
        target: TargetKiboInventory,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        settings = target.settings
        self.operation = target.operation_for(stream_name)
        self.loader = target.loader
        self.positions = target.record_positions
        self.dead_letters = target.dead_letters
        self._uncounted = 0
        destination = target.destination
        rules = destination.items(self.operation)
        field_map = settings.field_map_for(stream_name)
        check_schema(
            stream_name,
            self.schema,
            rules,
            field_map,
            settings.location_name,
            destination.name,
            settings.stream_field_maps.get(stream_name, {}),
        )
        self.mapper = RecordMapper(
            stream_name,
            self.schema,
            self.key_properties,
            rules,
            field_map,
            settings.location_name,
        )
        self.keep_sources = destination.job_queue is None
        """Items are answered one by one: each keeps its record, for the dead letters."""
        self.bookmark_properties = tuple(target.bookmark_properties.get(stream_name, ()))
        """The stream's bookmark (SCHEMA's bookmark_properties), followed for movements."""
        if self.operation != "adjust":
            self.bookmark_properties = ()
        if ignored := self.mapper.ignored(api_fields(destination), field_map):
            self.logger.warning(
                "Stream '%s' is sent as %s, whose items take no %s (destination %s): these fields "
                "are not sent.",
                clip(stream_name),
                self.operation,
                ", ".join(ignored),
                destination.name,
            )

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """A validator compiled once for this schema (None when validate_records is off)."""
        if not self.validate_schema:
            return None
        try:
            return compile_validator(self.schema)
        except InvalidSchemaError as error:
            stream = clip(self.stream_name)
            raise InputLineError(f"stream '{stream}' has an invalid schema: {error}") from None

    @property
    @override
    def is_full(self) -> bool:
        """Never: the loader sends each location's request as soon as it is full."""
        return False

    @override
    def process_record(self, record: Any, context: dict[str, Any]) -> None:
        """Check and map one record, then buffer its item; a bad record fails or is set aside."""
        position = self._next_position()
        try:
            self._check(record, position)
            mapped = self.mapper.map(record, position)
        except InvalidRecordError as error:
            self.dead_letters.reject(error, record)
            return
        bookmark = self._bookmark(record) if self.bookmark_properties else None
        self._hand_over(mapped.location, mapped.item, position, bookmark)

    def load(self, location: str, item: dict[str, Any], bookmark: tuple[Any, str] | None) -> None:
        """Buffer the item of a record the compiled record path checked and mapped."""
        self.tally_record_read()  # `_next_position` and `_hand_over` written out (per record:
        self._uncounted += 1  # the calls cost 3% more CPU on a compiled adjust stream)
        if self._uncounted >= METRIC_EVERY:
            self._count_records()
        positions = self.positions
        position = positions[self.stream_name] = positions[self.stream_name] + 1
        self.loader.add(
            self.operation,
            location,
            item,
            self.stream_name,
            source=(self.stream_name, position) if self.keep_sources else None,
            bookmark=bookmark,
        )

    def count_lane(self) -> Callable[[str, dict[str, Any], bytes, bytes], None] | None:
        """`load` for a stream of plain counts (no bookmark, no record kept), in one call.

        Each item comes with its key and encoding (see InventoryLoader.count_lane). None for
        any other stream.
        """
        if self.operation == "adjust" or self.keep_sources:
            return None
        add_count = self.loader.count_lane(self.stream_name)
        tally = self.tally_record_read
        positions, stream = self.positions, self.stream_name

        def load_count(location: str, item: dict[str, Any], key: bytes, encoded: bytes) -> None:
            tally()  # `_next_position` written out: this runs for every record
            self._uncounted += 1
            if self._uncounted >= METRIC_EVERY:
                self._count_records()
            positions[stream] += 1
            add_count(location, item, key, encoded)

        return load_count

    def _next_position(self) -> int:
        """Count a record (the SDK's metric in bunches); its position in the stream."""
        self._uncounted += 1
        if self._uncounted >= METRIC_EVERY:
            self._count_records()
        self.positions[self.stream_name] += 1
        return self.positions[self.stream_name]

    def _hand_over(
        self,
        location: str,
        item: dict[str, Any],
        position: int,
        bookmark: tuple[Any, str] | None,
    ) -> None:
        self.loader.add(
            self.operation,
            location,
            item,
            self.stream_name,
            source=(self.stream_name, position) if self.keep_sources else None,
            bookmark=bookmark,
        )

    def _bookmark(self, record: dict[str, Any]) -> tuple[Any, str] | None:
        """A movement's bookmark value and its name (key properties, else a digest).

        None when the record carries no bookmark value.
        """
        values = [record.get(name) for name in self.bookmark_properties]
        if any(value is None for value in values):
            return None
        value = values[0] if len(values) == 1 else values
        if self.key_properties:
            name = canonical([record.get(key) for key in self.key_properties])
        else:
            name = hashlib.sha256(canonical(record).encode()).hexdigest()[:32]
        return value, name

    def _check(self, record: Any, position: int) -> None:
        """A JSON object, the stream's schema and key properties, as InvalidRecordError."""
        if type(record) is not dict:
            got = "null" if record is None else quote(record)
            rule = f"must be a JSON object; got {got}"
            raise InvalidRecordError(self.stream_name, position, None, "record", rule)
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except SchemaViolationError as error:
                rule = f"breaks the stream's schema: {error.rule}"
                raise self._invalid(record, position, error.field, rule) from None
        for key in self.key_properties:
            if key not in record:
                rule = "is a key property and is missing"
                identifier = self.mapper.identify(record)
                raise MissingKeyPropertyError(self.stream_name, position, identifier, key, rule)

    def _invalid(
        self, record: dict[str, Any], position: int, field: str, rule: str
    ) -> InvalidRecordError:
        identifier = self.mapper.identify(record)
        return InvalidRecordError(self.stream_name, position, identifier, field, rule)

    def _count_records(self) -> None:
        """Add the records processed since the last call to the SDK's record_count metric."""
        self.record_counter_metric.increment(self._uncounted)
        self._uncounted = 0

    @override
    def process_batch(self, context: dict[str, Any]) -> None:
        """At a drain, send every buffered item of every location."""
        self._count_records()
        self.loader.flush()

    @override
    def clean_up(self) -> None:
        """Report the last records to the metric before the SDK closes it."""
        self._count_records()
        super().clean_up()
