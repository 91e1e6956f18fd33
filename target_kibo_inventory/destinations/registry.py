"""The destinations: every module of this package that declares one as `DESTINATION`.

A new destination is a new module here (or a package, as Kibo's), found when the target is
loaded: there is no list to edit. The config schema is composed from theirs (`config_schema`).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

from target_kibo_inventory import destinations
from target_kibo_inventory.destinations.base import DestinationType
from target_kibo_inventory.settings import Settings
from target_kibo_inventory.settings import config_schema as compose

if TYPE_CHECKING:
    from collections.abc import Mapping

    from target_kibo_inventory.destinations.base import Destination

DEFAULT = "kibo"
"""The destination of a config that names none."""


@cache
def destination_types() -> dict[str, DestinationType]:
    """Every destination, by name: the default first, then the others by name."""
    found: dict[str, DestinationType] = {}
    for module in pkgutil.iter_modules(destinations.__path__, f"{destinations.__name__}."):
        declared = getattr(importlib.import_module(module.name), "DESTINATION", None)
        if not isinstance(declared, DestinationType):
            continue
        if declared.name in found:
            raise TypeError(f"destination {declared.name!r} is declared twice ({module.name})")
        found[declared.name] = declared
    return {name: found[name] for name in sorted(found, key=lambda name: (name != DEFAULT, name))}


def config_schema() -> dict[str, Any]:
    """The config schema: `destination`, each destination's own settings, the shared ones."""
    return compose(list(destination_types().values()), DEFAULT)


def read_settings(config: Mapping[str, Any]) -> Settings:
    """The run's settings from the validated config (SettingsError when they do not fit).

    A setting the config lacks has its default (the SDK has applied them already).
    """
    kinds = destination_types()
    own = {name: kind.settings for name, kind in kinds.items()}
    return Settings.from_config({"destination": DEFAULT, **config}, own)


def build(settings: Settings) -> Destination:
    """The destination the settings name; it checks what it needs (SettingsError)."""
    return destination_types()[settings.destination].build(settings)
