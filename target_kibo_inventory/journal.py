"""Crash journal: which items of each location were applied since the last STATE written.

A STATE message is a safe resume point, but items applied after it arrive again from a
resumed tap. That is harmless for refresh (absolute counts, same order) and wrong for adjust
(deltas), so when any stream is sent as adjust the journal keeps, in one local file per
location (fsync'd), the number of the location's items applied since the last STATE written
and a digest of them, and marks each request as being sent before it goes out. Items received
after the tap's latest STATE message and sent at a drain count too: they are after the
resume point. One file per location lets runs with disjoint locations (partitions of one
feed) share a working directory; a lock file per location keeps two runs off one location.

A run that finds such a file replays the interrupted run at that location: it skips as many
items as were applied (they come again from the resumed tap, in the same order) and checks
their digest before sending anything more there; no STATE is written while a location is
part-way through its replay. An adjust that may or may not have been applied is an incident,
named by an ID, that stops the run at that location until `journal_resolve` settles it.

At a STATE, each file is rewritten atomically (temp file, rename) with the items applied after
that state, keeping the previous entry until the STATE is known to be written, so a kill
between the two leaves a journal that fits whichever state the tap resumes from.

A file holds JSON lines, each with the format `version`: a header (`location`, the `state`
digest, `tail`, and the entries `applied` and `previous`: `items`, their `digest`, the `first`
item's digest and whether any is an `adjust`), then events (`sending` with `if_applied`,
`not_applied`, `accepted` with `applied`, `state_written`), tied by their `incident` ID.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import signal
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from target_kibo_inventory import files

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from target_kibo_inventory.batching import Request

VERSION = 2
"""The journal's format, written on every line as `version`; other versions are refused.

Lines written before every line carried it (events, in the first files of this format) have
the version of their file's header line.
"""
RESOLUTIONS = ("applied", "not_applied")
CRASH_POINT_ENV = "TARGET_KIBO_INVENTORY_CRASH_POINT"
"""Fault injection for crash tests: `after_state:N` kills the process with SIGKILL right
after the N-th STATE message is written, before the journal records that it was."""


class JournalError(RuntimeError):
    """The journal cannot be used, or the input does not match what it recorded."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


class AmbiguousResumeError(JournalError):
    """The interrupted run was sending an adjust that may or may not have been applied."""


def digest(data: bytes) -> str:
    """The SHA-256 of some bytes, as hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class Progress:
    """A location's items in order: how many, their digest, and the digest of the first."""

    count: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    first: str | None = None
    has_adjust: bool = False

    def add(self, items: bytes, count: int, operation: str, first: str | None) -> None:
        """Add `count` serialized items (comma-separated); `first` is the first one's digest."""
        if not self.count:
            self.first = first
        self.hasher.update(b"," + items if self.count else items)
        self.count += count
        self.has_adjust = self.has_adjust or operation == "adjust"

    def copy(self) -> Progress:
        """An independent copy (its hasher too)."""
        return Progress(self.count, self.hasher.copy(), self.first, self.has_adjust)

    def entry(self) -> dict[str, Any]:
        """As written in the file."""
        return {
            "items": self.count,
            "digest": self.hasher.hexdigest(),
            "first": self.first,
            "adjust": self.has_adjust,
        }


@dataclass
class Entry:
    """Items applied at a location after some state, as read from a file."""

    items: int
    digest: str
    first: str | None

    @classmethod
    def read(cls, value: Mapping[str, Any] | None) -> Entry | None:
        """An entry worth replaying: it holds adjusts (refresh items are harmless to resend)."""
        if not value or not value.get("adjust") or not value.get("items"):
            return None
        return cls(int(value["items"]), str(value["digest"]), value.get("first"))


@dataclass
class Incident:
    """A request that was being sent when a run stopped: applied or not, nobody knows."""

    id: str
    location: str
    operation: str
    items: int
    if_applied: dict[str, Any]

    def describe(self) -> str:
        """The incident as error messages name it."""
        return f"incident {self.id}: {self.operation} of {self.items} item(s) at '{self.location}'"


