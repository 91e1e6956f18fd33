"""Crash journal: which items of each location were applied since the last STATE written.

A STATE message is a safe resume point, but items applied after it arrive again from a
resumed tap. That is harmless for refresh (absolute counts, same order) and wrong for adjust
(deltas), so when any stream is sent as adjust the journal keeps, in a local file (fsync'd),
for each location the number of its items applied since the last STATE written and a digest
of them, and marks each request as being sent before it goes out. Items received after the
tap's latest STATE message and sent at a drain count too: they are after the resume point.

A run that finds such lines replays the interrupted one: at each location whose applied
items include adjusts it skips that many items (they come again from the resumed tap, in the
same order) and checks their digest before sending anything more there; no STATE is written
until the replay is done. A location whose last adjust may or may not have been applied
stops the run, naming what to check.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from target_kibo_inventory.batching import Request


class JournalError(RuntimeError):
    """The journal cannot be used, or the input does not match what it recorded."""


class AmbiguousResumeError(JournalError):
    """The interrupted run was sending an adjust that may or may not have been applied."""


@dataclass
class _Progress:
    """Items of one location accepted since the last STATE (or being replayed)."""

    count: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    has_adjust: bool = False

    def add(self, items: bytes, count: int, operation: str) -> None:
        self.digest.update(b"," + items if self.count else items)
        self.count += count
        self.has_adjust = self.has_adjust or operation == "adjust"

    def copy(self) -> _Progress:
        return _Progress(self.count, self.digest.copy(), self.has_adjust)


@dataclass
class _Replay:
    """What the interrupted run applied at one location: its item count and their digest."""

    count: int
    digest: str


class Journal:
    """The journal file of a run (a no-op when `path` is None); thread-safe."""

    def __init__(
        self,
        path: Path | None,
        retry_ambiguous: bool,
        resolve: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.enabled = path is not None
        self.retry_ambiguous = retry_ambiguous
        self.resolve = dict(resolve or {})
        self._applied: dict[str, _Progress] = {}  # since the last STATE written
        self._received: dict[str, _Progress] = {}  # since the tap's latest STATE message
        self._replay: dict[str, _Replay] = {}
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None

    def open(self) -> None:
        """Open and lock the file, and read what an interrupted run left in it (once)."""
        if self.path is not None and self._file is None:
            self._file = _open_locked(self.path)
            self._replay = _read_replay(self._file, self.path, self.retry_ambiguous, self.resolve)

    @property
    def replaying(self) -> bool:
        """Whether items that the interrupted run applied are still to come."""
        return bool(self._replay)

    def received(self, location: str, item: bytes, operation: str) -> bool:
        """Note an item received; return True when the interrupted run applied it (skip it)."""
        progress = self._received.get(location)
        if progress is None:
            progress = self._received[location] = _Progress()
        progress.add(item, 1, operation)
        replay = self._replay.get(location)
        if replay is None:
            return False
        with self._lock:
            applied = self._applied.setdefault(location, _Progress())
            applied.add(item, 1, operation)
        if applied.count == replay.count:
            del self._replay[location]
            if applied.digest.hexdigest() != replay.digest:
                raise JournalError(
                    f"The records for location '{location}' differ from those the interrupted "
                    f"run sent: it had applied {replay.count} item(s) there, which are not "
                    f"the first {replay.count} now received, so this is not the input it was "
                    f"resumed from. Run again with the tap resumed from the last state the "
                    f"target wrote. {self._removal_warning()}"
                )
        return True

    def state_received(self) -> None:
        """The tap sent a new STATE message: the items before it are behind the resume point."""
        self._received.clear()

    def check_replayed(self) -> None:
        """At the end of input: every replayed location must have received its applied items."""
        if self._replay:
            left = ", ".join(
                f"'{loc}' ({replay.count - self._applied.get(loc, _Progress()).count} more)"
                for loc, replay in self._replay.items()
            )
            raise JournalError(
                f"The input ended before it repeated what the interrupted run had applied at "
                f"{left}: it is not the input that run was resumed from. Run again with the "
                f"tap resumed from the last state the target wrote. {self._removal_warning()}"
            )

    def _removal_warning(self) -> str:
        replays = self._replay.values()
        return (
            f"Only if the stock was checked and set right by hand, remove {self.path}: the "
            f"next run then sends again every item it recorded as applied "
            f"({sum(r.count for r in replays)} at {len(self._replay)} location(s))."
        )

    def sending(self, request: Request) -> None:
        """Note that a request is about to be sent, and what is applied if it is."""
        if not self.enabled:
            return
        with self._lock:
            progress = self._applied.get(request.location, _Progress()).copy()
        progress.add(request.items, request.count, request.operation)
        line = {"l": request.location, "op": request.operation, "send": request.count}
        self._write([{**line, "if_applied": _applied_line(request.location, progress)}])

    def not_applied(self, request: Request) -> None:
        """Note that a request surely was not applied (refused, or never sent)."""
        if self.enabled:
            self._write([{"l": request.location, "not_applied": request.count}])

    def accepted(self, request: Request, job_id: int | str) -> None:
        """Note that a request was accepted: the location's applied items grow."""
        if not self.enabled:
            return
        with self._lock:
            progress = self._applied.setdefault(request.location, _Progress())
            progress.add(request.items, request.count, request.operation)
            line = _applied_line(request.location, progress)
        self._write([{**line, "job": job_id}])

    def checkpoint(self) -> None:
        """A STATE was written after a drain: what is applied past it is what came after the
        tap's latest STATE message."""
        with self._lock:
            self._applied = {loc: p.copy() for loc, p in self._received.items()}
            lines = [_applied_line(loc, p) for loc, p in self._applied.items() if p.has_adjust]
            if self._file is not None:
                self._file.truncate(0)
                self._file.seek(0)
        self._write(lines)

    def finish(self, logger: logging.Logger) -> None:
        """The input was read to its end and all of it accepted: nothing is left to replay."""
        after = sum(p.count for p in self._received.values() if p.has_adjust)
        if after:
            logger.warning(
                "%d item(s) at locations with adjusts came after the tap's last STATE message: "
                "a run resumed from that state would send them again.",
                after,
            )
        with self._lock:
            self._applied.clear()
            if self._file is not None:
                self._file.truncate(0)
                self._file.seek(0)

    def close(self) -> None:
        """Release the file; remove it when it holds nothing to replay."""
        if self._file is not None:
            empty = self._file.tell() == 0
            self._file.close()
            self._file = None
            if empty and self.path is not None:
                self.path.unlink(missing_ok=True)

    def _write(self, lines: list[dict[str, Any]]) -> None:
        if self._file is None:
            return
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        with self._lock:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())


