"""Unit tests of the HTTP client: retry waits and Retry-After."""

from __future__ import annotations

from email.utils import formatdate
from time import time

from target_kibo_inventory.client import TransientError, parse_retry_after, retry_wait


def test_retry_waits_grow_with_jitter_and_honour_retry_after():
    plain = [retry_wait(tries, TransientError("503"), base=1.0, cap=8.0) for tries in range(1, 7)]
    assert all(0 <= w <= cap for w, cap in zip(plain, [1, 2, 4, 8, 8, 8], strict=True))
    assert retry_wait(1, TransientError("429", retry_after=3.0)) == 3.0
    assert retry_wait(5, TransientError("429", retry_after=100.0)) == 100.0  # as the API asks


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 25 <= parse_retry_after(formatdate(time() + 30, usegmt=True)) <= 30
