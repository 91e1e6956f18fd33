"""Mapping of records onto a destination's items: field lookups compiled once per schema."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from singer_sdk.exceptions import MissingKeyPropertiesError

from target_kibo_inventory import rules as field_rules
from target_kibo_inventory.errors import RuleError
from target_kibo_inventory.rules import clip, quote

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


class SchemaMappingError(ValueError):
    """A stream's schema declares no property that could give a field every item needs."""


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
    """Maps the records of one stream onto a destination's items.

    Lookups are resolved once per schema.
    """

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
        self.identifiers = tuple(rules.identifiers)
        self.required = tuple(rules.required)
        self.plain_location = rules.location.convert is field_rules.location
        """Whether the location is the plain `rules.location`: a printable string is kept."""

    def ignored(self, fields: Iterable[str], field_map: Mapping[str, str]) -> list[str]:
        """Those of these API fields that this operation's items do not take.

        Only fields that the stream carries (or field_map maps) are named.
        """
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
        for name in self.identifiers:
            if name in item:
                break
        else:
            raise self._no_identifier(record, position)
        for name in self.required:
            if name not in item:
                raise self._missing(record, position, name, lookups)
        return MappedItem(self._location(record, position, location_keys), item)

    def _missing(
        self,
        record: Mapping[str, Any],
        position: int,
        api_field: str,
        lookups: Sequence[tuple[str, str, Callable[[Any], Any]]],
    ) -> InvalidRecordError:
        """The error of a record that gives no value for a required field.

        It names the record property that is empty or null, or those it has none of.
        """
        keys = [key for name, key, _ in lookups if name == api_field]
        for key in keys:
            if key in record:
                got = "null" if record[key] is None else quote(record[key])
                return self._error(record, position, api_field, key, f"is required; got {got}")
        names = _or([f"'{clip(key)}'" for key in keys]) if keys else f"'{api_field}'"
        rule = f"is required: the record has no property {names}"
        return self._error(record, position, api_field, None, rule)

    def _no_identifier(self, record: Mapping[str, Any], position: int) -> InvalidRecordError:
        """The error of a record that gives none of the identifiers."""
        identifiers = self.identifiers
        rule = f"is required: {_one_of(identifiers)} must be a non-empty string"
        return self._error(record, position, "/".join(identifiers), None, rule)

    def _location(
        self, record: Mapping[str, Any], position: int, location_keys: tuple[str, ...]
    ) -> str:
        """The record's location: the first of its location properties that holds a value."""
        get = record.get
        for key in location_keys:
            value = get(key)
            if value is None or value == "":
                continue
            if (
                self.plain_location
                and type(value) is str
                and value.isprintable()
                and not value.isspace()
            ):
                return value  # what rules.location returns, without the call
            try:
                location: str = self.rules.location.convert(value)
            except RuleError as error:
                name = self.rules.location.name
                raise self._error(record, position, name, key, str(error)) from None
            return location
        if self.default_location:
            return self.default_location
        rule = "is required: the record has none and the location_name setting is not set"
        raise self._error(record, position, self.rules.location.name, None, rule)

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


def check_field_map(
    field_map: Mapping[str, str], destination: Destination, setting: str = "field_map"
) -> None:
    """Raise FieldMapError naming the keys of a field map that are no field of the destination.

    `setting` names the map in the message (`field_map`, `stream_field_maps.<stream>`).
    """
    known = api_fields(destination)
    unknown = sorted(set(field_map) - set(known))
    if unknown:
        raise FieldMapError(
            f"{setting} has unknown API field(s) {', '.join(clip(u) for u in unknown)}; the API "
            f"fields of destination '{destination.name}' are {', '.join(known)}."
        )


def check_field_maps(
    field_map: Mapping[str, str],
    stream_field_maps: Mapping[str, Mapping[str, str]],
    destination: Destination,
) -> None:
    """Raise FieldMapError naming a key that is no field of the destination.

    Of `field_map`, or of a stream's map in `stream_field_maps`.
    """
    check_field_map(field_map, destination)
    for stream, stream_map in stream_field_maps.items():
        check_field_map(stream_map, destination, f"stream_field_maps.{clip(stream)}")


