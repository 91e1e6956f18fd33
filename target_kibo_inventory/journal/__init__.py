"""The crash journal and the movements at bookmarks: never apply a movement twice.

`core` (the journal of a run), `replay` (what an interrupted run applied, pure),
`bookmarks` (movements at each stream's bookmark value, pure) and `files` (format, lock).
"""

from target_kibo_inventory.journal.bookmarks import (
    STATE_KEY,
    BookmarkMovements,
    TooManyAtBookmarkError,
)
from target_kibo_inventory.journal.core import RESOLUTIONS, Journal
from target_kibo_inventory.journal.fileformat import VERSION, AmbiguousResumeError, JournalError

__all__ = [
    "RESOLUTIONS",
    "STATE_KEY",
    "VERSION",
    "AmbiguousResumeError",
    "BookmarkMovements",
    "Journal",
    "JournalError",
    "TooManyAtBookmarkError",
]
