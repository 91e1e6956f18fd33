"""The journal's file format: one file per location, JSON lines, each with the format version.

A file starts with a header (`location`, the `state` digest, `tail`, the window `after` the
last STATE written and, until that STATE is known written, the window `before` it, and the
movements at each stream's last bookmark value), then events tied by their `incident` ID:
`sending` (the movement positions a request carries, and a check of the input so far),
`not_applied`, `accepted` (with its job, `final` when the job is known applied once accepted),
`job` (a waited-for job's final status and whether it applied anything) and `state_written`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from target_kibo_inventory import files

if TYPE_CHECKING:
    from pathlib import Path

VERSION = 3
"""The journal's format, written on every line as `version`; other versions are refused."""


class JournalError(RuntimeError):
    """The journal cannot be used, or the input does not match what it recorded."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


class AmbiguousResumeError(JournalError):
    """The interrupted run was sending movements that may or may not have been applied."""


def digest(data: bytes) -> str:
    """The SHA-256 of some bytes, as hex."""
    return hashlib.sha256(data).hexdigest()


def file_name(location: str) -> str:
    """A location's file name: readable, safe, and unique (a digest of the exact name)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", location).strip("-")[:40] or "location"
    return f"{slug}-{digest(location.encode())[:12]}.jsonl"


@dataclass(frozen=True)
class Window:
    """The movements a location received after some state, all of them applied."""

    moves: int
    digest: str
    first: str | None
    """Digest of the first of them."""

    @classmethod
    def read(cls, value: Any) -> Window | None:
        """A window worth replaying (it holds movements), from its header entry."""
        if not isinstance(value, dict) or not value.get("moves"):
            return None
        return cls(int(value["moves"]), str(value["digest"]), value.get("first"))

    def entry(self) -> dict[str, Any]:
        """As written in a header."""
        return {"moves": self.moves, "digest": self.digest, "first": self.first}


@dataclass
class Sent:
    """A request that carried movements, as the events of a file tell."""

    incident: str
    operation: str
    moves: list[list[int]]
    """Movement positions as ranges `[start, end)`."""
    upto: int
    digest: str
    """The digest of the location's first `upto` movements when it was sent."""
    first: str | None = None
    """Digest of the location's first movement (after the state)."""
    items: int = 0
    """How many items the request carried."""
    outcome: str = "in_flight"
    """in_flight, applied, not_applied, pending_job (accepted, its job not final) or failed
    (its job ended FAILED with an answer that cannot tell whether anything was applied)."""
    job: int | str | None = None


@dataclass
class FoundFile:
    """What a location's file says."""

    location: str
    state: str | None
    tail: bool
    after: Window | None
    before: Window | None
    confirmed: bool
    """Whether the STATE of the header is known written (else `before` may be the one)."""
    sent: list[Sent] = field(default_factory=list)
    bookmarks: dict[str, Any] = field(default_factory=dict)


def read_file(path: Path) -> FoundFile:
    """Parse a location's file."""
    lines = [line for line in map(_json_line, path.read_bytes().splitlines()) if line]
    if not lines or "version" not in lines[0]:
        raise JournalError(
            f"{path} is not a journal file of target-kibo-inventory: its first line names no "
            "format version. Move it out of the journal folder (after checking the location's "
            "stock, if a run of this target wrote it) and run again."
        )
    header, events = lines[0], lines[1:]
    for line in lines:
        check_version(path, line.get("version", header["version"]))
    sent: dict[str, Sent] = {}
    for event in events:
        _apply_event(sent, event)
    return FoundFile(
        location=header["location"],
        state=header.get("state"),
        tail=bool(header.get("tail")),
        after=Window.read(header.get("after")),
        before=Window.read(header.get("before")),
        confirmed=bool(events) or "before" not in header,
        sent=list(sent.values()),
        bookmarks=header.get("bookmarks") or {},
    )


def _apply_event(sent: dict[str, Sent], event: dict[str, Any]) -> None:
    """Fold one event into what the file's requests became."""
    kind, incident = event.get("event"), str(event.get("incident"))
    if kind == "sending":
        sent[incident] = Sent(
            incident,
            event["operation"],
            event["moves"],
            event["upto"],
            event["digest"],
            event.get("first"),
            int(event.get("items") or 0),
        )
        return
    request = sent.get(incident)
    if request is None:
        return
    if kind == "not_applied":
        request.outcome = "not_applied"
    elif kind == "accepted":
        request.job = event.get("job")
        request.outcome = "applied" if event.get("final", True) else "pending_job"
    elif kind == "job":
        applied = event.get("applied")
        request.outcome = (
            "applied" if applied is True else "not_applied" if applied is False else "failed"
        )


def _json_line(raw: bytes) -> dict[str, Any] | None:
    """A line of a journal file, or None (a line cut short by a crash: nothing relied on it)."""
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


def check_version(path: Path, version: Any) -> None:
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


def replace(path: Path, header: dict[str, Any]) -> None:
    """Write a file with one header line atomically: a temp file, fsync'd, renamed over it."""
    data = json.dumps({"version": VERSION, **header}).encode() + b"\n"
    files.replace(path, data, description=_description(header["location"]), setting="journal_path")


def append(path: Path, location: str, line: dict[str, Any], *, sync: bool = True) -> None:
    """Append an event line (fsync'd unless told)."""
    data = json.dumps({"version": VERSION, **line}).encode() + b"\n"
    files.append(
        path,
        data,
        description=_description(location),
        setting="journal_path",
        sync=sync,
        link=False,
    )


def make_folder(folder: Path) -> None:
    """The journal's folder (owner-only), made if need be."""
    files.make_folder(folder, description="the crash journal", setting="journal_path")


def _description(location: str) -> str:
    """What a location's journal file holds, as an error names it."""
    return f"the crash journal of location '{location}'"
