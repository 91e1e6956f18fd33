"""The crash journal: which movements of each location are applied since the last STATE written.

A STATE message is a safe resume point, but movements (deltas) applied after it arrive again
from a resumed tap; counts are absolute and harmless to send again. So the journal numbers each
location's movements since the last STATE written (their positions) and records, in one local
file per location (fsync'd), each request that carries movements before it goes out and what
became of it: applied (accepted; with `wait_for_jobs`, its job SUCCESS), not applied (refused;
a FAILED job whose answer shows nothing was applied), or unknown (an incident). A STATE written
makes every movement before it applied; those received after the tap's latest STATE stay in
the file (a resumed tap sends them again).

A run that finds a file replays it (see Replay): the movements that the interrupted run
applied are skipped as they come again, unless a count of the same item came first in this
run (a count sets the stock, so the movements after it apply again on top of it). No STATE is
written while a location is part-way through its replay. A request that may or may not have
been applied is an incident, named by an ID, that stops the run at that location until
`journal_resolve` settles it (or, for a waited-for job, until its job queue tells).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_kibo_inventory.journal import fileformat, lock
from target_kibo_inventory.journal.bookmarks import BookmarkMovements, read_from
from target_kibo_inventory.journal.fileformat import (
    AmbiguousResumeError,
    FoundFile,
    JournalError,
    Sent,
    Window,
    digest,
)
from target_kibo_inventory.journal.replay import Candidate, Replay, merge_ranges, to_ranges

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator, Mapping

    from target_kibo_inventory.batching import Request

RESOLUTIONS = ("applied", "not_applied")


@dataclass
class LocationJournal:
    """One location's file, lock and movements."""

    name: str
    path: Path
    lock: int | None = None
    moves: int = 0
    """Movements received since the last STATE written: the next one's position."""
    window: Any = field(default_factory=hashlib.sha256)
    window_first: str | None = None
    latest_start: int = 0
    """Position of the first movement after the tap's latest STATE."""
    latest: Any = field(default_factory=hashlib.sha256)
    latest_first: str | None = None
    replay: Replay | None = None
    counted: set[Hashable] | None = None
    """Items counted in this run, while movements may be skipped here."""
    has_file: bool = False
    file_lock: threading.Lock = field(default_factory=threading.Lock)


