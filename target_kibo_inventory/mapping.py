"""Mapping of records onto a destination's items: field lookups compiled once per schema."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from singer_sdk.exceptions import MissingKeyPropertiesError

from target_kibo_inventory.rules import RuleError, clip, quote

if TYPE_CHECKING:
    from target_kibo_inventory.destinations.base import Destination, FieldRule, ItemRules


class InvalidRecordError(ValueError):
    """A record cannot become an inventory item; names the stream, record, field and rule."""

    def __init__(
        self,
        stream: str,
        position: int,
        identifier: str | None,
        field: str,
        rule: str,
        record_property: str | None = None,
    ) -> None:
        self.stream = stream
        self.position = position
        self.identifier = identifier
        self.field = field
        self.rule = rule
        ident = f" ({identifier})" if identifier else ""
        prop = f" (record property '{clip(record_property)}')" if record_property else ""
        super().__init__(
            f"Invalid record in stream '{clip(stream)}', record #{position}{ident}: "
            f"field '{clip(field)}'{prop} {rule}"
        )


class FieldMapError(ValueError):
    """`field_map` names a field the destination does not have."""


class MissingKeyPropertyError(InvalidRecordError, MissingKeyPropertiesError):
    """A record lacks one of its stream's key properties (the SDK's error type, too)."""


def snake_case(name: str) -> str:
    """`safetyStock` → `safety_stock`, `binID` → `bin_id`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class MappedItem(NamedTuple):
    """One record as an inventory item, with the location it belongs to."""

    location: str
    item: dict[str, Any]


class RecordMapper:
    """Maps the records of one stream onto a destination's items; lookups are resolved once
    per schema."""

    def __init__(
        self,
        stream: str,
        schema: Mapping[str, Any],
        key_properties: Sequence[str],
        rules: ItemRules,
        field_map: Mapping[str, str],
        default_location: str | None,
    ) -> None:
        self.stream = stream
        self.rules = rules
        self.key_properties = tuple(key_properties)
        self.default_location = default_location
        properties = schema.get("properties") or {}
        self.declared = frozenset(properties) if properties else None
        self.location_keys = _keys(rules.location, field_map, properties)
        self.lookups = _lookups(rules.fields, field_map, properties)
        self.all_location_keys = _keys(rules.location, field_map, {})
        self.all_lookups = _lookups(rules.fields, field_map, {})

    def ignored(self, fields: Iterable[str], field_map: Mapping[str, str]) -> list[str]:
        """Those of these API fields that the stream carries (or field_map maps) but this
        operation's items do not take."""
        rules = (*self.rules.fields, self.rules.location)
        taken = {name for rule in rules for name in (rule.name, *rule.fallbacks)}
        properties = self.declared or frozenset()
        return [
            f
            for f in fields
            if f not in taken and (f in field_map or any(k in properties for k in _candidates(f)))
        ]

    def map(self, record: Mapping[str, Any], position: int) -> MappedItem:
        """Turn a record into an item; raise InvalidRecordError naming the broken rule.

        Properties are looked up among those the schema declares, resolved once; a record
        that carries undeclared properties too is looked up among every candidate.
        """
        lookups, location_keys = self.lookups, self.location_keys
        if self.declared is not None and not record.keys() <= self.declared:
            lookups, location_keys = self.all_lookups, self.all_location_keys
        item: dict[str, Any] = {}
        get = record.get
        for api_field, key, convert in lookups:
            value = get(key)
            if value is None or value == "" or api_field in item:
                continue
            try:
                item[api_field] = convert(value)
            except RuleError as error:
                raise self._error(record, position, api_field, key, str(error)) from None
        self._check_required(record, position, item)
        return MappedItem(self._location(record, position, location_keys), item)

    def _check_required(self, record: Mapping[str, Any], position: int, item: dict) -> None:
        identifiers = self.rules.identifiers
        if not any(name in item for name in identifiers):
            field = "/".join(identifiers)
            choice = _one_of(identifiers)
            rule = f"is required: {choice} must be a non-empty string"
            raise self._error(record, position, field, None, rule)
        for name in self.rules.required:
            if name not in item:
                raise self._error(record, position, name, None, "is required")

    def _location(
        self, record: Mapping[str, Any], position: int, location_keys: tuple[str, ...]
    ) -> str:
        key, value = _find(record, location_keys)
        name = self.rules.location.name
        if value is None:
            if self.default_location:
                return self.default_location
            rule = "is required: the record has none and the location_name setting is not set"
            raise self._error(record, position, name, None, rule)
        try:
            return self.rules.location.convert(value)
        except RuleError as error:
            raise self._error(record, position, name, key, str(error)) from None

    def _error(
        self,
        record: Mapping[str, Any],
        position: int,
        api_field: str,
        key: str | None,
        rule: str,
    ) -> InvalidRecordError:
        prop = None if key in (None, api_field) else key
        identifier = self.identify(record)
        return InvalidRecordError(self.stream, position, identifier, api_field, rule, prop)

    def identify(self, record: Mapping[str, Any]) -> str | None:
        """The record's key properties, else its item identifiers, as `name=value` text."""
        if not isinstance(record, Mapping):
            return None
        keys = [k for k in self.key_properties if record.get(k) is not None]
        if not keys:
            keys = [
                key
                for api_field, key, _ in self.lookups
                if api_field in self.rules.identifiers and record.get(key) not in (None, "")
            ]
        return ", ".join(f"{clip(k)}={quote(record[k])}" for k in keys) or None


