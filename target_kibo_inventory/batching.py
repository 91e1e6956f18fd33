"""Batching: per (operation, location) buffers of serialized items, and when they are sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Request:
    """Items for one location and operation, ready to be sent as one API request."""

    operation: str
    location: str
    items: list[bytes]
    streams: list[str]

    @property
    def stream(self) -> str:
        """The stream the items came from (comma-joined when several streams fed them)."""
        return ", ".join(self.streams)


@dataclass
class _Buffer:
    operation: str
    items: list[bytes] = field(default_factory=list)
    streams: dict[str, None] = field(default_factory=dict)


class Batcher:
    """Groups items by location and operation into requests of a full size.

    A location's buffer becomes a request as soon as it holds a full request's items; a drain
    turns every non-empty buffer into a request. Requests for one location come out in the
    order of their items: when a location switches operation (refresh ↔ adjust), its pending
    buffer of the other operation is released first, so a later count never overtakes an
    earlier one.
    """

    def __init__(self, full_sizes: Mapping[str, int]) -> None:
        self.full_sizes = dict(full_sizes)
        self._buffers: dict[str, _Buffer] = {}
        self.buffered_items = 0

    def add(self, operation: str, location: str, item: bytes, stream: str) -> list[Request]:
        """Buffer one item; return the requests that are now due, oldest first."""
        due: list[Request] = []
        buffer = self._buffers.get(location)
        if buffer is not None and buffer.operation != operation:
            due.append(self._release(location))
            buffer = None
        if buffer is None:
            buffer = self._buffers[location] = _Buffer(operation)
        buffer.items.append(item)
        buffer.streams[stream] = None
        self.buffered_items += 1
        if len(buffer.items) >= self.full_sizes[operation]:
            due.append(self._release(location))
        return due

    def drain(self) -> list[Request]:
        """Release every non-empty buffer as a request."""
        return [self._release(location) for location in list(self._buffers)]

    def _release(self, location: str) -> Request:
        buffer = self._buffers.pop(location)
        self.buffered_items -= len(buffer.items)
        return Request(buffer.operation, location, buffer.items, list(buffer.streams))
