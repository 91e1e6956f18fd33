"""The rules of item fields: converting a record's value and checking it.

Messages quote the value safely (escaped, cut short). Each destination builds its fields from
these, its integers' range from `Integers` (its limits live in its module).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeGuard

from target_kibo_inventory.errors import RuleError

QUOTE_LIMIT = 500
"""Most characters of a value or a line that a message quotes."""
MAX_NUMBER_TEXT = 100
"""Longest numeric string read (digits, sign, point and exponent), after stripping spaces."""
MAX_EXPONENT = 1000
"""Largest exponent (either sign) of a numeric string, as in '1e1000'."""
SHORT_DIGITS = 9
"""Most digits of a numeric string read on the fast path (when 9 digits fit the range)."""
MAX_FLOAT = sys.float_info.max
"""Largest magnitude of ltd and retailPrice: JSON numbers are read as doubles."""
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE](?P<exponent>[+-]?[0-9]+))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:([,' \u00a0\u202f])[0-9]{3})(?:\1[0-9]{3})*(?:\.[0-9]+)?")
"""A number written with a thousands separator: '1,200', "1'200", '1 200', '12,345,678.5'."""


def quote(value: Any) -> str:
    """A value from the input as repr shows it (control characters escaped).

    It is cut after QUOTE_LIMIT characters, with a note of its full length.
    """
    if isinstance(value, str):
        return _cut(repr(value[:QUOTE_LIMIT]), len(value))
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
    return _cut(text, len(text))


def clip(name: object) -> str:
    """A name or text from the input, for a message: escaped and cut like `quote`."""
    text = str(name)
    shown = text[:QUOTE_LIMIT]
    if not shown.isprintable():
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)
    return _cut(shown, len(text))


def _cut(shown: str, length: int) -> str:
    """The shown start of a text of this length, cut after QUOTE_LIMIT characters."""
    if len(shown) <= QUOTE_LIMIT and length <= QUOTE_LIMIT:
        return shown
    return f"{shown[:QUOTE_LIMIT]}… ({length} characters)"


def _is_number(value: Any) -> TypeGuard[int | float | Decimal]:
    """Whether the value is a number (a bool is none)."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _parse(value: Any, noun: str) -> int | float | Decimal:
    """A JSON number, or a numeric string, as a number (not yet checked to be finite or in range).

    A numeric string has ASCII digits, at most MAX_NUMBER_TEXT characters and an exponent
    within MAX_EXPONENT.
    """
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            rule = f"of at most {MAX_NUMBER_TEXT} characters"
            raise RuleError(f"must be {noun} {rule}; got {quote(value)}")
        match = _NUMERIC.fullmatch(text)
        if match is None:
            raise RuleError(f"must be {noun}; got {quote(value)}{_separator_hint(text)}")
        exponent = match["exponent"]
        if exponent and abs(int(exponent)) > MAX_EXPONENT:
            rule = f"with an exponent within ±{MAX_EXPONENT}"
            raise RuleError(f"must be {noun} {rule}; got {quote(value)}")
        return Decimal(text)
    if not _is_number(value) or _is_nan(value):
        raise RuleError(f"must be {noun}; got {quote(value)}")
    return value


def _separator_hint(text: str) -> str:
    """A hint for a number written with a thousands separator, else nothing."""
    grouped = _GROUPED.fullmatch(text)
    if grouped is None:
        return ""
    plain = text.replace(grouped[1], "")
    return (
        f" ({grouped[1]!r} as a thousands separator? Numbers are read without one, as "
        f"{plain!r}: remove it in the source, or with a stream map)"
    )


def _is_nan(value: float | Decimal) -> bool:
    """Whether the number is NaN (an int never is)."""
    if isinstance(value, Decimal):
        return value.is_nan()
    return isinstance(value, float) and math.isnan(value)


@dataclass(frozen=True)
class Integers:
    """An API's integer fields: from `low` to `high`; `note` says why, after a broken rule."""

    low: int
    high: int
    note: str
    """E.g. ` (Kibo's integers are 32-bit)`."""

    def integer(self) -> IntegerRule:
        """Any integer of the range."""
        return self.at_least(self.low, self.note)

    def at_least(self, minimum: int, note: str = "") -> IntegerRule:
        """An integer from `minimum` (a count: 0); `note` says why, after a broken minimum."""
        return IntegerRule(minimum, self.high, note, self.note)


@dataclass(frozen=True)
class IntegerRule:
    """An integer from `minimum` to `high`; the notes say why, after a broken bound.

    From an int, an integral float or Decimal, or a numeric string like '101' or '101.0'.
    """

    minimum: int
    high: int
    low_note: str
    high_note: str

    @property
    def short_strings(self) -> bool:
        """Whether every string of at most SHORT_DIGITS digits is in range."""
        return self.minimum <= 0 and self.high >= 10**SHORT_DIGITS - 1

    def __call__(self, value: Any) -> int:
        """The value as such an integer, or RuleError."""
        if type(value) is int and self.minimum <= value <= self.high:
            return value
        if (
            self.short_strings
            and type(value) is str
            and len(value) <= SHORT_DIGITS
            and value.isascii()
            and value.isdigit()
        ):
            return int(value)
        return _integer_in(value, (self.minimum, self.low_note), (self.high, self.high_note))


