"""Reading Singer messages: the SDK's msgspec reader, with a short path for RECORD lines."""

from __future__ import annotations

import sys
import typing as t
from collections import Counter
from decimal import Decimal

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.encoding import SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_kibo_inventory.rules import clip, quote


class InputLineError(InvalidInputLine):
    """A line that is no valid Singer message; names the line number and what is wrong."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"Input line {line}: {reason}" if line else reason)

    def at(self, line: int) -> InputLineError:
        """The same error, naming the line it was found on."""
        return type(self)(self.reason, line)


class NoSchemaError(InputLineError, RecordsWithoutSchemaException):
    """A RECORD message came before its stream's SCHEMA message."""


def _number(text: str) -> Decimal | str:
    """A JSON number as a Decimal; one beyond Decimal's exponents stays text, for the record
    rules to refuse as out of range."""
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


_lenient = msgspec.json.Decoder(float_hook=_number)


class RecordReader(MsgSpecReader):
    """Reads standard input as bytes and hands RECORD messages straight to their callback.

    Other messages take the SDK's path; every line that is no Singer message, there or here,
    is an InputLineError naming its line number. `before_input` is called before the first
    line is read (the target checks its credentials there); `on_failure` with the error that
    ends the reading, before it propagates.
    """

    before_input: t.Callable[[], None] | None = None
    on_failure: t.Callable[[BaseException], None] | None = None

    @property
    def default_input(self) -> t.IO:  # ty: ignore[invalid-method-override]
        """Standard input, undecoded: msgspec reads UTF-8 bytes directly."""
        return sys.stdin.buffer

    def process_lines(
        self, file_input: t.IO | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        """Decode each line and call its message type's callback; count the types."""
        if self.before_input is not None:
            self.before_input()
        try:
            return self._process_lines(file_input, callbacks)
        except BaseException as error:
            if self.on_failure is not None:
                self.on_failure(error)
            raise

    def _process_lines(
        self, file_input: t.IO | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        stats: Counter[str] = Counter()
        on_record = callbacks[SingerMessageType.RECORD]
        decode = decoder.decode
        records = 0
        try:
            for line in file_input or self.default_input:
                try:
                    message = decode(line)
                except (msgspec.DecodeError, ArithmeticError, RecursionError) as error:
                    message = _decode_again(line, error)
                if type(message) is dict and message.get("type") == SingerMessageType.RECORD:
                    on_record(message)
                    records += 1
                    continue
                self._current_message = line
                self.assert_line_requires(message, requires={"type"})
                kind = message["type"]
                callback = callbacks.get(kind) if type(kind) is str else None
                if callback is None:
                    self._process_unknown_message(message)
                else:
                    callback(message)
                stats[kind] += 1
        except InputLineError as error:
            if error.line is not None:
                raise
            number = records + sum(stats.values()) + 1  # each earlier line was counted once
            raise error.at(number) from None
        stats[SingerMessageType.RECORD] += records
        return stats

    def assert_line_requires(  # ty: ignore[invalid-method-override]
        self, line_dict: t.Any, requires: set[str]
    ) -> None:
        """Raise InputLineError unless the message is an object with these keys (and, if one
        is `stream`, a printable string). The SDK checks a schema's `properties` here too."""
        if "properties" in requires:
            what = "the SCHEMA message's schema"
        elif type(line_dict) is dict and type(line_dict.get("type")) is str:
            what = f"the {clip(line_dict['type'])} message"
        else:
            what = "a Singer message"
        if type(line_dict) is not dict:
            raise InputLineError(f"{what} must be a JSON object; got {quote(line_dict)}")
        if missing := sorted(requires - line_dict.keys()):
            names = ", ".join(f"'{name}'" for name in missing)
            raise InputLineError(f"{what} has no {names}: {quote(line_dict)}")
        stream = line_dict["stream"] if "stream" in requires else ""
        if type(stream) is not str or not stream.isprintable():
            rule = "must be a string without control characters"
            raise InputLineError(f"{what}'s 'stream' {rule}; got {quote(stream)}")

    def _process_unknown_message(self, message_dict: dict) -> None:
        """Refuse a message of a type Singer does not define."""
        raise InputLineError(f"unknown message type {quote(message_dict['type'])}")


def _decode_again(line: bytes | str, error: Exception) -> t.Any:
    """A line the SDK's decoder refused: read numbers beyond Decimal's range as text, or
    raise InputLineError quoting the start of the line."""
    if isinstance(error, ArithmeticError):
        try:
            return _lenient.decode(line)
        except (msgspec.DecodeError, RecursionError) as again:
            error = again
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    raise InputLineError(f"not valid JSON ({error}): {quote(text.rstrip())}")
