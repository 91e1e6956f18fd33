"""The baseline: a do-nothing target on the stock Meltano SDK (default reader and validator).

python benchmarks/baseline_target.py --config config.json < messages.jsonl
"""

from __future__ import annotations

from typing import Any

from singer_sdk import Sink, Target
from singer_sdk import typing as th


class NullSink(Sink):
    """Accepts every record and does nothing with it."""

    def process_record(self, record: dict, context: dict) -> None:
        """Drop the record."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Nothing to write."""


class BaselineTarget(Target):
    """A do-nothing SDK target: what the SDK itself costs per record."""

    name = "target-baseline"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NullSink


if __name__ == "__main__":
    BaselineTarget.cli()