def _integer_in(value: Any, low: tuple[int, str], high: tuple[int, str]) -> int:
    """An integer within the bounds (each with its note).

    Compared before converted, so '1e999' is quick.
    """
    number: int | float | Decimal
    if type(value) is str and len(value) <= SHORT_DIGITS and value.isascii() and value.isdigit():
        number = int(value)
    else:
        number = _parse(value, "an integer")
    if number < low[0]:
        raise RuleError(f"must be an integer ≥ {low[0]}{low[1]}; got {quote(value)}")
    if number > high[0]:
        raise RuleError(f"must be an integer ≤ {high[0]}{high[1]}; got {quote(value)}")
    integer = int(number)
    if integer != number:
        raise RuleError(f"must be an integer; got {quote(value)}")
    return integer


def to_number(value: Any) -> float | int:
    """A finite number a double can hold, from a JSON number or a numeric string."""
    number = _parse(value, "a number")
    if type(number) is int:
        finite = -MAX_FLOAT <= number <= MAX_FLOAT
    else:
        number = float(number)
        finite = math.isfinite(number)
    if not finite:
        raise RuleError(f"must be a finite number within ±{MAX_FLOAT}; got {quote(value)}")
    return number


def to_text(value: Any) -> str:
    """A non-empty string; numbers are turned into their decimal text."""
    if type(value) is str and value and not value.isspace():
        return value
    if _is_number(value):
        return _number_text(value)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"must be a non-empty string; got {quote(value)}")
    return value


def _number_text(value: int | float | Decimal) -> str:
    """A number's decimal text, integral ones without a fraction (12.0 → '12')."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite() or number.adjusted() >= MAX_NUMBER_TEXT:
        rule = f"must be a non-empty string, or a number of at most {MAX_NUMBER_TEXT} digits"
        raise RuleError(f"{rule}; got {quote(value)}")
    integral = number.to_integral_value()
    return str(int(integral)) if integral == number else str(value)


def text_of_at_most(value: Any, length: int) -> str:
    """A non-empty string of at most `length` characters."""
    text = to_text(value)
    if len(text) > length:
        raise RuleError(f"must be at most {length} characters; got {len(text)}")
    return text


def location(value: Any) -> str:
    """A location: it names requests in the log, so it holds no control characters."""
    if type(value) is str and value.isprintable() and value and not value.isspace():
        return value
    text = to_text(value)
    if _CONTROL.search(text):
        raise RuleError(f"must not contain control characters; got {quote(value)}")
    return text


def strings(value: Any, most: int, noun: str = "strings") -> list[str]:
    """A list of at most `most` strings."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"must be a list of strings; got {quote(value)}")
    if len(value) > most:
        raise RuleError(f"must hold at most {most} {noun}; got {len(value)}")
    return list(value)


DATE_TIME_EXAMPLE = "2020-09-28T12:00:00-0500"
"""The form Kibo's OpenAPI spec gives for its date-time fields (deliveryDate, date)."""
MAX_OFFSET_HOURS = 23
MAX_OFFSET_MINUTES = 59
_DATE_TIME = re.compile(
    r"(?P<local>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?"
    r"(?P<offset>Z|[+-](?P<hours>[0-9]{2}):?(?P<minutes>[0-9]{2}))?"
)


def date_time(value: Any) -> str:
    """An ISO 8601 date-time with a UTC offset (`Z`, `±hh:mm` or `±hhmm`).

    A string, e.g. Kibo's '2020-09-28T12:00:00-0500', is sent as written (surrounding spaces
    dropped); a date-time object with a time zone is written in ISO 8601.
    """
    rule = f"must be a date-time with a UTC offset (ISO 8601, e.g. {DATE_TIME_EXAMPLE})"
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise RuleError(f"{rule}; got {quote(value)}, which has no offset")
        return value.isoformat()
    match = _DATE_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise RuleError(f"{rule}; got {quote(value)}")
    if match["offset"] is None:
        raise RuleError(f"{rule}; got {quote(value)}, which has no offset (add Z or ±hh:mm)")
    try:
        datetime.fromisoformat(match["local"])
    except ValueError:
        raise RuleError(f"{rule}; got {quote(value)}, which is no such date or time") from None
    hours, minutes = match["hours"], match["minutes"]
    if hours is not None and (int(hours) > MAX_OFFSET_HOURS or int(minutes) > MAX_OFFSET_MINUTES):
        raise RuleError(f"{rule}; got {quote(value)}, whose offset is out of range")
    return match.string


def string_map(value: Any, noun: str = "strings") -> dict[str, str]:
    """A JSON object whose values are strings (Kibo's `tags`: tag category name → tag name)."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RuleError(f"must be an object of {noun}; got {quote(value)}")
    return dict(value)
