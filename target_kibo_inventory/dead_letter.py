"""Bad records: stop the run at the first one, or set each aside in a dead-letter file."""

from __future__ import annotations

import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from target_kibo_inventory.destinations.base import FailedItem
from target_kibo_inventory.mapping import InvalidRecordError, SchemaMappingError
from target_kibo_inventory.reader import InputLineError
from target_kibo_inventory.rules import clip

SHOWN_FAILURES = 20
"""Most failed items an error names (with the count of all)."""


class ItemsFailedError(RuntimeError):
    """The destination accepted a request but refused some of its items."""


EXPLAINED = (InvalidRecordError, InputLineError, ItemsFailedError, SchemaMappingError)
"""Errors whose message says all: the run's error line is that message, with no traceback."""


def without_traceback(record: logging.LogRecord) -> bool:
    """A logging filter: an explained error is logged as its message alone, once.

    The SDK's CLI logs an uncaught error with its traceback, which ends with the message
    again; for an invalid record or input line the traceback tells a user nothing more.
    """
    if record.exc_info and isinstance(record.exc_info[1], EXPLAINED):
        record.error_type = type(record.exc_info[1]).__name__
        record.exc_info = None
        record.exc_text = None
    return True


def append_problem(name: str) -> str | None:
    """Why this file could not be opened for appending, or None; creates nothing."""
    if not name:
        return "is empty"
    path = Path(name)
    try:
        if path.is_dir():
            return "is a directory"
        if path.exists():
            return None if os.access(path, os.W_OK) else "is not writable"
        folder = path.parent
        if not folder.exists():
            return f"is in a directory that does not exist ({str(folder)!r})"
        if not folder.is_dir():
            return f"is in {str(folder)!r}, which is not a directory"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"is in {str(folder)!r}, which is not writable"
    except OSError as error:
        return f"cannot be checked ({error.strerror})"
    return None


class DeadLetters:
    """Where invalid records go: `fail` raises the error, `dead_letter` appends a JSON line."""

    def __init__(self, policy: str, path: str, logger: logging.Logger) -> None:
        self.policy = policy
        self.path = Path(path)
        self.logger = logger
        logger.addFilter(without_traceback)
        self.count = 0
        self._file: Any = None
        self._lock = threading.Lock()

    def handle(self, error: InvalidRecordError, record: Any) -> None:
        """Raise the error (`fail`), or write the record and the reason to the file."""
        if self.policy == "fail":
            raise error
        line = {
            "stream": error.stream,
            "position": error.position,
            "identifier": error.identifier,
            "field": error.field,
            "reason": str(error),
            "record": record,
        }
        self._write([line])
        if self.count == 1:
            self.logger.warning("Invalid records are set aside in %s: %s", self.path, error)

    def failed_items(
        self, destination: str, location: str, stream: str, failed: list[FailedItem]
    ) -> None:
        """Items a destination refused in an accepted request: raise ItemsFailedError
        (`fail`), or write each with its location and the reason."""
        if self.policy == "fail":
            shown = ", ".join(clip(f.identifier) for f in failed[:SHOWN_FAILURES])
            more = (
                f" (and {len(failed) - SHOWN_FAILURES} more)"
                if len(failed) > SHOWN_FAILURES
                else ""
            )
            raise ItemsFailedError(
                f"{destination} refused {len(failed)} item(s) at location '{clip(location)}' "
                f"(stream {clip(stream)}): {shown}{more}; {failed[0].reason}. The other items "
                "of the request were applied. Set on_invalid_record: dead_letter to set refused "
                "items aside and go on."
            )
        lines = [
            {
                "stream": stream,
                "destination": destination,
                "location": location,
                "identifier": f.identifier,
                "reason": f.reason,
                "item": f.item,
            }
            for f in failed
        ]
        self._write(lines)
        self.logger.warning(
            "%s refused %d item(s) at location '%s': set aside in %s.",
            destination,
            len(failed),
            clip(location),
            self.path,
        )

    def _write(self, lines: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc).isoformat()
        text = "".join(_to_json({**line, "set_aside_at": now}) + "\n" for line in lines)
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(text)
            self._file.flush()
            self.count += len(lines)

    def summary(self) -> dict[str, Any] | None:
        """What was set aside in this run, for the state; None when nothing was."""
        if not self.count:
            return None
        return {"path": str(self.path), "records": self.count}

    def close(self) -> None:
        """Close the file and warn with the count of records set aside."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        if self.count:
            self.logger.warning(
                "%d invalid record(s) were set aside in %s (on_invalid_record: dead_letter); "
                "every other record was loaded.",
                self.count,
                self.path,
            )


def _to_json(line: dict[str, Any]) -> str:
    """The line as JSON; a record nested nearly as deep as the reader allows is encoded in a
    fresh thread, whose call stack is empty."""
    try:
        return json.dumps(line, default=str)
    except RecursionError:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(json.dumps, line, default=str).result()
