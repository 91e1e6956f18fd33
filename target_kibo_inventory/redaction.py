"""Secrets out of everything the target prints: one log filter on every handler.

The filter masks each configured secret (every setting the schema marks secret, whatever its
JSON type) and bearer or access tokens, in the message and in the traceback of each log line,
so in the SDK's config errors, in the error that ends the run and in DEBUG lines alike.
`redact` is the same masking, for text that is cut short before it is logged.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "***"
TOKENS = re.compile(r"""(?i)(\bbearer\s+|["']?access_token["']?\s*[:=]\s*["']?)[\w.~+/=-]{16,}""")
"""A bearer token or an OAuth2 access_token value (16 characters or more), e.g. one a server
echoes from the Authorization header: masked though the target never saw it configured."""
WHOLE_WORD_BELOW = 4
"""A secret form shorter than this (no real credential is) is masked only where it stands as
a whole word: masking every `k` of every line would garble the logs and hide nothing, as the
masked places would spell the secret out. Longer ones are masked wherever they stand."""


class SecretFilter(logging.Filter):
    """Masks the secrets in each log record; never drops one."""

    def __init__(self) -> None:
        super().__init__()
        self._values: list[Any] = []
        self._secrets: re.Pattern[str] | None = None

    def set_secrets(self, values: Iterable[Any]) -> None:
        """Mask these values from now on (and only these, with the token patterns).

        Every occurrence is masked, whatever stands around it (`authPassword_IncPw456`), the
        longest form first; a form shorter than WHOLE_WORD_BELOW only as a whole word.
        """
        self._values = list(values)
        forms = sorted({form for v in self._values for form in _forms(v)}, key=len, reverse=True)
        words = "|".join(
            re.escape(form) if len(form) >= WHOLE_WORD_BELOW else rf"(?<!\w){re.escape(form)}(?!\w)"
            for form in forms
        )
        self._secrets = re.compile(words) if forms else None

    def add(self, value: str) -> None:
        """Mask this value too from now on (an access token the target was given)."""
        if value not in self._values:
            self.set_secrets([*self._values, value])

    def redact(self, text: str) -> str:
        """The text with every secret replaced by ***."""
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        return TOKENS.sub(rf"\g<1>{MASK}", text)

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the message and the traceback; records without secrets are left as they are."""
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the formatter's to report
            return True
        if (masked := self.redact(message)) != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            if (masked := self.redact(text)) != text:
                record.exc_info, record.exc_text = None, masked
        return True


FILTER = SecretFilter()


def install(secrets: Iterable[Any]) -> None:
    """Mask these secrets in every line logged from now on, by every handler set up so far."""
    FILTER.set_secrets(secrets)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            handler.addFilter(FILTER)


def add_secret(value: str) -> None:
    """Mask this value too in every line logged from now on."""
    FILTER.add(value)


def redact(text: str) -> str:
    """The text with every secret installed and every token replaced by ***."""
    return FILTER.redact(text)


def _forms(value: Any) -> set[str]:
    """The ways a secret value may be printed.

    As is, in JSON, URL-encoded, in Python repr, and each text or number inside a list or
    object (a secret setting of the wrong type).
    """
    if value is None or isinstance(value, bool):
        return set()
    if isinstance(value, str):
        forms = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
        return {form for form in forms if form}
    forms = {json.dumps(value, default=str), repr(value), str(value)}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        forms |= {form for item in value for form in _forms(item)}
    return forms
