"""Movements at a stream's last bookmark value, so that a tap's re-read of them is not applied.

An incremental tap selects the rows at its bookmark value again (SDK SQL taps select `>=`, so
that rows sharing that value are never missed). For a stream sent as adjust that re-applies
the movements at the bookmark on every run. So, for each such stream (one with
`bookmark_properties`), the movements applied at its highest bookmark value are kept, named by
the stream's key properties (or a digest of the record where it has none): in the STATE, inside
the stream's bookmark entry (an SDK tap hands it back before its first record), and in the
journal's folder (for taps that hand back nothing else). A movement that comes again with that
value and name is a re-read. Pure: no files.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

STATE_KEY = "kibo_inventory_applied"
"""Where, inside a stream's bookmark entry, the movements at its bookmark value are written."""


class TooManyAtBookmarkError(RuntimeError):
    """More movements share one bookmark value than the journal keeps."""

    explained = True


def canonical(value: Any) -> str:
    """A JSON value as one text, for comparing values and naming movements."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Top:
    """A stream's highest bookmark value and the movements at it, per location."""

    value: Any
    text: str
    movements: dict[str, Counter[str]] = field(default_factory=dict)

    def copy(self) -> Top:
        """An independent copy."""
        return Top(self.value, self.text, {k: Counter(v) for k, v in self.movements.items()})

    def count(self) -> int:
        """How many movements it holds."""
        return sum(sum(c.values()) for c in self.movements.values())

    def entry(self, locations: list[str] | None = None) -> dict[str, Any]:
        """As written in a state or a file: the value and the movements' names."""
        names: Counter[str] = Counter()
        for location, counter in self.movements.items():
            if locations is None or location in locations:
                names.update(counter)
        return {"value": self.value, "movements": sorted(names.elements())}


class BookmarkMovements:
    """The movements at each adjust stream's bookmark: known from earlier runs, and this run's."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: dict[str, dict[str, Counter[str]]] = {}
        """stream → value text → names applied before this run and not seen again yet."""
        self.current: dict[str, Top] = {}
        """stream → its highest value in this run (or known) and the movements at it."""
        self.at_latest_state: dict[str, Top] = {}
        """`current` as it was at the tap's latest STATE message."""
        self.moved_since_state = False
        """A movement came after the tap's latest STATE that is not at its stream's value then."""

    def learn(self, stream: str, entry: Any, location: str | None = None) -> None:
        """Take what a state or a journal file says was applied at a stream's bookmark."""
        if not isinstance(entry, dict) or not isinstance(entry.get("movements"), list):
            return
        text = canonical(entry.get("value"))
        known = self.known.setdefault(stream, {}).setdefault(text, Counter())
        names = Counter(str(name) for name in entry["movements"])
        for name, times in names.items():
            known[name] = max(known[name], times)  # a state and a file may both say it
        top = self.current.get(stream)
        if top is None or top.text == text:
            top = self.current.setdefault(stream, Top(entry.get("value"), text))
            counter = top.movements.setdefault(location or "", Counter())
            for name, times in names.items():
                counter[name] = max(counter[name], times)

    def received(self, stream: str, location: str, value: Any, name: str) -> bool:
        """Note a movement; return True when it is a re-read of one applied before."""
        text = canonical(value)
        reread = False
        known = self.known.get(stream, {}).get(text)
        if known and known[name] > 0:
            known[name] -= 1
            reread = True
        self._track(stream, location, value, text, name, reread=reread)
        latest = self.at_latest_state.get(stream)
        if latest is None or latest.text != text:
            self.moved_since_state = True
        return reread

    def _track(
        self, stream: str, location: str, value: Any, text: str, name: str, *, reread: bool
    ) -> None:
        top = self.current.get(stream)
        if top is None or (top.text != text and _above(value, top.value)):
            top = self.current[stream] = Top(value, text)
        elif top.text != text:
            return  # below the top: never read again
        counter = top.movements.setdefault(location, Counter())
        if reread:  # learnt from the state or a file: already counted, maybe elsewhere
            _claim(top, name, location)
            return
        counter[name] += 1
        if top.count() > self.limit:
            raise TooManyAtBookmarkError(
                f"More than {self.limit} movements of stream '{stream}' share the bookmark value "
                f"{text[:100]}: the target keeps the movements at a stream's last bookmark value "
                "so that the tap's re-read of them is not applied again, and keeps at most "
                "max_movements_at_bookmark. Raise it, or replicate the stream on a key whose "
                "values are more distinct (an id, or a finer timestamp)."
            )

    def state_received(self) -> None:
        """The tap sent a STATE: what is tracked now is what that state covers."""
        self.at_latest_state = {stream: top.copy() for stream, top in self.current.items()}
        self.moved_since_state = False

    def entries(self, *, final: bool = False) -> dict[str, dict[str, Any]]:
        """Stream → entry for the STATE: as of the tap's latest STATE, or everything (`final`)."""
        tops = self.current if final else self.at_latest_state
        return {stream: top.entry() for stream, top in tops.items() if top.movements}

    def for_location(self, location: str, *, final: bool = False) -> dict[str, dict[str, Any]]:
        """Stream → entry of the movements at one location, for its journal file."""
        tops = self.current if final else self.at_latest_state
        return {
            stream: top.entry([location])
            for stream, top in tops.items()
            if top.movements.get(location)
        }


def _claim(top: Top, name: str, location: str) -> None:
    """Count a re-read movement at its location (a state does not say where it was)."""
    for other, counter in top.movements.items():
        if other != location and counter[name] > 0:
            counter[name] -= 1
            top.movements[location][name] += 1
            return


def _above(value: Any, top: Any) -> bool:
    """Whether `value` is above `top` (values of another type count as above: a new series)."""
    try:
        return bool(value > top)
    except TypeError:
        return True


def write_into(state: dict[str, Any], entries: dict[str, dict[str, Any]]) -> None:
    """Put each stream's entry inside its bookmark entry of the tap's state (where there is one)."""
    bookmarks = state.get("bookmarks")
    if not isinstance(bookmarks, dict):
        return
    for stream, entry in entries.items():
        bookmark = bookmarks.get(stream)
        if bookmark is None:
            bookmark = bookmarks[stream] = {}
        if isinstance(bookmark, dict):
            bookmark[STATE_KEY] = entry


def read_from(state: Any) -> dict[str, Any]:
    """Stream → the entry a state carries inside its bookmark entries."""
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        return {}
    return {
        stream: bookmark[STATE_KEY]
        for stream, bookmark in bookmarks.items()
        if isinstance(bookmark, dict) and STATE_KEY in bookmark
    }
