"""Replaying an interrupted run at one location: which of its movements it applied.

Pure: no files, no clock. A resumed tap sends a location's movements again, in the same order,
from the state it resumed from. `Replay.step` takes them one by one and tells, for each,
whether the interrupted run applied it; digests recorded by that run check that the input is
the same. When the run stopped between writing a STATE and recording that it did, two
candidate windows (after the newer state, after the older) remain until the input tells them
apart; the movements are held meanwhile (`step` answers None).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.journal.fileformat import JournalError, digest

if TYPE_CHECKING:
    from collections.abc import Iterable


def to_ranges(positions: Iterable[int]) -> list[list[int]]:
    """Sorted positions as ranges `[start, end)`."""
    ranges: list[list[int]] = []
    for position in positions:
        if ranges and ranges[-1][1] == position:
            ranges[-1][1] += 1
        elif not ranges or ranges[-1][1] < position:
            ranges.append([position, position + 1])
    return ranges


def merge_ranges(*groups: Iterable[list[int]]) -> list[list[int]]:
    """The union of ranges, sorted and merged."""
    merged: list[list[int]] = []
    for start, end in sorted(r for group in groups for r in group):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


@dataclass
class Candidate:
    """What the interrupted run applied at a location, counted from the state it resumes from."""

    applied: list[list[int]]
    """Applied movement positions, as sorted, merged ranges."""
    checks: dict[int, str]
    """`n: digest` of the first n movements, as that run received them."""
    first: str | None
    """Digest of the first movement."""
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        """Index the ranges' starts."""
        self.starts = [start for start, _ in self.applied]

    @property
    def end(self) -> int:
        """Movements until the replay is over: the last applied one, and the last check."""
        last = self.applied[-1][1] if self.applied else 0
        return max(last, max(self.checks, default=0))

    def applies(self, position: int) -> bool:
        """Whether the interrupted run applied the movement at this position."""
        index = bisect.bisect_right(self.starts, position) - 1
        return index >= 0 and position < self.applied[index][1]


class Replay:
    """One location's way through what an interrupted run applied.

    `candidates` holds one window, or two when the STATE write was not confirmed (None: an
    empty window, nothing to skip). `tail`: the file was left by a run whose tap ended after
    its last STATE; input that differs from the start is then a tap that moved on, not an error.
    """

    def __init__(self, location: str, candidates: list[Candidate | None], *, tail: bool) -> None:
        self.location = location
        self.candidates = candidates
        self.tail = tail
        self.chosen: Candidate | None = None
        self.decided = False
        self.moved_on = False
        """The input differs from the first movement on (tail only): nothing is skipped."""
        self.position = 0
        self._hasher: Any = hashlib.sha256()
        self._held = 0

    @property
    def finished(self) -> bool:
        """Whether every applied movement and every check has gone by."""
        return self.decided and (self.chosen is None or self.position >= self.chosen.end)

    @property
    def holding(self) -> bool:
        """Whether movements are held until the candidates are told apart."""
        return self._held > 0

    def step(self, item: bytes) -> list[bool] | None:
        """Take the next movement; None while held, else whether each released one was applied.

        The list covers the held movements, oldest first, then this one.
        """
        if self.position == 0:
            self._start(digest(item))
        self._hasher.update(b"," + item if self.position else item)
        self.position += 1
        if not self.decided:
            self._held += 1
            if not self._narrow():
                return None
            released, self._held = self._held, 0
            return [self._applies(p) for p in range(self.position - released, self.position)]
        self._check()
        return [self._applies(self.position - 1)]

    def _applies(self, position: int) -> bool:
        return self.chosen is not None and self.chosen.applies(position)

    def _start(self, first: str) -> None:
        """At the first movement: keep the candidates that begin with it."""
        live = [c for c in self.candidates if c is None or c.first == first]
        if not live:
            if not self.tail:
                raise JournalError(self.mismatch(max(c.end for c in self.candidates if c)))
            self.moved_on = True
        self.candidates = live
        if len(live) <= 1:
            self._decide(live[0] if live else None)

    def _narrow(self) -> bool:
        """Drop the candidates whose checks the held movements fail; decide when one is left.

        Returns whether the replay is decided now.
        """
        seen = self._hasher.hexdigest()
        self.candidates = [
            c
            for c in self.candidates
            if c is None or self.position not in c.checks or c.checks[self.position] == seen
        ]
        if not self.candidates:
            raise JournalError(self.mismatch(self.position))
        ends = [c.end if c is not None else 0 for c in self.candidates]
        if len(self.candidates) == 1 or max(ends) <= self.position:
            self._decide(self.candidates[ends.index(max(ends))])
        return self.decided

    def _decide(self, chosen: Candidate | None) -> None:
        self.chosen, self.decided = chosen, True

    def _check(self) -> None:
        chosen = self.chosen
        if chosen is None:
            return
        expected = chosen.checks.get(self.position)
        if expected is not None and expected != self._hasher.hexdigest():
            raise JournalError(self.mismatch(self.position))

    def mismatch(self, count: int) -> str:
        """The error of input that is not what the interrupted run received."""
        return (
            f"The records for location '{self.location}' differ from those the interrupted run "
            f"sent: its first {count} movement(s) there are not the ones now received, so this "
            "is not the input it was resumed from. Run again with the tap resumed from the last "
            "state the target wrote. Only if the location's stock was checked and set right by "
            "hand, remove the location's journal file: the next run then sends every item it "
            "receives there."
        )
