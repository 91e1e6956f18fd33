"""Batching: compact per-location buffers of serialized items, and when they are sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


@dataclass
class Request:
    """Items for one location and operation, ready to be sent as one API request.

    `item_chunks`, joined, are the serialized items separated by commas (the inside of the JSON
    array); the body is built from them with a single copy.
    """

    operation: str
    location: str
    item_chunks: list[bytes]
    count: int
    stream_names: list[str]
    incident: str | None = None
    """The crash journal's ID for this request while it may be in flight."""

    @property
    def encoded_items(self) -> bytes:
        """The items joined by commas."""
        return b"".join(self.item_chunks)

    @property
    def stream_label(self) -> str:
        """The stream the items came from (comma-joined when several streams fed them)."""
        return ", ".join(self.stream_names)


CHUNK_BYTES = 8192
"""A buffer grows in a bytearray of up to this many bytes, then keeps it as exact-size bytes:
growing thousands of buffers at once fragments memory far less that way."""


@dataclass
class _Buffer:
    """One location's pending items as bytes, comma-separated (about 40 bytes an item)."""

    operation: str
    chunks: list[bytes] = field(default_factory=list)
    bytes_in_chunks: int = 0
    data: bytearray = field(default_factory=bytearray)
    count: int = 0
    step_ends: list[int] = field(default_factory=list)  # where each whole step of items ends
    streams: dict[str, None] = field(default_factory=dict)

    def append(self, item: bytes) -> None:
        if self.count:
            self.data += b","
        self.data += item
        self.count += 1
        if len(self.data) >= CHUNK_BYTES:
            self.chunks.append(bytes(self.data))
            self.bytes_in_chunks += len(self.data)
            self.data = bytearray()

    @property
    def size(self) -> int:
        return self.bytes_in_chunks + len(self.data)

    def take(self, end: int) -> bytes:
        """The first `end` bytes, removed with the comma after them."""
        whole = b"".join([*self.chunks, self.data])
        self.chunks, self.bytes_in_chunks, self.data = [], 0, bytearray(whole[end + 1 :])
        return whole[:end]


class Batcher:
    """Groups items by location and operation into requests of a full size.

    A location's buffer becomes a request as soon as it holds a full request's items; a drain
    turns every non-empty buffer into a request. When a location switches operation (refresh
    ↔ adjust), its pending buffer of the other operation is released first, so requests for a
    location always come out in the order of their items.

    When `max_buffered` items are held across all locations, the largest buffers are released
    in whole `steps` (3000 refresh items: Kibo's cost step) until a tenth of the cap is free;
    what does not fill a step stays buffered. Only when no buffer holds a whole step are whole
    buffers released, largest first.
    """

    def __init__(
        self,
        full_sizes: Mapping[str, int],
        steps: Mapping[str, int],
        max_buffered: int,
    ) -> None:
        self.full_sizes = dict(full_sizes)
        self.steps = {op: min(steps[op], size) for op, size in self.full_sizes.items()}
        self.max_buffered = max_buffered
        self._buffers: dict[str, _Buffer] = {}
        self.buffered_items = 0

    def add(self, operation: str, location: str, item: bytes, stream: str) -> list[Request]:
        """Buffer one serialized item; return the requests now due, in the order to send."""
        due: list[Request] = []
        buffer = self._buffers.get(location)
        if buffer is not None and buffer.operation != operation:
            due.append(self._release(location, buffer.count))
            buffer = None
        if buffer is None:
            buffer = self._buffers[location] = _Buffer(operation)
        buffer.append(item)
        buffer.streams[stream] = None
        if buffer.count % self.steps[operation] == 0:
            buffer.step_ends.append(buffer.size)
        self.buffered_items += 1
        if buffer.count >= self.full_sizes[operation]:
            due.append(self._release(location, buffer.count))
        if self.buffered_items >= self.max_buffered:
            due += self._relieve()
        return due

    def drain(self) -> Iterator[Request]:
        """Release every non-empty buffer as a request, one at a time.

        Memory is freed as the requests go.
        """
        for location in list(self._buffers):
            yield self._release(location, self._buffers[location].count)

    def _relieve(self) -> list[Request]:
        """Release the largest buffers, in whole steps, until a tenth of the cap is free."""
        target = self.max_buffered - max(1, self.max_buffered // 10)
        due: list[Request] = []
        by_size = sorted(self._buffers.items(), key=lambda kv: kv[1].count, reverse=True)
        for location, buffer in by_size:
            if self.buffered_items <= target or not buffer.step_ends:
                break
            due.append(
                self._release(location, len(buffer.step_ends) * self.steps[buffer.operation])
            )
        for location, buffer in by_size:
            if self.buffered_items <= target:
                break
            if location in self._buffers and buffer.count:
                due.append(self._release(location, buffer.count))
        return due

    def _release(self, location: str, count: int) -> Request:
        """Take the first `count` items of a location's buffer as a request."""
        buffer = self._buffers[location]
        self.buffered_items -= count
        if count == buffer.count:
            del self._buffers[location]
            item_chunks = [*buffer.chunks, bytes(buffer.data)]  # one copy of the open chunk
            return Request(buffer.operation, location, item_chunks, count, list(buffer.streams))
        step = self.steps[buffer.operation]
        end = buffer.step_ends[count // step - 1]
        items = buffer.take(end)
        buffer.step_ends = [e - end - 1 for e in buffer.step_ends[count // step :]]
        buffer.count -= count
        return Request(buffer.operation, location, [items], count, list(buffer.streams))
