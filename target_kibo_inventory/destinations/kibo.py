"""Kibo's Inventory Refresh and Adjust over the translation (OMS-compatible) API."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

PATHS = {
    "inventory_specific": {
        "refresh": "/inv/api/v5/inventory/refresh/",
        "adjust": "/inv/api/v5/inventory/adjust/",
    },
    "inventory_v5": {
        "refresh": "/api/v5/inventory/refresh",
        "adjust": "/api/v5/inventory/adjust",
    },
}

_JOB_ID = re.compile(rb'"jobID"\s*:\s*"?(\d+)"?')


class MissingJobIdError(ValueError):
    """A 2xx answer that carries no jobID."""


class KiboTranslationApi:
    """Where refresh and adjust requests go, what their body is, and how the answer reads."""

    def __init__(self, base_url: str, api_package: str) -> None:
        self.urls = {op: base_url + path for op, path in PATHS[api_package].items()}

    def url(self, operation: str) -> str:
        """The URL of this operation's endpoint."""
        return self.urls[operation]

    @staticmethod
    def body(location: str, items: Sequence[bytes | bytearray]) -> bytes:
        """The JSON request body around items serialized once on arrival (comma-separated
        parts), built with one copy."""
        head = b'{"locationName":' + json.dumps(location).encode() + b',"items":['
        return b"".join((head, *items, b"]}"))

    @staticmethod
    def job_id(content: bytes) -> int | str:
        """The answer's jobID: an integer, or a string of digits kept as given.

        Kibo's own example answers `{"jobID": 01234567}`, which is not valid JSON; such an
        answer is read with a pattern and the digits are kept as given.
        """
        try:
            answer = json.loads(content)
        except ValueError:
            match = _JOB_ID.search(content)
            if match:
                return match.group(1).decode()
            raise MissingJobIdError("the answer is not JSON") from None
        job_id = answer.get("jobID") if isinstance(answer, dict) else None
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            return job_id
        if isinstance(job_id, str) and job_id.isdigit():
            return job_id
        raise MissingJobIdError("the answer has no jobID")
