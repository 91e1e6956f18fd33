"""Unit tests of the API plumbing: request bodies, reading job IDs, retry waits."""

from __future__ import annotations

import json
from email.utils import formatdate
from time import time

import pytest

from target_kibo_inventory.client import TransientError, parse_retry_after, retry_waits
from target_kibo_inventory.destinations.kibo import KiboTranslationApi, MissingJobIdError


def test_urls_per_package():
    specific = KiboTranslationApi("https://t-translation.mozu.com", "inventory_specific")
    v5 = KiboTranslationApi("https://t-translation.mozu.com", "inventory_v5")
    assert specific.url("refresh") == "https://t-translation.mozu.com/inv/api/v5/inventory/refresh/"
    assert specific.url("adjust") == "https://t-translation.mozu.com/inv/api/v5/inventory/adjust/"
    assert v5.url("refresh") == "https://t-translation.mozu.com/api/v5/inventory/refresh"
    assert v5.url("adjust") == "https://t-translation.mozu.com/api/v5/inventory/adjust"


def test_body_is_joined_from_serialized_items():
    body = KiboTranslationApi.body(
        'Store "1"', [b'{"sku":"A","quantity":1},', b'{"sku":"B","quantity":2}']
    )
    assert json.loads(body) == {
        "locationName": 'Store "1"',
        "items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}],
    }


@pytest.mark.parametrize(
    ("content", "job_id"),
    [
        (b'{"jobID": 76543210}', 76543210),
        (b'{"jobID": "01234567"}', "01234567"),
        (b'{ "jobID": 01234567 }', "01234567"),  # the guide's own example, not valid JSON
    ],
)
def test_job_id_is_read_as_given(content, job_id):
    assert KiboTranslationApi.job_id(content) == job_id


@pytest.mark.parametrize("content", [b"{}", b'{"jobID": null}', b'{"jobID": true}', b"[]", b"ok"])
def test_answers_without_job_id_are_refused(content):
    with pytest.raises(MissingJobIdError):
        KiboTranslationApi.job_id(content)


def test_retry_waits_grow_with_jitter_and_honour_retry_after():
    waits = retry_waits(base=1.0, cap=8.0)
    next(waits)
    plain = [waits.send(TransientError("503")) for _ in range(6)]
    assert all(0 <= w <= cap for w, cap in zip(plain, [1, 2, 4, 8, 8, 8], strict=True))
    assert waits.send(TransientError("429", retry_after=3.0)) == 3.0
    assert waits.send(TransientError("429", retry_after=100.0)) == 100.0  # as the API asks


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 25 <= parse_retry_after(formatdate(time() + 30, usegmt=True)) <= 30
