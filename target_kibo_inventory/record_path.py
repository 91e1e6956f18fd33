"""The record path compiled once per stream: decode, validate and map a RECORD in one pass.

The general path decodes each line into a dict, validates it against the stream's schema, maps
it onto an item and hands it to the loader: a chain of calls per record. For a stream whose
schema is a typed Struct (see typed_schema) and whose records go straight to one sink (no
stream map but the identity, no `preprocess_record` hook), `compile_stream` writes one
function: it decodes the record straight into that Struct (validation in C), applies the
stream's mapping rules to its attributes (the common converters written inline, the others
called) and hands the item to the sink. Whatever it cannot settle, it leaves: it returns False
before anything is counted or sent, and the general path takes the line, with the same answer
and message as always (`tests/test_record_path.py` compares the two on random input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from target_kibo_inventory import rules
from target_kibo_inventory.batching import encode_item
from target_kibo_inventory.errors import RuleError
from target_kibo_inventory.journal.bookmarks import canonical
from target_kibo_inventory.typed_schema import decode_number, typed_records

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_kibo_inventory.sinks import InventorySink


class Line(msgspec.Struct):
    """A Singer message as far as the record path needs it: its type, stream and raw record."""

    type: Any = None
    stream: Any = None
    record: msgspec.Raw = msgspec.Raw(b"")
    """Empty when the message has none."""


decode_line = msgspec.json.Decoder(Line).decode
"""The head of a line (its other keys are skipped); raises msgspec.DecodeError on no object."""


@dataclass(frozen=True)
class CompiledStream:
    """A stream's compiled record path.

    `take(record)` takes a record decoded into the stream's Struct, `take_raw(raw)` one as raw
    JSON: each returns whether it took the record (checked, mapped and handed to the sink);
    False leaves it, uncounted, to the general path. `decode_line` decodes a whole line at
    once, its record into the Struct: a RECORD of this stream, in one pass (the caller checks
    `type` and `stream`; a DecodeError says nothing of which part failed).
    """

    stream: str
    take: Callable[[Any], bool]
    take_raw: Callable[[bytes], bool]
    decode_line: Callable[[bytes | str], Any]


INLINE: dict[Callable[[Any], Any], str] = {
    rules.to_text: "{v} if type({v}) is str and {v} and not {v}.isspace() else {c}({v})",
    rules.location: (
        "{v} if type({v}) is str and {v}.isprintable() and {v} and not {v}.isspace() else {c}({v})"
    ),
}
"""Converters written inline for their common case; the others (and the rest) are called."""


def compile_stream(sink: InventorySink) -> CompiledStream | None:
    """The compiled record path of a sink's stream, or None where only the general path can."""
    typed = typed_records(sink.schema)
    if typed is None:
        return None
    mapper = sink.mapper
    names = [key for _, key, _ in mapper.lookups] + list(mapper.location_keys)
    names += list(sink.key_properties) + list(sink.bookmark_properties)
    properties = sink.schema["properties"]
    if not all(name in typed.attributes for name in names):
        return None
    if any(_nested(properties[name]) for name in names):
        return None
    if sink.bookmark_properties and not sink.key_properties:
        return None  # a movement without key properties is named by the whole record's digest
    take = _Writer(sink, typed).function()
    decode = typed.decoder.decode

    def take_raw(raw: bytes) -> bool:
        try:
            record = decode(raw)
        except msgspec.DecodeError:
            return False
        return take(record)

    line = msgspec.defstruct(
        "RecordLine",
        [("type", Any, None), ("stream", Any, None), ("record", typed.struct)],
        kw_only=True,
    )
    return CompiledStream(sink.stream_name, take, take_raw, msgspec.json.Decoder(line).decode)


def _nested(schema: dict[str, Any]) -> bool:
    """Whether a property holds objects with properties (a Struct here, a dict elsewhere)."""
    items = schema.get("items")
    return "properties" in schema or (isinstance(items, dict) and "properties" in items)


