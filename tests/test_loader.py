"""Unit tests of the loader, in process, against a small HTTP server on 127.0.0.1: whether a
request that may have been applied is sent again is the loader's decision (refresh: always;
adjust: only with adjust_retry_ambiguous), and the client carries it out."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from target_kibo_inventory.client import AmbiguousRequestError, HttpClient
from target_kibo_inventory.dead_letter import DeadLetters
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.destinations.registry import config_schema, read_settings
from target_kibo_inventory.journal import Journal
from target_kibo_inventory.loader import InventoryLoader, LoaderOptions
from tests.test_client import JOB, _Seen, _serving

LOGGER = logging.getLogger("test-loader")


def _loader(url: str, tmp_path: Path, *, resend_ambiguous_adjusts: bool) -> InventoryLoader:
    config = {
        **{k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v},
        "tenant_id": "t",
        "api_key": "key-0123456789",
        "auth_method": "bearer_api_key",  # the key itself: these tests are about the loader
        "base_url": url,
    }
    destination = KiboTranslated(read_settings(config))
    client = HttpClient(destination, LOGGER, timeout=5, max_retries=2, max_retry_seconds=30)
    options = LoaderOptions(
        max_buffered_items=100,
        max_parallel_requests=2,
        resend_ambiguous_adjusts=resend_ambiguous_adjusts,
    )
    return InventoryLoader(
        destination,
        client,
        Journal(None, resend_ambiguous_adjusts),
        LOGGER,
        options,
        stopping=threading.Event(),
        dead_letters=DeadLetters("fail", str(tmp_path / "dead.jsonl"), LOGGER),
    )


def _first_fails(status: int):
    """Answers `status` to the first request, then a job to each."""
    answered: list[int] = []

    def answer(seen: _Seen) -> tuple[int, bytes]:
        answered.append(1)
        return (status, b'{"message": "internal error"}') if len(answered) == 1 else JOB

    return answer


@pytest.mark.parametrize(
    ("operation", "resend_ambiguous_adjusts", "sent_again"),
    [
        ("refresh", False, True),  # absolute counts: sending them twice changes nothing
        ("adjust", False, False),  # a delta sent twice is counted twice
        ("adjust", True, True),  # adjust_retry_ambiguous: at-least-once
    ],
)
def test_the_loader_decides_whether_a_maybe_applied_request_is_sent_again(
    tmp_path: Path, operation: str, resend_ambiguous_adjusts: bool, sent_again: bool
):
    """A 500 may hide an applied request."""
    with _serving(_first_fails(500)) as server:
        loader = _loader(server.url, tmp_path, resend_ambiguous_adjusts=resend_ambiguous_adjusts)
        loader.add(operation, "L1", {"upc": "A-1", "quantity": 2}, "stock")
        try:
            if sent_again:
                loader.flush()
            else:
                with pytest.raises(AmbiguousRequestError, match="adjust_retry_ambiguous: true"):
                    loader.flush()
        finally:
            loader.close()
    assert len(server.seen) == (2 if sent_again else 1)
    assert {seen.path for seen in server.seen} == {f"/inv/api/v5/inventory/{operation}/"}
    assert len(loader.jobs.ledger) == (1 if sent_again else 0)


def test_an_adjust_surely_not_applied_is_sent_again(tmp_path: Path):
    """A 503 says the request was not applied: even an adjust is sent again."""
    with _serving(_first_fails(503)) as server:
        loader = _loader(server.url, tmp_path, resend_ambiguous_adjusts=False)
        loader.add("adjust", "L1", {"upc": "A-1", "quantity": 2}, "stock")
        loader.flush()
        loader.close()
    assert len(server.seen) == 2
    assert loader.jobs.ledger.pop_unreported()["jobs"][0]["jobID"] == 1