SHOWN_PROPERTIES = 50
"""Most schema properties a SchemaMappingError lists (with the count of all)."""


class _Needed(NamedTuple):
    """A field every item needs, as a SchemaMappingError names it."""

    what: str
    rules: tuple[FieldRule, ...]
    hint: str = ""
    kind: str = ""
    """`identifier`, `quantity` or `location`: which words name such a column (WORDS)."""


WORDS = {
    "quantity": ("qty", "quantity", "onhand", "soh", "stock", "available", "units", "count"),
    "identifier": ("sku", "upc", "ean", "gtin", "barcode", "part", "article", "code", "item"),
    "location": ("location", "loc", "store", "warehouse", "site", "branch", "shop", "facility"),
}
"""Words of column names that usually hold each kind of needed field, the likeliest first: a
property named so ("Qty On Hand" → `qty_on_hand`) is offered as "did you mean"."""
NOT_IDENTIFIERS = frozenset(("description", "desc", "name", "title"))
"""Words of columns that describe an item rather than identify it (`item_description`)."""


def check_schema(
    stream: str,
    schema: Mapping[str, Any],
    rules: ItemRules,
    field_map: Mapping[str, str],
    default_location: str | None,
    destination: str,
    stream_entries: Collection[str] = (),
) -> None:
    """Raise SchemaMappingError when the schema declares no property for a field items need.

    `stream_entries` are the API fields that `stream_field_maps` maps for this stream (the
    message names the setting each mapped property came from).

    The fields every item needs: the quantity (every field of `rules.required`), an
    identifier, and the location (unless `default_location` is set).

    A schema is judged only when it lists its properties and allows no others: one without
    `properties`, or whose `additionalProperties` is `true` or a schema, says that records may
    carry columns it does not name, so it is accepted and each record is checked on its own.
    A name that matches a pattern of `patternProperties` counts as declared.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return
    additional = schema.get("additionalProperties")
    if additional is True or isinstance(additional, Mapping):
        return
    declared = _declared(properties, schema.get("patternProperties"))
    by_name = {rule.name: rule for rule in rules.fields}
    identifiers = tuple(by_name[name] for name in rules.identifiers)
    needed = [
        _Needed(
            f"API field '{identifiers[0].name}'"
            if len(identifiers) == 1
            else f"any of the API fields {_or(rules.identifiers)}",
            identifiers,
            kind="identifier",
        ),
        *(_Needed(f"API field '{name}'", (by_name[name],), kind=name) for name in rules.required),
    ]
    if not default_location:
        location = rules.location
        needed.append(
            _Needed(f"API field '{location.name}'", (location,), "set location_name", "location")
        )
    origin = {name: f"stream_field_maps.{clip(stream)}.{name}" for name in stream_entries}
    missing = [
        _looked_for(field, field_map, properties, origin)
        for field in needed
        if not any(declared(key) for rule in field.rules for key in _keys(rule, field_map, {}))
    ]
    if missing:
        names = [clip(name) for name in properties]
        shown = ", ".join(names[:SHOWN_PROPERTIES])
        if len(names) > SHOWN_PROPERTIES:
            shown += f" (and {len(names) - SHOWN_PROPERTIES} more)"
        raise SchemaMappingError(
            f"Stream '{clip(stream)}' cannot be loaded into destination '{destination}': its "
            f"schema declares no property for {'; nor for '.join(missing)}. The schema's "
            f"properties are: {shown}. Fix {'stream_field_maps' if origin else 'field_map'} "
            "(or the tap's schema, or a stream map) and run again; the run stopped before any "
            "record of this stream."
        )


def _declared(properties: Mapping[str, Any], patterns: Any) -> Callable[[str], bool]:
    """Whether the schema declares a property of this name.

    By name, or by a pattern of `patternProperties`; a pattern Python cannot read matches
    every name.
    """
    compiled = [_compiled(p) for p in patterns] if isinstance(patterns, Mapping) else []
    if None in compiled:
        return lambda name: True
    return lambda name: name in properties or any(p.search(name) for p in compiled if p)


def _compiled(pattern: Any) -> re.Pattern[str] | None:
    """A pattern of `patternProperties`, compiled; None when Python cannot read it."""
    try:
        return re.compile(pattern)
    except (re.error, TypeError):
        return None


def _looked_for(
    field: _Needed,
    field_map: Mapping[str, str],
    properties: Mapping[str, Any],
    origin: Mapping[str, str],
) -> str:
    """One missing field, as a SchemaMappingError describes it.

    The properties looked for (a mapped one with its setting: `origin` of the API field, else
    its field_map entry), a declared property that differs from one of them only in case or by
    a typo, and what else would do.
    """
    looked: dict[str, None] = {}
    names: list[str] = []
    for rule in field.rules:
        for name in (rule.name, *rule.fallbacks):
            if name in field_map:
                setting = origin.get(name, f"field_map.{name}")
                looked[f"'{clip(field_map[name])}' ({setting})"] = None
                names.append(str(field_map[name]))
            else:
                looked.update(dict.fromkeys(f"'{clip(c)}'" for c in _candidates(name)))
                names.extend(_candidates(name))
    text = f"{field.what} (looked for {', '.join(looked)}"
    if nested := _nested(names, properties):
        text += f"; '{clip(nested)}' is an object: flattening_enabled makes its fields properties"
    elif close := _close_property(names, [str(name) for name in properties]) or _named_like(
        field.kind, [str(name) for name in properties]
    ):
        text += f"; did you mean '{clip(close)}'?"
    if field.hint:
        text += f"; or {field.hint}"
    return text + ")"


def _nested(names: Sequence[str], properties: Mapping[str, Any]) -> str | None:
    """A declared object property whose flattened fields one of these names looks for, if any.

    Flattened fields are named `object__field` (the SDK's default separator).
    """
    for name in names:
        head = name.split("__", 1)[0]
        if head != name and isinstance(properties.get(head), Mapping):
            kinds = properties[head].get("type")
            if kinds == "object" or (isinstance(kinds, list) and "object" in kinds):
                return head
    return None


def _close_property(names: Sequence[str], properties: Sequence[str]) -> str | None:
    """A declared property that differs from one of these names only in case, if any.

    Else one close to one of them (a typo), if any.
    """
    folded = {prop.casefold(): prop for prop in properties}
    for name in names:
        if name.casefold() in folded:
            return folded[name.casefold()]
    for name in names:
        if close := difflib.get_close_matches(name, properties, n=1):
            return close[0]
    return None


def _named_like(kind: str, properties: Sequence[str]) -> str | None:
    """The property whose name holds the likeliest word (WORDS) for this kind of field, if any."""
    words = WORDS.get(kind, ())
    best: tuple[int, str] | None = None
    for prop in properties:
        parts = _words(prop)
        if kind == "identifier" and parts & NOT_IDENTIFIERS:
            continue
        rank = next((i for i, word in enumerate(words) if word in parts), None)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, prop)
    return best[1] if best else None


def _words(name: str) -> set[str]:
    """The words of a property name, lower case, and each two neighbours joined.

    `Qty On Hand`, `qty_on_hand` and `QtyOnHand` → qty, on, hand, qtyon, onhand.
    """
    parts = re.findall(r"[a-z]+|[0-9]+", snake_case(name))
    return {*parts, *(a + b for a, b in itertools.pairwise(parts))}


def _or(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


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
    """The record properties to read an API field from, in order of preference.

    The mapped one, else the API name and its snake_case form (only those declared, when
    `properties` is given).
    """
    if api_field in field_map:
        return (field_map[api_field],)
    candidates = _candidates(api_field)
    if not properties:
        return candidates
    return tuple(c for c in candidates if c in properties)