class Journal:
    """The journal of a run: a folder of per-location files (no files when `folder` is None).

    `job_status(job_id)` reads a job's (status, itemCount) from its job queue (None: cannot),
    to settle the jobs an interrupted run was waiting for. `after_state_written(n)` is called
    after the n-th STATE is written and before the journal records it (the crash tests).
    Thread-safe: the main thread receives items, the request and job threads record sending.
    """

    def __init__(
        self,
        folder: Path | None,
        retry_ambiguous: bool,
        resolve: Mapping[str, str] | None = None,
        logger: logging.Logger | None = None,
        *,
        bookmark_limit: int = 10_000,
        job_status: Callable[[int | str], tuple[str, int | None] | None] | None = None,
        after_state_written: Callable[[int], None] | None = None,
    ) -> None:
        self.folder = folder
        self._enabled = folder is not None
        self.retry_ambiguous = retry_ambiguous
        self.resolve = dict(resolve or {})
        self.logger = logger or logging.getLogger(__name__)
        self.bookmarks = BookmarkMovements(bookmark_limit)
        self.notes_counts = self._enabled
        """Whether counts must be noted (`note_count`): with files, or movements known at a
        bookmark; otherwise nothing is kept of them, and the record path skips the call."""
        self._input_ended = False
        self._job_status = job_status
        self._after_state_written = after_state_written
        self._locations: dict[str, LocationJournal] = {}
        self._found: set[str] = set()
        self._state: str | None = None
        self._states_written = 0
        self._untracked_since_state = False

    # Start and end

    def open(self) -> None:
        """Read what interrupted runs left; refuse a `journal_resolve` that fits nothing."""
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
        incidents: dict[str, str] = {}
        for found in self._files_on_disk():
            for stream, entry in found.bookmarks.items():
                self.bookmarks.learn(stream, entry, found.location)
            incidents.update((s.incident, _describe(s, found.location)) for s in _open(found))
        unknown = sorted(set(self.resolve) - set(incidents))
        if unknown:
            listed = "; ".join(incidents.values()) or "none"
            raise JournalError(
                f"journal_resolve names {', '.join(repr(u) for u in unknown)}, which match no "
                f"open incident in {self.folder} (open incidents: {listed}). Resolve only the "
                "incident IDs that the error of the interrupted run printed, and remove "
                "resolutions once they were used."
            )

    def _files_on_disk(self) -> Iterator[FoundFile]:
        """The files found at start (unreadable ones are left for their location to refuse)."""
        folder = self.folder
        if folder is None:
            return
        for name in sorted(self._found):
            with contextlib.suppress(OSError, JournalError):
                yield fileformat.read_file(folder / name)

    def close(self) -> None:
        """Release every location's lock; remove the folder when it is empty."""
        for location in self._locations.values():
            if location.lock is not None:
                lock.unlock(location.path.with_suffix(".lock"), location.lock)
                location.lock = None
        if self.folder is not None:
            with contextlib.suppress(OSError):
                self.folder.rmdir()  # only when empty: other partitions may have files

    # The record path (main thread)

    @property
    def replaying(self) -> bool:
        """Whether a location is part-way through its replay (STATE is held back meanwhile)."""
        return any(
            loc.replay is not None and loc.replay.position > 0 for loc in self._locations.values()
        )

    def input_ended(self) -> None:
        """The input ended: what the last STATE leaves in the files is a tap's tail."""
        self._input_ended = True

    def note_count(self, location: str, key: Hashable) -> None:
        """Note a count of an item: movements of it after this one are never skipped."""
        loc = self._locations.get(location) or self._start_location(location)
        if loc.counted is not None:
            loc.counted.add(key)

    def was_counted(self, location: str, key: Hashable) -> bool:
        """Whether this run already had a count of the item at the location."""
        loc = self._locations.get(location)
        return loc is not None and loc.counted is not None and key in loc.counted

    def movement(
        self, location: str, item: bytes, *, tracked: bool
    ) -> list[tuple[int | None, bool]] | None:
        """Number a movement; tell whether the interrupted run applied it (None: held).

        The list holds (position, applied) for the movements held at the location until now,
        oldest first, then this one. `tracked`: a movement of a stream whose bookmark is
        followed (see BookmarkMovements).
        """
        if not tracked:
            self._untracked_since_state = True
        loc = self._locations.get(location) or self._start_location(location)
        if loc.replay is None and loc.counted is not None and not self.bookmarks.known:
            loc.counted = None  # the replay is over: no movement is skipped here any more
        if not self._enabled:
            return [(None, False)]
        if loc.moves == loc.latest_start:
            loc.latest_first = digest(item)
            if not loc.moves:
                loc.window_first = loc.latest_first
        loc.window.update(b"," + item if loc.moves else item)
        loc.latest.update(b"," + item if loc.moves > loc.latest_start else item)
        loc.moves += 1
        replay = loc.replay
        if replay is None:
            return [(loc.moves - 1, False)]
        verdicts = replay.step(item)
        if replay.finished:
            self._end_replay(loc, replay)
        if verdicts is None:
            return None
        first = loc.moves - len(verdicts)
        return [(first + i, applied) for i, applied in enumerate(verdicts)]

    def queued(self, request: Request) -> None:
        """A request is queued: one that carries movements takes the check of the input so far.

        The check is (movements so far, their digest, the first one's) at its location.
        """
        if request.moves and self._enabled:
            loc = self._locations[request.location]
            request.check = loc.moves, loc.window.copy().hexdigest(), loc.window_first

    def state_received(self, state: Any) -> None:
        """The tap sent a new STATE: what it says was applied at bookmarks; a new resume point."""
        for stream, entry in read_from(state).items():
            self.bookmarks.learn(stream, entry)
            self.notes_counts = True
        self.bookmarks.state_received()
        self._untracked_since_state = False
        for loc in self._locations.values():
            loc.latest_start = loc.moves
            loc.latest = hashlib.sha256()
            loc.latest_first = None

    @property
    def stood_still(self) -> bool:
        """Whether every movement after the tap's latest STATE is at its stream's bookmark then.

        Then a STATE with the movements at the bookmark covers what came after the tap's.
        """
        after = any(loc.moves > loc.latest_start for loc in self._locations.values())
        return after and not self._untracked_since_state and not self.bookmarks.moved_since_state

    def _start_location(self, location: str) -> LocationJournal:
        """The first item of a location in this run: lock and read its file, if there is one."""
        folder = self.folder
        path = (folder or Path()) / fileformat.file_name(location)
        loc = self._locations[location] = LocationJournal(location, path)
        if self.bookmarks.known:
            loc.counted = set()
        if folder is not None and loc.path.name in self._found:
            self._lock_location(loc)
            self._load(loc)
        return loc

    def _load(self, loc: LocationJournal) -> None:
        """Read a location's file: what to replay, and the incidents that stop the run."""
        found = fileformat.read_file(loc.path)
        if found.location != loc.name:
            raise JournalError(
                f"{loc.path} belongs to location '{found.location}', not '{loc.name}'"
            )
        loc.has_file = True
        candidates = self._candidates(found)
        if any(c is not None for c in candidates):
            loc.replay = Replay(loc.name, candidates, tail=found.tail)
            loc.counted = loc.counted if loc.counted is not None else set()

    def _candidates(self, found: FoundFile) -> list[Candidate | None]:
        """The windows the interrupted run may have left, as replay candidates."""
        if not found.confirmed:
            return [_prefix(found.after), _prefix(found.before)]
        applied: list[list[int]] = [[0, found.after.moves]] if found.after else []
        checks = {found.after.moves: found.after.digest} if found.after else {}
        first = found.after.first if found.after else None
        for sent in found.sent:
            checks[sent.upto] = sent.digest
            if self._applied(sent, found.location):
                applied = merge_ranges(applied, sent.moves)
        first = first or next((s.first for s in found.sent if s.first), None)
        if not applied:
            return [None]
        return [Candidate(applied, checks, first)]

    def _applied(self, sent: Sent, location: str) -> bool:
        """Whether a request of the interrupted run was applied; raise for an open incident."""
        if sent.outcome in ("applied", "not_applied"):
            return sent.outcome == "applied"
        if sent.outcome == "pending_job" and sent.job is not None:
            settled = self._settle_job(sent)
            if settled is not None:
                return settled
        choice = self.resolve.get(sent.incident)
        if choice is not None:
            return choice == "applied"
        if sent.outcome == "in_flight" and self.retry_ambiguous:
            return False
        raise AmbiguousResumeError(_ambiguous_message(sent, location, self.folder))

    def _settle_job(self, sent: Sent) -> bool | None:
        """A job the interrupted run waited for, read again: applied, not, or unknown (None)."""
        if self._job_status is None or sent.job is None:
            return None
        try:
            answer = self._job_status(sent.job)
        except Exception as error:  # any failure leaves it an incident
            self.logger.warning("Could not read job %s to settle it: %s", sent.job, error)
            return None
        if answer is None:
            return None
        status, item_count = answer
        if status == "SUCCESS":
            return True
        if status == "FAILED":
            sent.outcome = "failed"
            return False if item_count == 0 else None
        return None

    def _end_replay(self, loc: LocationJournal, replay: Replay) -> None:
        loc.replay = None
        if replay.moved_on:
            self.logger.warning(
                "The journal kept movements at location '%s' that came after the tap's last "
                "STATE in an earlier run, but this run's movements there differ: the input "
                "moved on, so they are not skipped.",
                loc.name,
            )

    def _unfinished_replays(self) -> list[str]:
        """At the end of input: the locations whose replay did not finish (kept for later)."""
        left = []
        for loc in self._locations.values():
            replay = loc.replay
            if replay is None or replay.finished:
                continue
            if replay.holding:
                left.append(f"'{loc.name}' (undecided after {replay.position} movement(s))")
            elif replay.chosen is not None:
                left.append(f"'{loc.name}' ({replay.chosen.end - replay.position} more)")
        return left

    # The request and job threads

    def sending(self, request: Request) -> None:
        """Note that a request that carries movements is about to be sent."""
        if not self._enabled or not request.moves or request.check is None:
            return
        loc = self._locations[request.location]
        request.incident = secrets.token_hex(5)  # unique: a resolution never fits a later one
        upto, check_digest, first = request.check
        self._append(
            loc,
            {
                "event": "sending",
                "incident": request.incident,
                "operation": request.operation,
                "items": request.count,
                "moves": to_ranges(request.moves),
                "upto": upto,
                "digest": check_digest,
                "first": first,
            },
        )

    def not_applied(self, request: Request) -> None:
        """Note that a request surely was not applied (refused, or never sent)."""
        if request.incident is not None:
            self._append(
                self._locations[request.location],
                {"event": "not_applied", "incident": request.incident},
            )

    def accepted(self, request: Request, job_id: int | str | None, *, final: bool) -> None:
        """Note that a request was accepted; `final`: it counts as applied now."""
        if request.incident is not None:
            self._append(
                self._locations[request.location],
                {"event": "accepted", "incident": request.incident, "job": job_id, "final": final},
            )

    def job_final(self, location: str, incident: str | None, *, applied: bool | None) -> None:
        """A waited-for job is final: applied (SUCCESS), not applied, or unknown (None)."""
        if incident is not None:
            self._append(
                self._locations[location],
                {"event": "job", "incident": incident, "applied": applied},
            )

    # STATE messages

    @contextlib.contextmanager
    def checkpoint(self, state: Mapping[str, Any], *, final: bool = False) -> Iterator[None]:
        """Around writing a STATE: every movement received is applied now.

        Each touched file is replaced (atomically) by one that holds the window after the
        new state and, until the STATE is known written, the window before it. `final`: the
        tap's bookmark stood still, so the movements after its latest STATE are covered by the
        movements at the bookmark that this STATE carries.
        """
        state_digest = digest(json.dumps(state, sort_keys=True, default=str).encode())
        prepared = [self._prepare(loc, state_digest, final) for loc in self._touched()]
        yield
        self._states_written += 1
        if self._after_state_written is not None:
            self._after_state_written(self._states_written)
        self._state = state_digest
        for loc, keeps in prepared:
            if keeps:
                fileformat.append(loc.path, loc.name, {"event": "state_written"}, sync=False)
            else:
                self._forget(loc)

    def _touched(self) -> list[LocationJournal]:
        """Locations that items came to in this run, except those still to be replayed."""
        return [loc for loc in self._locations.values() if loc.replay is None]

    def _prepare(
        self, loc: LocationJournal, state_digest: str, final: bool
    ) -> tuple[LocationJournal, bool]:
        """Before a STATE: replace the location's file by a header of the windows around it.

        Returns the location and whether its file keeps anything once the STATE is written.
        """
        after = (
            None if final else _window(loc.moves - loc.latest_start, loc.latest, loc.latest_first)
        )
        before = _window(loc.moves, loc.window, loc.window_first)
        bookmarks = self.bookmarks.for_location(loc.name, final=final)
        if final:
            loc.moves, loc.window, loc.window_first = 0, hashlib.sha256(), None
        else:
            loc.moves -= loc.latest_start
            loc.window, loc.window_first = loc.latest.copy(), loc.latest_first
        loc.latest_start = 0
        keeps = bool(after or bookmarks)
        if self.folder is None or not (loc.has_file or before or bookmarks):
            return loc, False
        self._lock_location(loc)
        header: dict[str, Any] = {
            "location": loc.name,
            "state": state_digest,
            "tail": self._input_ended and not final,
            "after": after.entry() if after else None,
            "bookmarks": bookmarks,
        }
        if before is not None and before != after:
            header["before"] = before.entry()
        fileformat.replace(loc.path, header)
        loc.has_file = True
        return loc, keeps

    def finish(self, tap_sent_state: bool) -> None:
        """The input ended and everything was accepted; the last STATE was written."""
        left = self._unfinished_replays()
        if left:
            self.logger.warning(
                "The input ended before it repeated everything an interrupted run had applied "
                "at %s, so no STATE was written: the journal keeps those movements for the next "
                "resume.",
                ", ".join(left),
            )
            return
        after = [loc for loc in self._locations.values() if loc.moves]
        if not after or not self._enabled:
            return
        count = sum(loc.moves for loc in after)
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

    def _forget(self, loc: LocationJournal) -> None:
        """Nothing of this location's file is needed any more: remove it."""
        if loc.has_file:
            loc.path.unlink(missing_ok=True)
            loc.has_file = False

    def _lock_location(self, loc: LocationJournal) -> None:
        """Lock the location's lock file (once), making the folder if need be."""
        if loc.lock is None:
            fileformat.make_folder(loc.path.parent)
            loc.lock = lock.lock(loc.path.with_suffix(".lock"), loc.name)

    def _append(self, loc: LocationJournal, line: dict[str, Any]) -> None:
        """Append an event to a location's file (fsync'd)."""
        with loc.file_lock:
            self._lock_location(loc)
            if not loc.has_file:
                fileformat.replace(loc.path, {"location": loc.name, "state": self._state})
                loc.has_file = True
            fileformat.append(loc.path, loc.name, line)


