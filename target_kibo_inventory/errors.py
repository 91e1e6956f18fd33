"""Exception classes that any module may raise, imported by all and importing nothing."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting, or a combination of settings, is not usable."""
