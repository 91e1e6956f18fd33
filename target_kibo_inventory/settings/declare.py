"""Settings declared once: each field of a settings class is its schema property and its value.

    @dataclass(frozen=True)
    class IncreffSettings(DestinationSettings):
        increff_batch_items: int = setting(
            th.IntegerType(minimum=1, maximum=300),
            "SKUs per Increff request",
            "SKUs in a full Increff request; Increff takes at most 300.",
            default=300,
        )

`properties(IncreffSettings)` are its JSON schema properties, in the order declared (the SDK's
typing helpers); `values(IncreffSettings, config)` its typed values, each checked by its own
`check`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from singer_sdk import typing as th

SETTING = "setting"
"""The key of a field's declaration in its metadata."""

Check = Callable[[str, Any], None]
"""A check of one setting: its name and the value set (not None); raises SettingsError."""


@dataclass(frozen=True)
class Declaration:
    """One setting: its JSON type, words, default, secrecy and check."""

    kind: th.JSONTypeHelper[Any] | type[th.JSONTypeHelper[Any]]
    title: str
    description: str
    default: Any = None
    secret: bool = False
    check: Check | None = None
    blank_is_unset: bool = True
    """An empty string counts as not set (None); else it is kept (a path that may be off)."""

    def schema_property(self, name: str) -> th.Property[Any]:
        """The setting's schema property."""
        return th.Property(
            name,
            self.kind,
            default=self.default,
            title=self.title,
            description=self.description,
            secret=self.secret,
        )

    @property
    def number(self) -> bool:
        """Whether its JSON type is number (read as a float: JSON numbers may be Decimals)."""
        kind = self.kind if isinstance(self.kind, th.JSONTypeHelper) else self.kind()
        types = kind.type_dict.get("type", [])
        return "number" in ([types] if isinstance(types, str) else types)


def setting(
    kind: th.JSONTypeHelper[Any] | type[th.JSONTypeHelper[Any]],
    title: str,
    description: str,
    *,
    default: Any = None,
    secret: bool = False,
    check: Check | None = None,
    blank_is_unset: bool = True,
) -> Any:
    """A field of a settings class that declares a setting named as the field."""
    declaration = Declaration(kind, title, description, default, secret, check, blank_is_unset)
    metadata = {SETTING: declaration}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def declarations(cls: type) -> dict[str, Declaration]:
    """The settings a class declares, by name, in the order declared (none if no dataclass)."""
    found = fields(cls) if is_dataclass(cls) else ()
    return {f.name: f.metadata[SETTING] for f in found if SETTING in f.metadata}


def properties(cls: type) -> list[th.Property[Any]]:
    """The schema properties of the settings a class declares."""
    return [declaration.schema_property(name) for name, declaration in declarations(cls).items()]


def values(cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the settings a class declares, from the config, each checked.

    A setting not in the config keeps its default; a blank string is None (unless the
    setting keeps it); a number is a float.
    """
    found: dict[str, Any] = {}
    for name, declaration in declarations(cls).items():
        if name not in config:
            continue
        value = config[name]
        if value == "" and declaration.blank_is_unset:
            value = None
        if value is not None and declaration.check is not None:
            declaration.check(name, value)
        if value is not None and declaration.number:
            value = float(value)
        found[name] = value
    return found