class _Writer:
    """Writes a stream's record function: one line of Python per check and field."""

    def __init__(self, sink: InventorySink, typed: Any) -> None:
        self.sink = sink
        self.typed = typed
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "RuleError": RuleError,
            "Raw": msgspec.Raw,
            "decode_number": decode_number,
            "canonical": canonical,
            "SHORT_DIGITS": rules.SHORT_DIGITS,
        }

    def function(self) -> Callable[[Any], bool]:
        add = self.lines.append
        add("def take(r):")
        self._numbers()
        self._keys()
        self._item()
        self._location()
        self._hand_over()
        add("    return True")
        scope = dict(self.names)
        exec("\n".join(self.lines), scope)  # noqa: S102  code written here, from the schema
        take: Callable[[Any], bool] = scope["take"]
        return take

    def _hand_over(self) -> None:
        """The item to the sink: a plain count by its short lane where it has one."""
        load_count = self.sink.count_lane()
        if load_count is None:
            self._bookmark()
            self.names["load"] = self.sink.load
            self.lines.append("    load(location, item, bookmark)")
        else:
            self.names["load_count"] = load_count
            self.names["encode_item"] = encode_item
            self.lines.append(f"    key = encode_item([{self._identity()}])")
            self.lines.append("    load_count(location, item, key, encode_item(item))")

    def _identity(self) -> str:
        """The item's identity as `identity_by` makes it; a field never mapped is None."""
        mapped = {api_field for api_field, _, _ in self.sink.mapper.lookups}
        fields = self.sink.loader.destination.identity_fields
        return ", ".join(f"item.get({name!r})" if name in mapped else "None" for name in fields)

    def _attribute(self, prop: str) -> str:
        return f"r.{self.typed.attributes[prop]}"

    def _is_number(self, prop: str) -> bool:
        return self.typed.attributes[prop] in self.typed.numbers

    def _numbers(self) -> None:
        for index, (attribute, allowed) in enumerate(self.typed.numbers.items()):
            self.names[f"allowed{index}"] = allowed
            self.lines += [
                f"    v = r.{attribute}",
                f"    if v is not None and not allowed{index}(v):",
                "        return False",
            ]

    def _keys(self) -> None:
        for key in self.sink.key_properties:  # missing (or null): the general path tells
            self.lines += [f"    if {self._attribute(key)} is None:", "        return False"]

    def _read(self, prop: str, indent: str) -> tuple[list[str], str]:
        """Lines setting `v` to the property's value, and the test that it holds one.

        Null and '' hold none.
        """
        attribute = self._attribute(prop)
        if self._is_number(prop):
            lines = [f"{indent}v = {attribute}", f"{indent}if v is not None: v = decode_number(v)"]
            return lines, "v is not None"
        return [f"{indent}v = {attribute}"], "v is not None and v != ''"

    def _convert(self, name: str, convert: Callable[[Any], Any]) -> str:
        """The expression converting `v`: the common case written inline where known."""
        self.names[name] = convert
        if isinstance(convert, rules.IntegerRule):
            inline = f"v if type(v) is int and {convert.minimum} <= v <= {convert.high} else "
            if convert.short_strings:
                inline += (
                    "int(v) if type(v) is str and len(v) <= SHORT_DIGITS and v.isascii() "
                    "and v.isdigit() else "
                )
            return inline + f"{name}(v)"
        return INLINE.get(convert, "{c}({v})").format(v="v", c=name)

    def _item(self) -> None:
        """`item`: each API field from the first of its properties that holds a value."""
        add = self.lines.append
        add("    item = {}")
        assigned: set[str] = set()
        for index, (api_field, key, convert) in enumerate(self.sink.mapper.lookups):
            indent = "    "
            if api_field in assigned:  # an earlier property may have given it
                add(f"    if {api_field!r} not in item:")
                indent = "        "
            assigned.add(api_field)
            lines, holds = self._read(key, indent)
            self.lines += lines
            self.lines += [
                f"{indent}if {holds}:",
                f"{indent}    try:",
                f"{indent}        item[{api_field!r}] = {self._convert(f'c{index}', convert)}",
                f"{indent}    except RuleError:",
                f"{indent}        return False",
            ]
        self._item_checks(assigned)

    def _item_checks(self, assigned: set[str]) -> None:
        """The item has one of the identifiers and every required field (else: return)."""
        mapper = self.sink.mapper
        identifiers = [name for name in mapper.identifiers if name in assigned]
        missing = [f"{name!r} not in item" for name in mapper.required]
        if identifiers:
            missing.append(
                "(" + " and ".join(f"{name!r} not in item" for name in identifiers) + ")"
            )
        else:
            missing.append("True")  # no identifier can be given: the general path tells
        self.lines += [f"    if {' or '.join(missing)}:", "        return False"]

    def _location(self) -> None:
        """`location`: from the first location property that holds one, else the setting."""
        mapper = self.sink.mapper
        add = self.lines.append
        add("    location = None")
        convert = self._convert("convert_location", mapper.rules.location.convert)
        for key in mapper.location_keys:
            add("    if location is None:")
            lines, holds = self._read(key, "        ")
            self.lines += lines
            self.lines += [
                f"        if {holds}:",
                "            try:",
                f"                location = {convert}",
                "            except RuleError:",
                "                return False",
            ]
        self.names["DEFAULT_LOCATION"] = mapper.default_location or None
        add("    if location is None:")
        add("        location = DEFAULT_LOCATION")
        add("        if location is None:")
        add("            return False")

    def _bookmark(self) -> None:
        add = self.lines.append
        bookmark = self.sink.bookmark_properties
        if not bookmark:
            add("    bookmark = None")
            return
        values = ", ".join(self._plain(name) for name in bookmark)
        keys = ", ".join(self._plain(name) for name in self.sink.key_properties)
        add(f"    values = [{values}]")
        add("    if any(value is None for value in values):")
        add("        bookmark = None")
        add("    else:")
        value = "values[0]" if len(bookmark) == 1 else "values"
        add(f"        bookmark = ({value}, canonical([{keys}]))")

    def _plain(self, prop: str) -> str:
        """A property's value as the general path reads it (a raw number decoded)."""
        attribute = self._attribute(prop)
        if self._is_number(prop):
            return f"(None if {attribute} is None else decode_number({attribute}))"
        return attribute
