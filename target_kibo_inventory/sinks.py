"""The SDK sink: maps each record onto an item and hands it to the run's loader."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import Sink

from target_kibo_inventory.mapping import RecordMapper

if TYPE_CHECKING:
    from target_kibo_inventory.target import TargetKiboInventory


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
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        settings = target.settings
        self.operation = settings.operation_for(stream_name)
        self.loader = target.loader
        self.positions = target.record_positions
        self.mapper = RecordMapper(
            stream_name,
            self.schema,
            self.key_properties,
            self.operation,
            settings.field_map,
            settings.location_name,
        )
        if self.mapper.ignored:
            self.logger.warning(
                "Stream '%s' is sent as adjust, whose items take no %s: these fields are not sent.",
                stream_name,
                ", ".join(self.mapper.ignored),
            )

    @property
    def is_full(self) -> bool:
        """Never: the loader sends each location's request as soon as it is full."""
        return False

    def process_record(self, record: dict, context: dict) -> None:
        """Map the record (stopping the run at a bad one) and buffer its item."""
        self.positions[self.stream_name] += 1
        mapped = self.mapper.map(record, self.positions[self.stream_name])
        self.loader.add(self.operation, mapped.location, mapped.item, self.stream_name)

    def process_batch(self, context: dict[str, Any]) -> None:
        """At a drain, send every buffered item of every location."""
        self.loader.flush()