@dataclass
class Replay:
    """What an interrupted run applied at one location, and how far this run has replayed it.

    `candidates` holds one entry, or two when the run stopped between writing a STATE and
    recording that it did (the entry after the new state, then the one after the older;
    None: nothing to skip). With one left, its items are skipped as they come and checked at
    its end (`chosen`); with two, the items are held until they show which state the tap
    resumed from (`held`): the longest entry whose digest they match.
    """

    candidates: list[Entry | None]
    tail: bool
    chosen: Entry | None = None
    seen: Progress = field(default_factory=Progress)
    held: list[tuple[bytes, str]] | None = None
    held_digest: Any = field(default_factory=hashlib.sha256)

    @property
    def started(self) -> bool:
        """Whether the location's first item arrived (the replay is under way)."""
        return self.chosen is not None or self.held is not None


@dataclass
class LocationJournal:
    """One location's file, lock and progress."""

    name: str
    path: Path
    lock: int | None = None
    applied: Progress = field(default_factory=Progress)  # since the last STATE written
    received: Progress = field(default_factory=Progress)  # since the tap's latest STATE
    next_first: str | None = None  # digest of the first item received since the checkpoint
    replay: Replay | None = None
    has_file: bool = False
    written_at_checkpoint: bool = False


class Journal:
    """The journal of a run, a folder of per-location files (a no-op when `folder` is None).

    Thread-safe: the main thread receives items, the request threads record their sending.
    """

    def __init__(
        self,
        folder: Path | None,
        retry_ambiguous: bool,
        resolve: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.folder = folder
        self.enabled = folder is not None
        self.retry_ambiguous = retry_ambiguous
        self.resolve = dict(resolve or {})
        self.logger = logger or logging.getLogger(__name__)
        self.tail = False
        self.released: list[tuple[str, bytes, str]] = []
        """Held items found not to be replayed: (location, item, operation), to be sent."""
        self._locations: dict[str, LocationJournal] = {}
        self._found: set[str] = set()  # file names present at start
        self._state: str | None = None  # digest of the last STATE written
        self._lock = threading.Lock()
        self._states_written = 0
        self._crash_after_state = _crash_point("after_state")

    # Start and end

    def open(self) -> None:
        """Look at what interrupted runs left; refuse a `journal_resolve` that fits nothing."""
        if self.folder is None:
            return
        earlier = self.folder.with_name(self.folder.name + ".jsonl")  # that version's default
        for path in (self.folder, earlier):
            if path.is_file():
                raise JournalError(
                    f"{path} is a journal file of an earlier version of target-kibo-inventory, "
                    "which kept one file per run: finish the interrupted run with that version, "
                    "or remove the file after checking the stock of the locations it names."
                )
        if self.folder.is_dir():
            self._found = {p.name for p in self.folder.glob("*.jsonl")}
        open_incidents = {i.id: i for i in self._incidents_on_disk()}
        unknown = sorted(set(self.resolve) - set(open_incidents))
        if unknown:
            listed = "; ".join(i.describe() for i in open_incidents.values()) or "none"
            raise JournalError(
                f"journal_resolve names {', '.join(repr(u) for u in unknown)}, which match no "
                f"open incident in {self.folder} (open incidents: {listed}). Resolve only the "
                "incident IDs that the error of the interrupted run printed, and remove "
                "resolutions once they were used."
            )

    def _incidents_on_disk(self) -> Iterator[Incident]:
        """The open incidents of the files found at start (unreadable files are skipped)."""
        folder = self.folder
        if folder is None:
            return
        for name in sorted(self._found):
            with contextlib.suppress(OSError, JournalError):
                yield from _read_file(folder / name).incidents

    def close(self) -> None:
        """Release every location's lock; remove files that hold nothing, and the folder."""
        with self._lock:
            for location in self._locations.values():
                if location.lock is not None:
                    _unlock(location.path.with_suffix(".lock"), location.lock)
                    location.lock = None
        if self.folder is not None:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only when empty: other partitions may have files

    # The record path (main thread)

    @property
    def replaying(self) -> bool:
        """Whether a location is part-way through its replay (STATE is held back meanwhile)."""
        return any(
            loc.replay is not None and loc.replay.started for loc in self._locations.values()
        )

    def received(self, location: str, item: bytes, operation: str) -> bool:
        """Note an item received; return True when the interrupted run applied it (skip it)."""
        loc = self._locations.get(location)
        if loc is None:
            if self.folder is None:
                return False  # no journal: nothing is recorded or skipped
            loc = self._start_location(location, self.folder)
        first = None
        if not loc.received.count or (loc.next_first is None and not loc.applied.count):
            first = digest(item)
            if loc.next_first is None and not loc.applied.count:
                loc.next_first = first
        loc.received.add(item, 1, operation, first)
        if loc.replay is None:
            return False
        return self._replayed(loc, loc.replay, item, operation)

    def state_received(self) -> None:
        """The tap sent a new STATE message: the items before it are behind the resume point."""
        for loc in self._locations.values():
            loc.received = Progress()

    def _start_location(self, location: str, folder: Path) -> LocationJournal:
        """The first item of a location in this run: lock and read its file, if there is one."""
        path = folder / _file_name(location)
        loc = self._locations[location] = LocationJournal(location, path)
        if path.name in self._found:
            self._lock_location(loc)
            self._load(loc)
        return loc

    def _load(self, loc: LocationJournal) -> None:
        """Read a location's file: what to replay, and the incidents that stop the run."""
        found = _read_file(loc.path)
        if found.location != loc.name:
            raise JournalError(
                f"{loc.path} belongs to location '{found.location}', not '{loc.name}'"
            )
        loc.has_file = True
        candidates = list(found.candidates)
        for incident in found.incidents:
            choice = self.resolve.get(incident.id)
            if choice == "applied":
                candidates = [Entry.read(incident.if_applied)]
            elif choice is None and incident.operation == "adjust" and not self.retry_ambiguous:
                raise AmbiguousResumeError(_ambiguous_message(incident, loc.path))
        if any(c is not None for c in candidates):
            loc.replay = Replay(candidates, found.tail)
        else:
            self._forget(loc)

    def _replayed(self, loc: LocationJournal, replay: Replay, item: bytes, operation: str) -> bool:
        """Whether the interrupted run applied this item (it is skipped); check the replay."""
        if not replay.started:
            self._start_replay(loc, replay, item)
        if replay.held is not None:
            self._hold(loc, replay, replay.held, item, operation)
            return True
        chosen = replay.chosen
        if chosen is None:  # the first item showed that nothing is to be skipped here
            return False
        first = None if replay.seen.count else digest(item)
        replay.seen.add(item, 1, operation, first)
        with self._lock:
            loc.applied.add(item, 1, operation, first)
        if replay.seen.count == chosen.items:
            loc.replay = None
            if replay.seen.hasher.hexdigest() != chosen.digest:
                raise JournalError(_mismatch_message(loc, chosen.items))
        return True

    def _start_replay(self, loc: LocationJournal, replay: Replay, item: bytes) -> None:
        """At the location's first item: keep the candidates that begin with it."""
        first = digest(item)
        live = [c for c in replay.candidates if c is None or c.first == first]
        if len(live) > 1:  # both entries begin with it: hold the items until they tell
            replay.candidates, replay.held = live, []
        elif live and live[0] is not None:
            replay.chosen = live[0]
        elif live:
            self._forget(loc)  # resumed from the newer state, which left nothing to skip here
        else:
            self._moved_on(loc, replay)

    def _hold(
        self,
        loc: LocationJournal,
        replay: Replay,
        held_items: list[tuple[bytes, str]],
        item: bytes,
        operation: str,
    ) -> None:
        """Hold an item until the held ones rule out all candidates but one (or all)."""
        held_items.append((item, operation))
        count = len(held_items)
        replay.held_digest.update(b"," + item if count > 1 else item)
        held = replay.held_digest.hexdigest()
        replay.candidates = [
            c for c in replay.candidates if c is None or c.items != count or c.digest == held
        ]
        if count < max((c.items for c in replay.candidates if c is not None), default=0):
            return
        loc.replay = None
        if not replay.candidates:
            self._moved_on(loc, replay)
            self.released.extend((loc.name, i, op) for i, op in held_items)
            return
        chosen = max(replay.candidates, key=lambda c: c.items if c is not None else 0)
        skip = chosen.items if chosen is not None else 0
        for i, op in held_items[:skip]:
            with self._lock:
                loc.applied.add(i, 1, op, None if loc.applied.count else digest(i))
        self.released.extend((loc.name, i, op) for i, op in held_items[skip:])
        if chosen is None:
            self._forget(loc)

    def _moved_on(self, loc: LocationJournal, replay: Replay) -> None:
        """No entry fits the items received: an error, unless they are a failed tap's tail."""
        count = max(c.items for c in replay.candidates if c is not None) if replay.candidates else 0
        if not replay.tail:
            raise JournalError(_mismatch_message(loc, count))
        self.logger.warning(
            "The journal kept %d item(s) at location '%s' that came after the tap's last STATE "
            "in an earlier run, but this run's items there differ: the input moved on, so "
            "they are not skipped.",
            count,
            loc.name,
        )
        self._forget(loc)

    def _forget(self, loc: LocationJournal) -> None:
        """Nothing of this location's file is to be replayed: remove it."""
        loc.replay = None
        if loc.has_file:
            loc.path.unlink(missing_ok=True)
            loc.has_file = False

    def check_replayed(self) -> list[str]:
        """At the end of input: the locations whose replay did not finish (kept for later)."""
        left = []
        for loc in self._locations.values():
            replay = loc.replay
            if replay is not None and replay.chosen is not None:
                left.append(f"'{loc.name}' ({replay.chosen.items - replay.seen.count} more)")
            elif replay is not None and replay.held is not None:
                left.append(f"'{loc.name}' (undecided after {len(replay.held)} item(s))")
        return left

    # The request threads

    def sending(self, request: Request) -> None:
        """Note that a request is about to be sent, and what is applied if it is."""
        if not self.enabled:
            return
        loc = self._locations[request.location]
        with self._lock:
            progress = loc.applied.copy()
        progress.add(request.encoded_items, request.count, request.operation, loc.next_first)
        if not (progress.has_adjust or loc.has_file):
            return  # refresh only: resending it is harmless, nothing to record
        incident = secrets.token_hex(5)  # unique: a resolution never fits a later incident
        request.incident = incident
        self._append(
            loc,
            {
                "event": "sending",
                "incident": incident,
                "operation": request.operation,
                "items": request.count,
                "if_applied": progress.entry(),
            },
        )

    def not_applied(self, request: Request) -> None:
        """Note that a request surely was not applied (refused, or never sent)."""
        if not self.enabled:
            return
        loc = self._locations[request.location]
        if loc.has_file and request.incident:
            self._append(loc, {"event": "not_applied", "incident": request.incident})

    def accepted(self, request: Request, job_id: int | str | None) -> None:
        """Note that a request was accepted: the location's applied items grow."""
        if not self.enabled:
            return
        loc = self._locations[request.location]
        with self._lock:
            loc.applied.add(request.encoded_items, request.count, request.operation, loc.next_first)
            applied = loc.applied.entry()
        if loc.has_file:
            self._append(
                loc,
                {
                    "event": "accepted",
                    "incident": request.incident,
                    "job": job_id,
                    "applied": applied,
                },
            )

    # STATE messages

    @contextlib.contextmanager
    def checkpoint(self, state: Mapping[str, Any]) -> Iterator[None]:
        """Around writing a STATE: what is applied past it came after the tap's latest STATE.

        Before the STATE is written each touched file is replaced (atomically) by one that
        holds the entry after the new state and, until the STATE is known written, the entry
        after the older one; after it, the file records that it was written, or is removed.
        """
        state_digest = digest(json.dumps(state, sort_keys=True, default=str).encode())
        written = [self._prepare(loc, state_digest) for loc in self._touched()]
        yield
        self._states_written += 1
        if self._states_written == self._crash_after_state:
            os.kill(os.getpid(), signal.SIGKILL)
        self._state = state_digest
        for loc in (loc for loc in written if loc is not None):
            if loc.applied.has_adjust:
                self._append(loc, {"event": "state_written"}, sync=False)
            else:
                self._forget(loc)

    def _touched(self) -> list[LocationJournal]:
        """Locations that items came to in this run, except those still to be replayed."""
        return [loc for loc in self._locations.values() if loc.replay is None]

    def _prepare(self, loc: LocationJournal, state_digest: str) -> LocationJournal | None:
        """Before a STATE: replace the location's file by a header of the entries around it."""
        with self._lock:
            previous, loc.applied = loc.applied, loc.received.copy()
            loc.next_first = None
        if not (loc.has_file or loc.applied.has_adjust):
            return None
        self._lock_location(loc)
        header = {
            "version": VERSION,
            "location": loc.name,
            "state": state_digest,
            "tail": self.tail,
            "applied": loc.applied.entry(),
            "previous": previous.entry(),
        }
        _replace(loc.path, header)
        loc.has_file = True
        return loc

    def finish(self, tap_sent_state: bool) -> None:
        """The input ended and everything was accepted; the last STATE was written.

        When the tap sent STATE messages, the items after its last one stay in the journal
        (a tap that failed part-way is resumed from that state and sends them again). A tap
        that sent none has no resume point: nothing is kept.
        """
        left = self.check_replayed()
        if left:
            self.logger.warning(
                "The input ended before it repeated everything an interrupted run had applied "
                "at %s, so no STATE was written: the journal keeps those items for the next "
                "resume.",
                ", ".join(left),
            )
            return
        after = [loc for loc in self._locations.values() if loc.applied.has_adjust]
        count = sum(loc.applied.count for loc in after)
        if not after:
            return
        if tap_sent_state:
            self.logger.warning(
                "%d adjust item(s) at %d location(s) came after the tap's last STATE message "
                "(did the tap fail?): the journal %s keeps them, so that a run resumed from that "
                "state skips them instead of applying them twice.",
                count,
                len(after),
                self.folder,
            )
            return
        self.logger.warning(
            "%d item(s) at locations with adjusts came after the tap's last STATE message (it "
            "sent none): a tap without state sends everything again on every run.",
            count,
        )
        for loc in after:
            self._forget(loc)

    # Files

    def _lock_location(self, loc: LocationJournal) -> None:
        """Lock the location's lock file (once), making the folder if need be."""
        if loc.lock is None:
            files.make_folder(loc.path.parent, what="the crash journal", setting="journal_path")
            loc.lock = _lock(loc.path.with_suffix(".lock"), loc.name)

    def _append(self, loc: LocationJournal, line: dict[str, Any], *, sync: bool = True) -> None:
        """Append an event to a location's file.

        One thread at a time per location: a location has at most one request in flight, and
        STATE is written while none is.
        """
        self._lock_location(loc)
        if not loc.has_file:
            _replace(loc.path, {"version": VERSION, "location": loc.name, "state": self._state})
            loc.has_file = True
        data = json.dumps({"version": VERSION, **line}).encode() + b"\n"
        files.append(loc.path, data, what=_what(loc.name), setting="journal_path", sync=sync)


@dataclass
class FoundFile:
    """What a location's file says."""

    location: str
    candidates: list[Entry | None]
    tail: bool
    incidents: list[Incident]


def _read_file(path: Path) -> FoundFile:
    """Parse a location's file: its entries after the state, and its open incidents."""
    lines = [line for line in map(_json_line, path.read_bytes().splitlines()) if line]
    if not lines or "version" not in lines[0]:
        raise JournalError(
            f"{path} is not a journal file of target-kibo-inventory: its first line names no "
            "format version. Move it out of the journal folder (after checking the location's "
            "stock, if a run of this target wrote it) and run again."
        )
    header, events = lines[0], lines[1:]
    for line in lines:
        _check_version(path, line.get("version", header["version"]))
    current = header.get("applied")
    written = bool(events) or "previous" not in header  # events follow the STATE write
    in_flight: dict[str, dict[str, Any]] = {}
    for event in events:
        kind = event.get("event")
        if kind == "sending":
            in_flight[event["incident"]] = event
        elif kind in ("not_applied", "accepted"):
            in_flight.pop(str(event.get("incident")), None)
            if kind == "accepted":
                current, written = event["applied"], True
    candidates = [Entry.read(current)]
    previous = Entry.read(header.get("previous"))
    if not written and previous != candidates[0]:
        candidates.append(previous)
    incidents = [
        Incident(key, header["location"], e["operation"], e["items"], e["if_applied"])
        for key, e in in_flight.items()
    ]
    return FoundFile(header["location"], candidates, bool(header.get("tail")), incidents)


def _json_line(raw: bytes) -> dict[str, Any] | None:
    """A line of a journal file, or None.

    None for a line cut short by a crash (nothing it says was relied on), or one that holds
    no JSON object.
    """
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def _check_version(path: Path, version: Any) -> None:
    """Refuse a line of another format version than VERSION, saying what to do."""
    if version == VERSION:
        return
    if isinstance(version, int) and version > VERSION:
        raise JournalError(
            f"{path} was written by a newer release of target-kibo-inventory (journal format "
            f"version {version}; this release reads version {VERSION}). Finish the interrupted "
            "run with that release or a later one, which skips exactly what was applied at this "
            "location; remove the file only after checking the location's stock by hand."
        )
    raise JournalError(
        f"{path} is a journal of format version {version}; this release of "
        f"target-kibo-inventory reads version {VERSION}. Finish the interrupted run with the "
        "release that wrote it, or remove the file after checking the location's stock."
    )


def _replace(path: Path, header: dict[str, Any]) -> None:
    """Write a file with one header line atomically: a temp file, fsync'd, renamed over it."""
    data = json.dumps(header).encode() + b"\n"
    files.replace(path, data, what=_what(header["location"]), setting="journal_path")


def _what(location: str) -> str:
    """What a location's journal file holds, as an error names it."""
    return f"the crash journal of location '{location}'"


def _lock(path: Path, location: str) -> int:
    """Lock a location's lock file; refuse when another run holds it.

    A lock taken on a file that was removed meanwhile (by the run that held it) locks
    nothing: the inode is checked after locking and the lock taken again.
    """
    while True:
        with files.writing(path, "the crash journal's lock file", "journal_path"):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, files.OWNER_ONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"Another target-kibo-inventory run is loading location '{location}' (it holds "
                f"{path}). Runs may share a working directory only when their locations are "
                "disjoint; wait for the other run to end, or give this run its own journal_path "
                "only if the other run will never send adjusts to this location."
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _unlock(path: Path, fd: int) -> None:
    """Remove the lock file while holding the lock, then release it."""
    path.unlink(missing_ok=True)
    os.close(fd)


def _file_name(location: str) -> str:
    """A location's file name: readable, safe, and unique (a digest of the exact name)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", location).strip("-")[:40] or "location"
    return f"{slug}-{digest(location.encode())[:12]}.jsonl"


def _crash_point(name: str) -> int:
    """The STATE count at which a crash test wants the process killed (0: never)."""
    point, _, count = os.environ.get(CRASH_POINT_ENV, "").partition(":")
    return int(count or 1) if point == name else 0


def _ambiguous_message(incident: Incident, path: Path) -> str:
    return (
        f"The interrupted run was sending an adjust of {incident.items} item(s) at "
        f"'{incident.location}' when it stopped ({incident.describe()}): it may or may not have "
        "been applied. Check the location's stock (or Kibo's job queue), then run again with "
        f'journal_resolve: {{"{incident.id}": "applied"}} if it was applied, or '
        f'{{"{incident.id}": "not_applied"}} if it was not (the journal is {path}).'
    )


def _mismatch_message(loc: LocationJournal, count: int) -> str:
    return (
        f"The records for location '{loc.name}' differ from those the interrupted run sent: it "
        f"had applied {count} item(s) there, which are not the first {count} now received, so "
        "this is not the input it was resumed from. Run again with the tap resumed from the "
        "last state the target wrote. Only if the location's stock was checked and set right "
        f"by hand, remove {loc.path}: the next run then sends every item it receives there."
    )
