"""A dry run: every request that would be sent is written as a JSON file instead.

Each file holds the method, URL and body of one request (and its operation, location, item
count and stream), never a header: no credential is ever written. Files are numbered in the
order the requests would have been sent (across locations, in the order they were ready).

The folder's manifest, `dry-run-files.jsonl`, names each file a dry run creates there, before
it is created; so the next dry run removes exactly those and refuses a folder holding anything
else. Files are created owner-only, never through a link and never over an existing file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_kibo_inventory import files
from target_kibo_inventory.rules import clip

if TYPE_CHECKING:
    import logging

    from target_kibo_inventory.batching import Request
    from target_kibo_inventory.destinations.base import HttpRequest

SUMMARY_FILE = "summary.json"
DEAD_LETTER_FILE = "dead-letter.jsonl"
MANIFEST_FILE = "dry-run-files.jsonl"
MANIFEST_HEADER = {"written_by": "target-kibo-inventory", "what": "dry run files", "version": 1}
"""The manifest's first line: the folder was written by a dry run of this target."""
OWN_NAMES = re.compile(r"request-\d{5,}\.json|summary\.json|dead-letter\.jsonl")
"""The names a dry run gives its files: only such names listed in the manifest are removed."""
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
SETTING = "dry_run_dir"
SHOWN_NAMES = 10


class DryRunFolderError(RuntimeError):
    """The dry run's folder holds files that no earlier dry run of this target wrote there."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


class DryRun:
    """Writes the planned requests to `folder`; those of an earlier dry run are removed first."""

    def __init__(self, folder: str, logger: logging.Logger) -> None:
        self.folder = Path(folder)
        self.logger = logger
        self.written = 0
        self.prepared = False
        """Whether the folder is this run's (its manifest started): only then is it written."""
        self._lock = threading.Lock()

    @property
    def dead_letter_path(self) -> str:
        """Where a dry run sets invalid records aside (not the real dead-letter file)."""
        return str(self.folder / DEAD_LETTER_FILE)

    def dead_letter_file(self) -> files.AppendFile:
        """The dead-letter file of a dry run: a new file of the folder, named in the manifest."""
        return files.AppendFile(
            self.folder / DEAD_LETTER_FILE,
            "the dry run's dead-letter file",
            SETTING,
            new=True,
            before_create=lambda: self._register(DEAD_LETTER_FILE),
        )

    def prepare(self) -> None:
        """Create the folder, remove what an earlier dry run wrote there, start the manifest.

        Raises DryRunFolderError, removing nothing, when the folder holds anything else.
        """
        files.make_folder(self.folder, description="the dry run's folder", setting=SETTING)
        with files.writing(self.folder, "the dry run's files", SETTING):
            removed = self._remove_earlier()
        header = json.dumps(MANIFEST_HEADER) + "\n"
        files.create(
            self.folder / MANIFEST_FILE,
            header.encode(),
            description="the dry run's manifest",
            setting=SETTING,
        )
        self.prepared = True
        if removed:
            self.logger.info(
                "Dry run: removed %d file(s) of an earlier dry run (named in its %s).",
                removed,
                MANIFEST_FILE,
            )
        self.logger.warning(
            "Dry run: nothing is sent and no STATE is written; the requests that would be sent "
            "are written to %s.",
            self.folder,
        )

    def _remove_earlier(self) -> int:
        """Remove the files an earlier dry run named in its manifest; how many."""
        entries = sorted(os.listdir(self.folder))
        if not entries:
            return 0
        listed = self._listed() if MANIFEST_FILE in entries else None
        unknown = [name for name in entries if listed is None or name not in listed]
        if unknown:
            raise DryRunFolderError(self._refusal(unknown))
        for name in entries:
            (self.folder / name).unlink(missing_ok=True)
        return len(entries) - 1

    def _listed(self) -> set[str] | None:
        """The manifest and the files it lists, or None when it is none of this target's.

        None when the manifest is no regular file (a link, say) or another program's.
        """
        path = self.folder / MANIFEST_FILE
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MANIFEST_MAX_BYTES:
            return None
        lines = path.read_bytes().splitlines()
        if not lines or _json(lines[0]) != MANIFEST_HEADER:
            return None
        names = {str(line.get("file")) for line in map(_json, lines[1:]) if isinstance(line, dict)}
        return {MANIFEST_FILE} | {name for name in names if OWN_NAMES.fullmatch(name)}

    def _refusal(self, names: list[str]) -> str:
        shown = ", ".join(clip(name) for name in names[:SHOWN_NAMES])
        more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
        return (
            f"Setting 'dry_run_dir' ({str(self.folder)!r}) holds {len(names)} file(s) that no "
            f"dry run of target-kibo-inventory wrote there ({shown}{more}). A dry run writes "
            f"into an empty folder (or a new one) and later removes only the files its "
            f"{MANIFEST_FILE} names; it removes nothing here. Set dry_run_dir to an empty or "
            "new folder and run again."
        )

    def _register(self, name: str) -> None:
        """Name a file in the manifest, before it is created."""
        files.append(
            self.folder / MANIFEST_FILE,
            (json.dumps({"file": name}) + "\n").encode(),
            description="the dry run's manifest",
            setting=SETTING,
            link=False,
        )

    def write(self, request: Request, http: HttpRequest) -> Path:
        """Write one request that would be sent."""
        with self._lock:
            self.written += 1
            number = self.written
        name = f"request-{number:05d}.json"
        content = {
            "method": http.method,
            "url": http.url,
            "operation": request.operation,
            "location": request.location,
            "items": request.count,
            "stream": request.stream_label,
            "body": json.loads(http.body),
        }
        self._create(name, json.dumps(content, separators=(",", ":")), f"request {number}")
        return self.folder / name

    def write_summary(self, summary: dict[str, Any]) -> None:
        """The plan in numbers, beside the request files (once the folder was prepared)."""
        if self.prepared:
            self._create(SUMMARY_FILE, json.dumps(summary, indent=1, default=str), "the summary")

    def _create(self, name: str, text: str, description: str) -> None:
        self._register(name)
        files.create(
            self.folder / name,
            (text + "\n").encode(),
            description=f"the dry run's {description}",
            setting=SETTING,
        )


def _json(raw: bytes) -> Any:
    """A manifest line, or None when it is no JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None
