"""Delta feeds: what a stream's SCHEMA says about a tap sending movements again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_kibo_inventory.rules import clip

if TYPE_CHECKING:
    from collections.abc import Sequence

FILE_BOOKMARKS = ("_sdc_last_modified",)
"""Bookmarks that are a file's modification time (tap-spreadsheets): a changed file is sent
again whole."""


def resend_warning(stream: str, bookmark_properties: Sequence[str]) -> str | None:
    """A warning for a stream sent as adjust whose tap sends a whole file again when it changes.

    None when its bookmark (the SCHEMA's `bookmark_properties`) is not a file's modification
    time.
    """
    keys = [key for key in bookmark_properties if key in FILE_BOOKMARKS]
    if not keys:
        return None
    return (
        f"Stream '{clip(stream)}' is sent as adjust (signed deltas) and its tap bookmarks a "
        f"file's modification time ({keys[0]}): when a file the tap read before changes (a "
        "line appended), the tap sends the whole file again and every movement in it is "
        "applied again. Write each batch of movements to a new file that never changes, read "
        'with a glob, or read them from a table with an incremental key (README, "Delta '
        'feeds").'
    )
