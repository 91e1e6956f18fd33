"""A location's lock: two runs never load one location (runs of disjoint locations may share)."""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

from target_kibo_inventory import files
from target_kibo_inventory.journal.fileformat import JournalError

if TYPE_CHECKING:
    from pathlib import Path


def lock(path: Path, location: str) -> int:
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


def unlock(path: Path, fd: int) -> None:
    """Remove the lock file while holding the lock, then release it."""
    path.unlink(missing_ok=True)
    os.close(fd)
