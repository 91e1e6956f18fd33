"""Reading Singer messages: the SDK's msgspec reader, with a short path for RECORD lines."""

from __future__ import annotations

import sys
import typing as t
from collections import Counter

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.singerlib.encoding import SingerMessageType


class RecordReader(MsgSpecReader):
    """Reads standard input as bytes and hands RECORD messages straight to their callback.

    Other messages, and lines that are not JSON objects with a type, take the SDK's path
    (its checks and error messages).
    """

    @property
    def default_input(self) -> t.IO:  # ty: ignore[invalid-method-override]
        """Standard input, undecoded: msgspec reads UTF-8 bytes directly."""
        return sys.stdin.buffer

    def process_lines(
        self, file_input: t.IO | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        """Decode each line and call its message type's callback; count the types."""
        stats: Counter[str] = Counter()
        on_record = callbacks[SingerMessageType.RECORD]
        decode = decoder.decode
        records = 0
        for line in file_input or self.default_input:
            try:
                message = decode(line)
            except msgspec.DecodeError:
                message = self.deserialize_json(line)  # raises the SDK's InvalidInputLine
            if type(message) is dict and message.get("type") == SingerMessageType.RECORD:
                on_record(message)
                records += 1
                continue
            self._current_message = line
            self.assert_line_requires(message, requires={"type"})
            kind = message["type"]
            if callback := callbacks.get(kind):
                callback(message)
            else:
                self._process_unknown_message(message)
            stats[kind] += 1
        stats[SingerMessageType.RECORD] += records
        return stats