def _applied_line(location: str, progress: _Progress) -> dict[str, Any]:
    return {
        "l": location,
        "n": progress.count,
        "d": progress.digest.hexdigest(),
        "adjust": progress.has_adjust,
    }


def _open_locked(path: Path) -> BinaryIO:
    try:
        file = path.open("a+b")
    except OSError as error:
        raise JournalError(f"Cannot open the journal {path}: {error.strerror}") from None
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise JournalError(
            f"Another target-kibo-inventory run is using the journal {path}; give each "
            "concurrent run its own journal_path."
        ) from None
    return file


def _read_replay(
    file: BinaryIO, path: Path, retry_ambiguous: bool, resolve: Mapping[str, str]
) -> dict[str, _Replay]:
    """The interrupted run's applied items per location (only where adjusts were applied).

    An adjust that was being sent when the run stopped is counted as applied or not as
    `resolve` (journal_resolve) says for its location; not applied with retry_ambiguous;
    otherwise the run stops, naming every such location.
    """
    file.seek(0)
    content = file.read()
    if content and not content.endswith(b"\n"):  # a line cut short by the crash
        file.write(b"\n")
    applied: dict[str, dict[str, Any]] = {}
    in_flight: dict[str, dict[str, Any]] = {}
    for raw in content.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:  # cut short by the crash: nothing it says was relied on
            continue
        if "send" in line:
            in_flight[line["l"]] = line
        elif "not_applied" in line:
            in_flight.pop(line["l"], None)
        else:
            applied[line["l"]] = line
            in_flight.pop(line["l"], None)
    unresolved = []
    for location, line in in_flight.items():
        choice = resolve.get(location)
        if choice == "applied":
            applied[location] = line["if_applied"]
        elif line["op"] == "adjust" and choice != "not_applied" and not retry_ambiguous:
            unresolved.append(f"'{location}' ({line['send']} item(s))")
    if unresolved:
        raise AmbiguousResumeError(
            f"The interrupted run was sending adjusts at {', '.join(unresolved)} when it "
            "stopped: they may or may not have been applied. Check each location's stock (or "
            "Kibo's job queue), then run again with journal_resolve set for each, e.g. "
            '{"Location 1": "applied"} or {"Location 1": "not_applied"} '
            "(adjust_retry_ambiguous: true counts them all as not applied)."
        )
    return {
        location: _Replay(line["n"], line["d"])
        for location, line in applied.items()
        if line["adjust"]
    }
