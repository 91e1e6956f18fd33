"""The destination the settings name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_kibo_inventory.destinations.increff import Increff
from target_kibo_inventory.destinations.kibo import KiboTranslated
from target_kibo_inventory.destinations.kibo_native import KiboUnifiedCommerce

if TYPE_CHECKING:
    from target_kibo_inventory.destinations.base import Destination
    from target_kibo_inventory.settings import Settings


def build(settings: Settings) -> Destination:
    """The destination the settings name; it checks the settings it needs (SettingsError)."""
    if settings.destination == "increff":
        return Increff(settings)
    if settings.api_style == "unified_commerce":
        return KiboUnifiedCommerce(settings)
    return KiboTranslated(settings)
