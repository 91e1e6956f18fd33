"""Seeded, reproducible faults of the API endpoints, and simulated job failures and timing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

IDENTIFIERS = ("partNumber", "upc", "sku")


@dataclass
class Faults:
    """The faults in force (rates are 0..1 per request, drawn from one seeded sequence)."""

    seed: int = 0
    error_rate: float = 0.0
    """Answer one of `error_statuses`; the request is not applied."""
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    rate_limit_rate: float = 0.0
    """Answer 429 with a Retry-After of `retry_after` seconds; not applied."""
    retry_after: float = 1.0
    drop_before_rate: float = 0.0
    """Close the connection before any answer; not applied."""
    drop_after_rate: float = 0.0
    """Accept the request (it is applied), then close the connection before the answer."""
    latency: float = 0.0
    """Seconds added to every API request."""
    step_seconds: float = 0.0
    """Simulated processing time of a Kibo job per started 3000-item step (while WORKING)."""
    fail_sku_prefix: str | None = None
    """A Kibo job with an item identifier starting so is accepted, then ends FAILED."""
    failed_item_count: str = "processed"
    """The itemCount a FAILED job answers: `processed` (0: such a job applies nothing, and
    the spec's itemCount is "the number of items processed") or `sent` (the items it carried,
    an answer that cannot tell whether any was applied)."""
    increff_reject_sku_prefix: str | None = None
    """Increff SKUs starting so are answered as failures and not applied."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        """Faults from JSON (`fault_seed` is a synonym of `seed`); unknown names are refused."""
        values = dict(values)
        if "fault_seed" in values:
            if "seed" in values:
                raise ValueError("give seed or fault_seed, not both")
            values["seed"] = values.pop("fault_seed")
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for name, value in values.items():
            if not _valid(name, value):
                raise ValueError(f"{name}: invalid value {value!r}")
        faults = cls(**values)
        faults.error_statuses = tuple(faults.error_statuses)
        return faults

    def draw(self, rng: random.Random) -> str | None:
        """The fault for one request: 'error', 'rate_limit', 'drop_before', 'drop_after' or None."""
        roll = rng.random()
        for name in ("error", "rate_limit", "drop_before", "drop_after"):
            rate = getattr(self, f"{name}_rate")
            if roll < rate:
                return name
            roll -= rate
        return None


def _valid(name: str, value: Any) -> bool:
    if name == "failed_item_count":
        return value in ("processed", "sent")
    if name.endswith("_prefix"):
        return value is None or isinstance(value, str)
    if name == "seed":
        return type(value) is int
    if name == "error_statuses":
        return (
            isinstance(value, list | tuple)
            and len(value) > 0
            and all(type(s) is int for s in value)
        )
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def failing_items(items: list[dict[str, Any]], prefix: str | None) -> list[str]:
    """Messages naming each item identifier that starts with `prefix` (none without one)."""
    if not prefix:
        return []
    return [
        f"items[{index}].{name} {item[name]}: failed (fail_sku_prefix {prefix})"
        for index, item in enumerate(items)
        for name in IDENTIFIERS
        if isinstance(item.get(name), str) and item[name].startswith(prefix)
    ]
