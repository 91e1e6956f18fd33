"""The Singer target: settings, sinks, and STATE messages that carry the accepted job IDs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError

from target_kibo_inventory.loader import InventoryLoader
from target_kibo_inventory.settings import CONFIG_SCHEMA, Settings, SettingsError
from target_kibo_inventory.sinks import InventorySink

STATE_KEY = "kibo_inventory"
UNUSED_BUILTIN_SETTINGS = ("add_record_metadata", "load_method", "batch_size_rows")


class TargetKiboInventory(Target):
    """Loads stock counts into Kibo OMS as Inventory Refresh and Adjust jobs."""

    name = "target-kibo-inventory"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = InventorySink

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.settings = Settings.from_config(dict(self.config))
        except SettingsError as error:
            raise ConfigValidationError(str(error), errors=[str(error)]) from None
        self.settings.warn_about_costs(self.logger)
        if self.config.get("batch_size_rows"):
            self.logger.warning(
                "batch_size_rows is not used by this target: requests are sized per location "
                "by refresh_batch_items and adjust_batch_items."
            )
        self.loader = InventoryLoader(self.settings, self.logger)
        self.record_positions: Counter[str] = Counter()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Add the SDK's built-in settings but those that mean nothing for an inventory API."""
        super().append_builtin_config(config_jsonschema)
        for name in UNUSED_BUILTIN_SETTINGS:
            config_jsonschema["properties"].pop(name, None)

    def _write_state_message(self, state: dict) -> None:
        """Write the tap's state plus the jobs accepted since the previous STATE message.

        The SDK calls this at the end of each full drain, after every buffered item was
        accepted by the API, so the state is always a safe point to resume from.
        """
        state = {key: value for key, value in state.items() if key != STATE_KEY}
        state[STATE_KEY] = {"jobs": self.loader.ledger.take()}
        super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        """Drain everything; when the tap sent no STATE, still report the accepted jobs."""
        super().process_endofpipe()
        if len(self.loader.ledger):
            self._write_state_message({})
        self.loader.close()
