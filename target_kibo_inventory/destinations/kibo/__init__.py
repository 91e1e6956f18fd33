"""Kibo: the translated (OMS-compatible) endpoints or the native Unified Commerce API.

`settings.py` declares Kibo's settings, `limits.py` its numbers, `api.py` what both APIs share
(bodies, answers, job queue, tokens), `translated.py` and `native.py` each API; `api_style`
picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_kibo_inventory.destinations.base import DestinationType
from target_kibo_inventory.destinations.kibo.native import KiboUnifiedCommerce
from target_kibo_inventory.destinations.kibo.settings import KiboSettings
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated

if TYPE_CHECKING:
    from target_kibo_inventory.destinations.base import Destination
    from target_kibo_inventory.settings import Settings


def build(settings: Settings) -> Destination:
    """The API that `api_style` names."""
    if settings.of(KiboSettings).api_style == "unified_commerce":
        return KiboUnifiedCommerce(settings)
    return KiboTranslated(settings)


DESTINATION = DestinationType(
    name="kibo",
    summary="Kibo OMS or Unified Commerce, see `api_style`",
    settings=KiboSettings,
    build=build,
)
