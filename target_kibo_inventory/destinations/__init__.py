"""Destinations: one module per API style (paths, request body, limits, reading the answer)."""

from target_kibo_inventory.destinations.kibo import KiboTranslationApi

__all__ = ["KiboTranslationApi"]
