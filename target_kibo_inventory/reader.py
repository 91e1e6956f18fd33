"""Reading Singer messages: the SDK's msgspec reader, with a short path for RECORD lines."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import select
import stat
import sys
import time
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.encoding import SingerMessageType
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from target_kibo_inventory.rules import clip, quote

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator


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
    """A JSON number as a Decimal.

    One beyond Decimal's exponents stays text, for the record rules to refuse as out of range.
    """
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


_lenient = msgspec.json.Decoder(float_hook=_number)


IDLE_CHECK_SECONDS = 1.0
"""How often `on_idle` is called while a pipe brings no input."""
READ_BYTES = 1 << 20
"""Input is read a megabyte at a time: each read lets the request threads run (the GIL), and
the reading thread then waits to run again, so few large reads beat many small ones."""
DISCARD_SECONDS = 5.0
"""After a fatal error, how long the rest of the input is read and dropped at most."""


Message = dict[str, t.Any]
"""A Singer message as decoded from its JSON line."""
Callbacks = dict[str, t.Callable[[Message], None]]
"""Each message type's handler, as the SDK's target passes them to `process_lines`."""


class RecordReader(MsgSpecReader):
    """Reads standard input as bytes and hands RECORD messages straight to their callback.

    Other messages take the SDK's path; a line that is no Singer message is an InputLineError
    naming its line number. `before_input` is called before the first line is read;
    `on_failure` with the error that ends the reading, before it propagates; `on_idle` (on a
    pipe) after each second that brought no input.
    """

    def __init__(
        self,
        *,
        before_input: Callable[[], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        compiled_record: Callable[[bytes | str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.before_input = before_input
        self.on_failure = on_failure
        self.on_idle = on_idle
        self.compiled_record = compiled_record

    @override
    def process_lines(self, file_input: t.IO[str] | None, callbacks: Callbacks) -> t.Counter[str]:
        """Decode each line and call its message type's callback; count the types."""
        if self.before_input is not None:
            self.before_input()
        try:
            return self._process_lines(file_input, callbacks)
        except BaseException as error:
            if self.on_failure is not None:
                self.on_failure(error)
            raise

    def _process_lines(self, file_input: t.IO[str] | None, callbacks: Callbacks) -> Counter[str]:
        stats: Counter[str] = Counter()
        on_record = callbacks[SingerMessageType.RECORD]
        decode = decoder.decode
        compiled = self.compiled_record
        records = 0
        try:
            for line in self._lines(file_input or sys.stdin.buffer):
                if compiled is not None and compiled(line):
                    records += 1
                    continue
                try:
                    message = decode(line)
                except (msgspec.DecodeError, ArithmeticError, RecursionError) as error:
                    message = _decode_again(line, error)
                if type(message) is dict and message.get("type") == SingerMessageType.RECORD:
                    on_record(message)
                    records += 1
                    continue
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

    def _lines(self, source: t.IO[str] | t.IO[bytes]) -> t.Iterable[bytes | str]:
        """The input's lines, read in large chunks.

        On a pipe with `on_idle`, idle time is noticed.
        """
        try:
            fd = source.fileno()
            is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        except (AttributeError, OSError, ValueError):  # StringIO, a closed or odd stream
            return source
        if self.on_idle is None or not is_pipe:
            return open(fd, "rb", buffering=READ_BYTES, closefd=False)
        _widen_pipe(fd)
        return _pipe_lines(fd, self.on_idle)

    @staticmethod
    @override
    def assert_line_requires(line_dict: t.Any, requires: set[str]) -> None:
        """Raise InputLineError unless the message is an object with these keys.

        If one of them is `stream`, it must be a printable string. The SDK checks a schema's
        `properties` here too.
        """
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

    @override
    def _process_unknown_message(self, message_dict: Message) -> None:
        """Refuse a message of a type Singer does not define."""
        raise InputLineError(f"unknown message type {quote(message_dict['type'])}")


def _widen_pipe(fd: int) -> None:
    """Let the pipe hold up to READ_BYTES, so that each read brings more lines.

    As far as the system allows (Linux, up to its pipe-max-size); otherwise as it is.
    """
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, READ_BYTES)


def _pipe_lines(fd: int, on_idle: Callable[[], None]) -> Iterator[bytes]:
    """Lines read from a pipe in large chunks.

    `on_idle` is called after each second that brought no byte.
    """
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], IDLE_CHECK_SECONDS)
        if not ready:
            on_idle()
            continue
        chunk = os.read(fd, READ_BYTES)
        if not chunk:
            break
        pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            yield from io.BytesIO(pending[:end])  # whole lines, each with its newline
            pending = pending[end:]
    if pending:
        yield pending


def _decode_again(line: bytes | str, error: Exception) -> t.Any:
    """A line the SDK's decoder refused, decoded another way, or InputLineError.

    Numbers beyond Decimal's range are read as text; a line nested too deep for the reader's
    call stack is read in a fresh thread (whose stack is empty); otherwise InputLineError
    quotes the start of the line.
    """
    if isinstance(error, RecursionError):
        with ThreadPoolExecutor(1) as pool:
            try:
                return pool.submit(decoder.decode, line).result()
            except (msgspec.DecodeError, ArithmeticError, RecursionError) as again:
                error = again
    if isinstance(error, ArithmeticError):
        try:
            return _lenient.decode(line)
        except (msgspec.DecodeError, RecursionError) as again:
            error = again
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    raise InputLineError(f"not valid JSON ({error}): {quote(text.rstrip())}")


def discard_input(source: t.IO[t.Any], seconds: float = DISCARD_SECONDS) -> bool | None:
    """Read and drop what is left of a pipe, until it ends or `seconds` have passed.

    After a fatal error, so that a tap (and Meltano, which forwards its output) can write
    everything and end cleanly instead of failing on a broken pipe, and the target's error
    is the last thing the run shows. A long tap is not waited for. True when the input
    ended, False when the time was up; None when the input is no pipe (a file, a terminal).
    """
    try:
        fd = source.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # StringIO, a closed or odd stream
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return None
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready and not os.read(fd, READ_BYTES):
            return True
    return False
