"""Batching: per-location buffers of distinct items, collapsed and folded, and when they are sent.

Each location has at most one open refresh buffer (absolute counts) and one open adjust buffer
(deltas), over disjoint items; an item is one inventory row of the destination, named by its
identity (`key`). Records fold into them one by one, as if applied one at a time:

- a count replaces the item's pending count (the last count wins; fields that it does not carry
  keep their earlier value) and supersedes its pending movement (the count comes after it);
- a movement is added to the item's pending count when there is one (the sum stays a count),
  else to its pending movement (the deltas add);
- a movement that would take a count out of its allowed range (a negative count, say) is not
  folded: the location's counts are sent first, then the movement follows as a delta.

So a location's requests per drain are ⌈counted items / full refresh⌉ + ⌈moved items / full
adjust⌉ whatever the order of the input, and applying them in order gives the stock that
applying every record one at a time in input order gives: the buffers hold disjoint items,
so their requests may go in either order; an item leaves a buffer only with a request, and
later records of it start a new entry that goes out in a later request.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from target_kibo_inventory import files

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterator, Mapping, Sequence

Merge = Callable[[bytes, bytes, int], bytes]
"""`merge(earlier, later, quantity)`: one encoded item with the later item's fields over the
earlier one's and the given quantity (the destination's encoding)."""


@dataclass
class Request:
    """Items for one location and operation, ready to be sent as one API request.

    `item_chunks`, joined, are the serialized items separated by commas (the inside of the
    JSON array). `sources` name the record behind each item (its last one), in item order;
    `moves` are the location's movement positions (see Journal) whose effect the request
    carries.
    """

    operation: str
    location: str
    item_chunks: list[bytes]
    count: int
    stream_names: list[str]
    sources: list[Any]
    moves: list[int]
    incident: str | None = None
    """The crash journal's ID for this request while it may be in flight."""
    check: tuple[int, str, str | None] | None = None
    """The crash journal's check of the input when it was released (see Journal.check)."""

    @property
    def encoded_items(self) -> bytes:
        """The items joined by commas."""
        return b"".join(self.item_chunks)

    @property
    def stream_label(self) -> str:
        """The stream the items came from (comma-joined when several streams fed them)."""
        return ", ".join(self.stream_names)


class _Entry:
    """One pending item: its encoding, quantity, last record and movement positions.

    A count that needs none of the rest (no record to name, no movement) is kept as its
    encoded bytes alone: a buffered item costs about a third less.
    """

    __slots__ = ("item", "moves", "quantity", "source")

    def __init__(self, item: bytes, quantity: int, source: Any, move: int | None) -> None:
        self.item = item
        self.quantity = quantity
        self.source = source
        self.moves: list[int] | None = None if move is None else [move]

    @classmethod
    def of(cls, value: bytes | _Entry) -> _Entry:
        """An entry, from a count kept as bytes."""
        if isinstance(value, bytes):
            return cls(value, _decode_item(value)["quantity"], None, None)
        return value

    def absorb(self, other: _Entry) -> None:
        """Take over the movement positions of an entry this one replaces."""
        if other.moves:
            self.moves = other.moves + (self.moves or [])


_decode_item = msgspec.json.Decoder(dict[str, Any]).decode
encode_item = msgspec.json.Encoder().encode
"""An item as it is buffered and sent: its own JSON object."""


def identity_by(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], bytes]:
    """An item's identity (its key in a buffer): the JSON list of its values of `fields`."""
    names = tuple(fields)

    def identity(item: Mapping[str, Any]) -> bytes:
        return encode_item(list(map(item.get, names)))  # bytes: a third of a tuple's memory

    return identity


def _item(value: bytes | _Entry) -> bytes:
    """A pending item's encoding."""
    return value if isinstance(value, bytes) else value.item


class _Buffer:
    """A location's pending items of one operation, by key, in arrival order."""

    __slots__ = ("entries", "streams")

    def __init__(self) -> None:
        self.entries: dict[Hashable, bytes | _Entry] = {}
        self.streams: dict[str, None] = {}


class _Location:
    __slots__ = ("adjust", "buffers", "refresh")

    def __init__(self) -> None:
        self.refresh = _Buffer()
        self.adjust = _Buffer()
        self.buffers: dict[str, _Buffer] = {"refresh": self.refresh, "adjust": self.adjust}


