"""Settings: each declared once (`declare`), shared or a destination's own (`shared`).

They are read from a config file or environment variables (`sources`).
A destination's module declares its own settings with `setting` in a `DestinationSettings`
class; `config_schema` composes them with the shared ones. The package imports no destination
and no run-time module.
"""

from target_kibo_inventory.settings.declare import setting
from target_kibo_inventory.settings.shared import (
    DestinationSettings,
    Settings,
    config_schema,
    https_url,
    is_loopback,
    require,
)

__all__ = [
    "DestinationSettings",
    "Settings",
    "config_schema",
    "https_url",
    "is_loopback",
    "require",
    "setting",
]
