"""Unit tests of the HTTP client: retry waits and Retry-After; a GET of the job queue."""

from __future__ import annotations

import logging
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import time

from target_kibo_inventory.client import (
    HttpClient,
    TransientError,
    parse_retry_after,
    retry_wait,
)
from target_kibo_inventory.destinations.kibo import KiboTranslated
from target_kibo_inventory.settings import CONFIG_SCHEMA, Settings


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


def test_a_get_of_the_job_queue_takes_the_retry_rules_and_the_auth():
    """503 then 429 then the job: retried, each retry counted; the key is sent each time."""
    answers = [(503, b"{}"), (429, b"{}"), (200, b'{"jobID": 7, "status": "SUCCESS"}')]
    seen: list[tuple[str, str | None]] = []

    class Queue(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            status, body = answers.pop(0)
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Queue)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = {
            **{k: v["default"] for k, v in CONFIG_SCHEMA["properties"].items() if "default" in v},
            "tenant_id": "t",
            "api_key": "key-0123456789",
            "base_url": f"http://127.0.0.1:{server.server_port}",
        }
        destination = KiboTranslated(Settings.from_config(config))
        retries: list[int] = []
        client = HttpClient(
            destination,
            logging.getLogger("test-client"),
            timeout=5,
            max_retries=3,
            max_retry_seconds=30,
            on_retry=lambda: retries.append(1),
        )
        [job] = destination.read_jobs(client.get(destination.job_url(7), "the status of job 7"))
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert (job.job_id, job.status) == (7, "SUCCESS")
    assert seen == [("/inv/api/v1/queue/7", "Bearer key-0123456789")] * 3
    assert len(retries) == 2