class Spill:
    """Plain counts set aside on disk while the memory cap is reached, per location.

    Appended as (key, item) records to a location's file in an owner-only temporary folder;
    taken back whole, a later record of a key winning, when the location's counts go out.
    """

    _HEAD = struct.Struct("<II")

    def __init__(
        self, parent: str | None = None, on_first_use: Callable[[Path], None] | None = None
    ) -> None:
        """Counts go to a temporary folder in `parent` (the system's if None), made at need.

        `on_first_use` is told the folder when it is made.
        """
        self.parent = parent
        self.on_first_use = on_first_use
        self._folder: Path | None = None
        self._files: dict[str, Path] = {}
        self._records: dict[str, int] = {}
        self._names = itertools.count()
        """File names: never one that another location's file had."""

    def __contains__(self, location: str) -> bool:
        """Whether the location has counts set aside."""
        return location in self._files

    def records(self, location: str) -> int:
        """How many counts the location has on disk (a repeated item counts each time)."""
        return self._records.get(location, 0)

    def put(self, location: str, entries: Mapping[bytes, bytes]) -> None:
        """Append a location's counts to its file."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="kibo-inventory-spill-", dir=self.parent))
            atexit.register(self.close)  # also when the run fails or is stopped
            if self.on_first_use is not None:
                self.on_first_use(self._folder)
        path = self._files.get(location)
        if path is None:
            path = self._files[location] = self._folder / f"{next(self._names)}.spill"
        head = self._HEAD.pack
        data = b"".join(head(len(k), len(v)) + k + v for k, v in entries.items())
        self._records[location] = self._records.get(location, 0) + len(entries)
        files.append(
            path,
            data,
            description="counts set aside at the memory cap",
            setting="max_buffered_items",
        )

    def take(self, location: str) -> tuple[dict[bytes, bytes], int]:
        """A location's counts set aside (the last of each key) and the records read.

        Its file is removed.
        """
        path = self._files.pop(location)
        del self._records[location]
        data = path.read_bytes()
        path.unlink()
        entries: dict[bytes, bytes] = {}
        size, at, records = self._HEAD.size, 0, 0
        while at < len(data):
            key_length, item_length = self._HEAD.unpack_from(data, at)
            at += size
            key = data[at : at + key_length]
            at += key_length
            entries.pop(key, None)  # a later record of the key goes last, as it came
            entries[key] = data[at : at + item_length]
            at += item_length
            records += 1
        return entries, records

    def close(self) -> None:
        """Remove the temporary folder."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
            self._files.clear()
            self._records.clear()