def _window(moves: int, hasher: Any, first: str | None) -> Window | None:
    return Window(moves, hasher.hexdigest(), first) if moves else None


def _prefix(window: Window | None) -> Candidate | None:
    """A window of movements all applied, as a replay candidate."""
    if window is None:
        return None
    return Candidate([[0, window.moves]], {window.moves: window.digest}, window.first)


def _open(found: FoundFile) -> list[Sent]:
    """The requests of a file whose outcome is not known."""
    return [s for s in found.sent if s.outcome not in ("applied", "not_applied")]


def _describe(sent: Sent, location: str) -> str:
    """An incident as error messages name it."""
    job = f", job {sent.job}" if sent.job is not None else ""
    return (
        f"incident {sent.incident}: {sent.operation} of {sent.items} item(s){job} at '{location}'"
    )


def _ambiguous_message(sent: Sent, location: str, folder: Path | None) -> str:
    what = f"{sent.operation} of {sent.items} item(s) at '{location}'"
    article = "an" if sent.operation[:1] in "aeiou" else "a"
    why = {
        "in_flight": f"The interrupted run was sending {article} {what} when it stopped "
        f"({_describe(sent, location)}): it may or may not have been applied.",
        "pending_job": f"The interrupted run's {what} was accepted as job {sent.job}, which was "
        f"not final when it stopped and cannot be read now ({_describe(sent, location)}).",
        "failed": f"Job {sent.job} ({what}) ended FAILED, and its answer cannot tell whether "
        f"any item was applied ({_describe(sent, location)}).",
    }[sent.outcome]
    return (
        f"{why} Check the location's stock (or Kibo's job queue), then run again with "
        f'journal_resolve: {{"{sent.incident}": "applied"}} if it was applied, or '
        f'{{"{sent.incident}": "not_applied"}} if it was not (the journal is {folder}).'
    )