def api_fields(destination: Destination) -> list[str]:
    """Every field name that `field_map` may map for this destination, in order."""
    names: dict[str, None] = {}
    for operation in destination.operations:
        rules = destination.items(operation)
        for rule in (rules.location, *rules.fields):
            names.update(dict.fromkeys((rule.name, *rule.fallbacks)))
    return list(names)


def check_field_map(field_map: Mapping[str, str], destination: Destination) -> None:
    """Raise FieldMapError naming field_map keys that are no field of the destination."""
    known = api_fields(destination)
    unknown = sorted(set(field_map) - set(known))
    if unknown:
        raise FieldMapError(
            f"field_map has unknown API field(s) {', '.join(unknown)}; the API fields of "
            f"destination '{destination.name}' are {', '.join(known)}."
        )


def _one_of(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"at least one of {', '.join(names[:-1])} or {names[-1]}"


def _lookups(
    fields: Sequence[FieldRule], field_map: Mapping[str, str], properties: Mapping[str, Any]
) -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
    """(API field, record property, converter) in order of preference."""
    return tuple(
        (rule.name, key, rule.convert)
        for rule in fields
        for key in _keys(rule, field_map, properties)
    )


def _keys(
    rule: FieldRule, field_map: Mapping[str, str], properties: Mapping[str, Any]
) -> tuple[str, ...]:
    """The record properties a field is read from: its own, then its fallbacks'."""
    keys: dict[str, None] = {}
    for name in (rule.name, *rule.fallbacks):
        keys.update(dict.fromkeys(_lookup(name, field_map, properties)))
    return tuple(keys)


def _candidates(api_field: str) -> tuple[str, ...]:
    snake = snake_case(api_field)
    return (api_field,) if snake == api_field else (api_field, snake)


def _lookup(
    api_field: str, field_map: Mapping[str, str], properties: Mapping[str, Any]
) -> tuple[str, ...]:
    """The record properties to read an API field from, in order of preference: the mapped
    one, else the API name and its snake_case form (only those declared, when `properties`
    is given)."""
    if api_field in field_map:
        return (field_map[api_field],)
    candidates = _candidates(api_field)
    if not properties:
        return candidates
    return tuple(c for c in candidates if c in properties)


def _find(record: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    """The first of these properties that holds a value (null and "" hold none)."""
    for key in keys:
        value = record.get(key)
        if value is not None and value != "":
            return key, value
    return None, None