class Batcher:
    """Groups items by location into requests of distinct items, at most a full size each.

    A buffer becomes a request as soon as it holds a full request's distinct items; a drain
    turns every non-empty buffer into a request. When `max_buffered` distinct items are held
    across all locations, the largest buffers are released in whole `steps` (3000 refresh
    items: Kibo's cost step) until a tenth of the cap is free; what does not fill a step stays
    buffered. Only when no buffer holds a whole step are whole buffers released, largest first.
    With a `spill` (runs of counts only), the largest buffers of plain counts are set aside on
    disk instead, so that requests stay full: a location's counts set aside come back, later
    ones winning, before any of its counts go out. `bounds` are each operation's allowed
    quantities; `merge` combines two encoded items.
    """

    def __init__(
        self,
        full_sizes: Mapping[str, int],
        steps: Mapping[str, int],
        max_buffered: int,
        *,
        merge: Merge,
        bounds: Mapping[str, tuple[int, int]],
        spill: Spill | None = None,
    ) -> None:
        self.full_sizes = dict(full_sizes)
        self.steps = {op: min(steps[op], size) for op, size in self.full_sizes.items()}
        self.max_buffered = max_buffered
        self.merge = merge
        self.bounds = dict(bounds)
        self.spill = spill
        self._locations: dict[str, _Location] = {}
        self.buffered_items = 0
        """Distinct items held, across all locations."""
        self.collapsed = 0
        """Records that went into an item already pending, or a delta that netted to zero."""

    def add(
        self,
        operation: str,
        location: str,
        key: Hashable,
        item: bytes,
        quantity: int,
        stream: str,
        *,
        source: Any = None,
        move: int | None = None,
    ) -> Sequence[Request]:
        """Fold one encoded item in; return the requests now due, in the order to send.

        `source` names its record; `move` is its movement position (adjust), for the journal.
        """
        place = self._locations.get(location)
        if operation == "refresh" and place is not None and self._new_count(place, key, stream):
            plain = source is None and move is None
            place.refresh.entries[key] = item if plain else _Entry(item, quantity, source, move)
            return ()
        if place is None:
            place = self._locations[location] = _Location()
        due: list[Request] = []
        entry = _Entry(item, quantity, source, move)
        if operation == "adjust":
            target = self._movement_target(location, place, key, quantity, due)
        else:
            target = "refresh"
            found = place.buffers["adjust"].entries.pop(key, None)
            if found is not None:  # the count comes after that movement: it wins
                superseded = _Entry.of(found)
                entry.item = self.merge(superseded.item, item, quantity)
                entry.absorb(superseded)
                self.buffered_items -= 1
                self.collapsed += 1
        buffer = place.buffers[target]
        kept = buffer.entries.get(key)
        pending = None if kept is None else _Entry.of(kept)
        if pending is None:
            self.buffered_items += 1
        else:
            if operation == "adjust":
                entry.quantity = pending.quantity + quantity
            entry.item = self.merge(pending.item, item, entry.quantity)
            entry.absorb(pending)
            self.collapsed += 1
        plain = target == "refresh" and entry.source is None and not entry.moves
        buffer.entries[key] = entry.item if plain else entry  # a plain count: its bytes alone
        buffer.streams[stream] = None
        if len(buffer.entries) >= self.full_sizes[target]:
            due += self._release_full(location, target)
        if self.buffered_items >= self.max_buffered:
            due += self._relieve()
        return [request for request in due if request.count]

    def count_lane(self, stream: str) -> Callable[[str, bytes, bytes], bool]:
        """`store(location, key, item)`: `add` of a stream's plain count, in its common case.

        The count of a new item at a location that has its stream's counts pending, no
        movement and no full request due is stored, and True returned; otherwise nothing is
        stored and False returned (`add` takes it).
        """
        locations, full = self._locations, self.full_sizes["refresh"] - 1

        def store(location: str, key: bytes, item: bytes) -> bool:
            place = locations.get(location)
            if place is None:
                return False
            buffer = place.refresh
            entries = buffer.entries
            if (
                key in entries
                or place.adjust.entries
                or len(entries) >= full
                or self.buffered_items + 1 >= self.max_buffered
                or stream not in buffer.streams
            ):
                return False
            entries[key] = item
            self.buffered_items += 1
            return True

        return store

    def _new_count(self, place: _Location, key: Hashable, stream: str) -> bool:
        """Whether a count is the common case (a new item, no movement pending, nothing due).

        If so, it is counted as buffered (the caller stores it).
        """
        entries = place.refresh.entries
        if (
            place.adjust.entries
            or key in entries
            or len(entries) + 1 >= self.full_sizes["refresh"]
            or self.buffered_items + 1 >= self.max_buffered
        ):
            return False
        self.buffered_items += 1
        if stream not in place.refresh.streams:
            place.refresh.streams[stream] = None
        return True

    def _movement_target(
        self, location: str, place: _Location, key: Hashable, delta: int, due: list[Request]
    ) -> str:
        """Where a movement goes: into the item's pending count, or among the deltas.

        A sum out of its operation's range is not made: the buffer that holds the item is
        sent first (counts before the movement that follows them).
        """
        for operation in ("refresh", "adjust"):
            kept = place.buffers[operation].entries.get(key)
            if kept is None:
                continue
            pending = _Entry.of(kept)
            low, high = self.bounds[operation]
            if low <= pending.quantity + delta <= high:
                return operation
            due += self._release_all(location, operation)
        return "adjust"

    def drain(self) -> Iterator[Request]:
        """Release every non-empty buffer as a request (counts first), one at a time.

        Memory is freed as the requests go.
        """
        for location in list(self._locations):
            for operation in ("refresh", "adjust"):
                yield from (r for r in self._release_all(location, operation) if r.count)
            del self._locations[location]

    def _release_full(self, location: str, operation: str) -> list[Request]:
        """A buffer's full requests (its counts set aside taken back first); the rest stays."""
        self._take_back(location, operation)
        buffer = self._locations[location].buffers[operation]
        if not buffer.entries:  # (an API without this operation has no full size for it)
            return []
        full = self.full_sizes[operation]
        return [
            self._release(location, operation, full) for _ in range(len(buffer.entries) // full)
        ]

    def _release_all(self, location: str, operation: str) -> list[Request]:
        """A buffer as requests, full ones first (its counts set aside taken back first)."""
        due = self._release_full(location, operation)
        if count := len(self._locations[location].buffers[operation].entries):
            due.append(self._release(location, operation, count))
        return due

    def _take_back(self, location: str, operation: str) -> None:
        """Bring a location's counts set aside back before its own (which are later)."""
        if operation != "refresh" or self.spill is None or location not in self.spill:
            return
        buffer = self._locations[location].refresh
        kept, records = self.spill.take(location)
        merged: dict[Hashable, bytes | _Entry] = {
            k: v for k, v in kept.items() if k not in buffer.entries
        }
        merged.update(buffer.entries)
        self.collapsed += records + len(buffer.entries) - len(merged)
        self.buffered_items += len(merged) - len(buffer.entries)
        buffer.entries = merged

    def _set_aside(self, target: int, by_size: list[tuple[int, str, str]]) -> list[Request]:
        """Move the largest buffers of plain counts to the spill until `target` is reached.

        A location whose counts on disk and in memory make a full request sends its full
        requests first, and the rest goes to disk (what is taken back at once stays below two
        full requests).
        """
        assert self.spill is not None  # noqa: S101  (the caller checked)
        due: list[Request] = []
        for _, location, operation in by_size:
            if self.buffered_items <= target:
                break
            buffer = self._locations[location].buffers[operation]
            if operation != "refresh" or not all(type(v) is bytes for v in buffer.entries.values()):
                continue
            if self.spill.records(location) + len(buffer.entries) >= self.full_sizes[operation]:
                due += self._release_full(location, operation)  # what is left is less than full
                buffer = self._locations[location].buffers[operation]
            if buffer.entries:
                self.spill.put(location, buffer.entries)  # type: ignore[arg-type]  # bytes
                self.buffered_items -= len(buffer.entries)
                buffer.entries = {}  # its streams stay: they name the requests to come
        return due

    def _relieve(self) -> list[Request]:
        """Release the largest buffers, in whole steps, until a tenth of the cap is free.

        With a spill, set the largest buffers of plain counts aside first.
        """
        target = self.max_buffered - max(1, self.max_buffered // 10)
        due: list[Request] = []
        by_size = sorted(
            (
                (len(buffer.entries), location, operation)
                for location, place in self._locations.items()
                for operation, buffer in place.buffers.items()
                if buffer.entries
            ),
            reverse=True,
        )
        if self.spill is not None:
            due += self._set_aside(target, by_size)
        for _, location, operation in by_size:
            if self.buffered_items <= target:
                break
            size = len(self._locations[location].buffers[operation].entries)
            if whole := size // self.steps[operation] * self.steps[operation]:
                due.append(self._release(location, operation, whole))
        for _, location, operation in by_size:
            if self.buffered_items <= target:
                break
            if count := len(self._locations[location].buffers[operation].entries):
                due.append(self._release(location, operation, count))
        return due

    def _release(self, location: str, operation: str, count: int) -> Request:
        """Take the first `count` items of a buffer as a request (net-zero deltas left out).

        Counts set aside for the location come back first: none is sent after a later one.
        """
        self._take_back(location, operation)
        buffer = self._locations[location].buffers[operation]
        pending = buffer.entries
        taken: list[bytes | _Entry]
        if count == len(pending):
            taken = list(pending.values())
            buffer.entries = {}
        else:
            keys = list(pending)[:count]
            taken = [pending.pop(key) for key in keys]
        self.buffered_items -= count
        streams = list(buffer.streams)
        if not buffer.entries:
            buffer.streams = {}
        if operation == "refresh":
            try:  # plain counts only (bytes): no record to name, no movement
                chunk = b",".join(taken)  # type: ignore[arg-type]  # else TypeError
            except TypeError:
                pass
            else:
                return Request(operation, location, [chunk], count, streams, [None] * count, [])
        entries = [value for value in taken if isinstance(value, _Entry)]
        if operation == "adjust":  # movements are entries, never plain bytes
            sent: list[bytes | _Entry] = [e for e in entries if e.quantity]
            self.collapsed += len(taken) - len(sent)
        else:
            sent = taken
        moves = sorted(move for entry in entries if entry.moves for move in entry.moves)
        return Request(
            operation,
            location,
            [b",".join([_item(value) for value in sent])],
            len(sent),
            streams,
            [None if isinstance(value, bytes) else value.source for value in sent],
            moves,
        )
