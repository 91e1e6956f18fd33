"""Exception classes that any module may raise, imported by all and importing nothing."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting, or a combination of settings, is not usable."""


class StreamOperationError(SettingsError):
    """A stream arrived that `stream_operations`, which names the run's streams, does not name."""

    explained = True
    """Its message says all (dead_letter.without_traceback)."""


class RuleError(ValueError):
    """A value breaks a rule of its field; the message states the rule."""


class AnswerError(ValueError):
    """A 2xx answer that cannot be read (no job ID, not JSON, ...)."""
