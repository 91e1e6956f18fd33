"""The target's own files: created owner-only, written whole, failures as one clear error.

Every file the target writes (dead letters, the job log, the crash journal, a dry run's files)
holds business data, so a file it creates is readable and writable by its owner only (0600, a
folder 0700); a file that exists already keeps its mode. Each write is a loop of `os.write` on
an unbuffered descriptor, so a failed write leaves nothing buffered that a later close would
fail on again, and an `OSError` (a full disk, a read-only file system) becomes one
`FileWriteError` naming the file, what was written and the system's words. A leaf module: it
imports nothing of the package.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

OWNER_ONLY = 0o600
"""The mode of a file the target creates (before the umask, which can only narrow it)."""
FOLDER_OWNER_ONLY = 0o700
"""The mode of a folder the target creates."""
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FileWriteError(RuntimeError):
    """A file of the target could not be created or written."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""

    def __init__(self, path: str | Path, description: str, setting: str, error: OSError) -> None:
        self.errno = error.errno
        reason = error.strerror or str(error)
        if error.errno in (errno.EEXIST, errno.ELOOP):
            reason += " (a file or link was already there: nothing was written through it)"
        super().__init__(
            f"Could not write {description} to '{path}': {reason} [Errno {error.errno}]. The run "
            f"stopped; make room there or fix the file (or change {setting}) and run again."
        )


@contextlib.contextmanager
def writing(path: str | Path, description: str, setting: str) -> Iterator[None]:
    """Turn an OSError in the block into a FileWriteError naming the file and what it holds."""
    try:
        yield
    except FileWriteError:
        raise
    except OSError as error:
        raise FileWriteError(path, description, setting, error) from None


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte (a regular file may take fewer bytes at a time only on an error)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append(
    path: Path,
    data: bytes,
    *,
    description: str,
    setting: str,
    sync: bool = False,
    link: bool = True,
) -> None:
    """Append to a file (created owner-only), and fsync it when asked.

    `link`: the file may be a link, followed; if not, a link there is refused.
    """
    with writing(path, description, setting):
        fd = os.open(path, _APPEND if link else _APPEND | os.O_NOFOLLOW, OWNER_ONLY)
        try:
            _write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)


def replace(path: Path, data: bytes, *, description: str, setting: str) -> None:
    """Replace a file atomically: a temp file beside it (owner-only), fsync'd, renamed over it.

    The temp file is opened without following a link; it is removed when the write fails.
    """
    temp = path.with_suffix(".tmp")
    with writing(path, description, setting):
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, OWNER_ONLY)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        finally:
            os.close(fd)
        os.replace(temp, path)


def create(path: Path, data: bytes, *, description: str, setting: str) -> None:
    """Create a new file (owner-only) and write it: never through a link, never over a file.

    When the write fails, the file (this call's own) is removed.
    """
    with writing(path, description, setting):
        fd = os.open(path, _NEW, OWNER_ONLY)
        try:
            _write_all(fd, data)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        finally:
            os.close(fd)


def make_folder(path: Path, *, description: str, setting: str) -> None:
    """Create a folder (owner-only) and its parents, unless it exists."""
    with writing(path, description, setting):
        path.mkdir(FOLDER_OWNER_ONLY, parents=True, exist_ok=True)


class AppendFile:
    """A file that lines are appended to during a run, opened at the first line; thread-safe.

    `new`: the file is created by this run, never opened through a link or over a file
    (a dry run's files); `before_create` is called just before it is created.
    """

    def __init__(
        self,
        path: Path,
        description: str,
        setting: str,
        *,
        new: bool = False,
        before_create: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.description = description
        self.setting = setting
        self._flags = _NEW | os.O_APPEND if new else _APPEND
        self._before_create = before_create
        self._fd: int | None = None
        self._lock = threading.Lock()

    def write(self, text: str, description: str | None = None) -> None:
        """Append the text; `description` says what it is, for the error should it fail."""
        data = text.encode()
        with self._lock, writing(self.path, description or self.description, self.setting):
            if self._fd is None:
                if self._before_create is not None:
                    self._before_create()
                self._fd = os.open(self.path, self._flags, OWNER_ONLY)
            _write_all(self._fd, data)

    def close(self) -> None:
        """Close the file (nothing is buffered: every line was written already)."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


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
        return _folder_problem(path.parent)
    except OSError as error:
        return f"cannot be checked ({error.strerror})"


def _folder_problem(folder: Path) -> str | None:
    """Why a new file cannot be created in this folder, or None."""
    if not folder.exists():
        return f"is in a directory that does not exist ({str(folder)!r})"
    if not folder.is_dir():
        return f"is in {str(folder)!r}, which is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"is in {str(folder)!r}, which is not writable"
    return None
