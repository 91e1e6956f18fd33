"""Destinations: one module per inventory API, each implementing `base.Destination`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from target_kibo_inventory.destinations.base import Destination
    from target_kibo_inventory.settings import Settings


def build(settings: Settings) -> Destination:
    """The destination the settings name; it checks the settings it needs (SettingsError)."""
    from target_kibo_inventory.destinations.increff import Increff  # noqa: PLC0415
    from target_kibo_inventory.destinations.kibo import KiboTranslated  # noqa: PLC0415

    if settings.destination == "increff":
        return Increff(settings)
    return KiboTranslated(settings)
