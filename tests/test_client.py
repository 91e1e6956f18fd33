"""Unit tests of the HTTP client: retry waits and Retry-After; a GET of the job queue; which
failures are retried and which may be applied (late); token renewal by threads at once; the
token request through the client's session."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from target_kibo_inventory.client import (
    AmbiguousRequestError,
    ApiError,
    AuthError,
    HttpClient,
    StoppedError,
    TransientError,
    parse_retry_after,
    retry_wait,
)
from target_kibo_inventory.destinations.base import HttpRequest
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.destinations.registry import config_schema, read_settings


def test_retry_waits_grow_with_jitter_and_honour_retry_after():
    plain = [retry_wait(tries, TransientError("503"), base=1.0, cap=8.0) for tries in range(1, 7)]
    assert all(0 <= w <= cap for w, cap in zip(plain, [1, 2, 4, 8, 8, 8], strict=True))
    assert retry_wait(1, TransientError("429", retry_after=3.0)) == 3.0
    assert retry_wait(5, TransientError("429", retry_after=100.0)) == 100.0  # as the API asks


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 25 <= parse_retry_after(formatdate(time.time() + 30, usegmt=True)) <= 30


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
            **{k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v},
            "tenant_id": "t",
            "api_key": "key-0123456789",
            "auth_method": "bearer_api_key",
            "base_url": f"http://127.0.0.1:{server.server_port}",
        }
        destination = KiboTranslated(read_settings(config))
        retries: list[int] = []
        client = HttpClient(
            destination,
            logging.getLogger("test-client"),
            timeout=5,
            max_retries=3,
            max_retry_seconds=30,
            on_retry=lambda: retries.append(1),
        )
        queue = destination.job_queue
        [job] = queue.read_jobs(client.get(queue.job_url(7), "the status of job 7"))
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert (job.job_id, job.status) == (7, "SUCCESS")
    assert seen == [("/inv/api/v1/queue/7", "Bearer key-0123456789")] * 3
    assert len(retries) == 2


# In-process tests against a small HTTP server on 127.0.0.1 (real HTTP; `requests` unpatched)

DROP = "drop"
"""An answer that closes the connection after reading the request, without answering."""
BROKEN = "broken"
"""An answer that breaks off: 200 and a Content-Length, then part of the body and a close."""


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to the test server's `answer`; HTTP/1.1, so connections stay open."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = _Seen(self.command, self.path, dict(self.headers), body, self.client_address[1])
        with self.server.lock:
            self.server.seen.append(seen)
        answer = self.server.answer(seen)
        if answer == DROP:
            self.close_connection = True
            return
        if answer == BROKEN:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"jobID"')
            self.close_connection = True
            return
        status, content, *extra = answer
        self.send_response(status)
        for name, value in (extra[0] if extra else {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")  # retries without waiting, to keep tests fast
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class _Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Callable[[_Seen], tuple[Any, ...] | str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.seen: list[_Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@contextmanager
def _serving(answer: Callable[[_Seen], tuple[Any, ...] | str]) -> Iterator[_Server]:
    server = _Server(answer)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _client(
    url: str, *, max_retries: int = 2, timeout: float = 5, **settings: object
) -> HttpClient:
    config = {
        **{k: v["default"] for k, v in config_schema()["properties"].items() if "default" in v},
        "tenant_id": "t",
        "api_key": "key-0123456789",
        "auth_method": "bearer_api_key",  # the key itself: these tests are about the HTTP
        "base_url": url,
        **settings,
    }
    return HttpClient(
        KiboTranslated(read_settings(config)),
        logging.getLogger("test-client"),
        timeout=timeout,
        max_retries=max_retries,
        max_retry_seconds=30,
    )


JOB = (200, b'{"jobID": 1}')
WAIT = 5.0
"""Most seconds a test waits for a thread (it fails rather than hangs)."""


def _send(client: HttpClient, url: str, **options: Any) -> bytes:
    request = HttpRequest("POST", url + "/inv/api/v5/inventory/adjust/", b"{}")
    return client.send(request, "an adjust", **options)


def test_each_request_of_a_url_carries_the_headers_its_body_the_auth_and_cookies_set():
    """A URL's request is prepared once and copied for each body: every request still carries
    the session's headers, its own body and length and the auth; a cookie the server sets (a
    load balancer's, say) is sent back from then on."""
    answers = iter(
        [(200, b'{"jobID": 1}'), (200, b'{"jobID": 2}', {"Set-Cookie": "lb=b7; Path=/"})]
    )
    with _serving(lambda seen: next(answers, JOB)) as server:
        client = _client(server.url)
        for body in (b'{"a": 1}', b'{"bb": 22}', b'{"ccc": 333}'):
            request = HttpRequest("POST", server.url + "/inv/api/v5/inventory/refresh/", body)
            client.send(request, "a refresh")
    sent = [(s.body, s.headers) for s in server.seen]
    assert [body for body, _ in sent] == [b'{"a": 1}', b'{"bb": 22}', b'{"ccc": 333}']
    for body, headers in sent:
        assert headers["Content-Length"] == str(len(body))
        assert headers["Authorization"] == "Bearer key-0123456789"
        assert (headers["Content-Type"], headers["x-vol-tenant"]) == ("application/json", "t")
    assert [headers.get("Cookie") for _, headers in sent] == [None, None, "lb=b7"]


@pytest.mark.parametrize(
    ("status", "retried", "maybe_applied", "late"),
    [
        (429, True, False, False),  # rate limited: surely not applied
        (503, True, False, False),  # unavailable: surely not applied
        (500, True, True, False),  # the API's own error: may be applied, but not later
        (502, True, True, True),  # a gateway's: the API may still apply it, late
        (504, True, True, True),
        (400, False, False, False),  # final: one try
        (404, False, False, False),
        (409, False, False, False),
    ],
)
def test_which_answers_are_retried_and_which_may_be_applied_late(
    status: int, retried: bool, maybe_applied: bool, late: bool
):
    """Each status once, then a job: retried or not; for a request that must not be sent
    twice (an adjust), a maybe-applied failure is not retried; a late one is reported."""
    for resendable in (True, False):
        answers = [(status, b'{"message": "no"}'), JOB]
        late_tries: list[float] = []
        with _serving(lambda seen, answers=answers: answers.pop(0)) as server:
            client = _client(server.url)
            try:
                outcome: bytes | BaseException = _send(
                    client,
                    server.url,
                    resend_if_maybe_applied=resendable,
                    on_late_copy=late_tries.append,
                )
            except ApiError as error:
                outcome = error
            client.close()
        tries = len(server.seen)
        if retried and (resendable or not maybe_applied):
            assert (outcome, tries) == (JOB[1], 2), (status, resendable)
        elif retried:  # may be applied and must not be sent twice
            assert isinstance(outcome, AmbiguousRequestError), (status, resendable)
            assert "may or may not have been applied" in str(outcome)
            assert tries == 1
        else:
            assert type(outcome) is ApiError, (status, resendable)
            assert f"HTTP {status}" in str(outcome)
            assert tries == 1
        assert len(late_tries) == (1 if late else 0), (status, resendable)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_final_and_says_so(status: int):
    with _serving(lambda seen: (status, b'{"message": "bad key"}')) as server:
        client = _client(server.url)
        with pytest.raises(AuthError, match=f"HTTP {status}.*bad key"):
            _send(client, server.url)
        client.close()
    assert len(server.seen) == 1


def test_a_connection_closed_without_an_answer_may_be_applied_late():
    """The server reads the request and closes the connection: for an adjust, the request
    may have been applied (not sent again) and may still land (on_late_copy)."""
    late_tries: list[float] = []
    with _serving(lambda seen: DROP) as server:
        client = _client(server.url)
        with pytest.raises(AmbiguousRequestError, match="connection closed before an answer"):
            _send(client, server.url, resend_if_maybe_applied=False, on_late_copy=late_tries.append)
        client.close()
    assert (len(server.seen), len(late_tries)) == (1, 1)


def test_a_read_timeout_is_retried_when_the_request_may_be_sent_twice():
    """The first try gets no answer until the test ends (a read timeout); the next ones are
    answered at once."""
    test_over = threading.Event()
    tries = itertools.count()

    def answer(seen: _Seen) -> tuple[int, bytes] | str:
        if next(tries) == 0:
            test_over.wait(WAIT)
            return DROP
        return JOB

    with _serving(answer) as server:
        client = _client(server.url, timeout=1.0, max_retries=3)
        try:
            assert _send(client, server.url) == JOB[1]
        finally:
            test_over.set()
            client.close()
    assert len(server.seen) >= 2


def test_a_read_timeout_of_an_adjust_is_not_resent():
    test_over = threading.Event()

    def answer(seen: _Seen) -> str:
        test_over.wait(WAIT)
        return DROP

    late_tries: list[float] = []
    with _serving(answer) as server:
        client = _client(server.url, timeout=0.5)
        try:
            with pytest.raises(AmbiguousRequestError, match="read timeout"):
                _send(
                    client,
                    server.url,
                    resend_if_maybe_applied=False,
                    on_late_copy=late_tries.append,
                )
        finally:
            test_over.set()
            client.close()
    assert (len(server.seen), len(late_tries)) == (1, 1)


def test_an_answer_that_breaks_off_may_be_applied():
    """200 with a body cut short: the request reached the API, so an adjust is not sent
    again; a request that may be sent twice is."""
    with _serving(lambda seen: BROKEN) as server:
        client = _client(server.url)
        with pytest.raises(AmbiguousRequestError, match="broke off"):
            _send(client, server.url, resend_if_maybe_applied=False)
        assert len(server.seen) == 1
        with pytest.raises(ApiError, match=r"Gave up retrying \(max_retries=2.*broke off"):
            _send(client, server.url)
        client.close()
    assert len(server.seen) == 1 + 3


def test_tls_to_a_plain_http_server_is_final_and_says_what_to_do():
    """https:// to a server that speaks plain HTTP: the TLS handshake fails; no retry."""
    with _serving(lambda seen: JOB) as server:
        url = server.url.replace("http://", "https://")
        client = _client(url)
        with pytest.raises(ApiError, match=r"TLS failed.*ca_bundle") as raised:
            _send(client, url)
        client.close()
    assert type(raised.value) is ApiError
    assert server.seen == []  # the handshake never became a request


def test_an_unreachable_proxy_is_retried_even_for_an_adjust(monkeypatch: pytest.MonkeyPatch):
    """The proxy (from HTTP_PROXY) refuses the connection: the request never left, so it is
    tried again, and given up after max_retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("http_proxy", proxy)
        retries: list[int] = []
        with _serving(lambda seen: JOB) as server:
            client = _client(server.url, max_retries=1)
            client.on_retry = lambda: retries.append(1)
            with pytest.raises(ApiError, match=r"Gave up retrying.*proxy error") as raised:
                _send(client, server.url, resend_if_maybe_applied=False)
            client.close()
    assert not isinstance(raised.value, AmbiguousRequestError)
    assert (len(retries), server.seen) == (1, [])


def test_a_refused_connection_surely_was_not_applied_so_even_an_adjust_is_retried():
    """Nothing listens on the port: not applied, so an adjust is tried again (and given up
    after max_retries)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        client = _client(url, max_retries=1)
        late_tries: list[float] = []
        with pytest.raises(ApiError, match=r"Gave up retrying.*connection refused") as raised:
            _send(client, url, resend_if_maybe_applied=False, on_late_copy=late_tries.append)
        client.close()
    assert not isinstance(raised.value, AmbiguousRequestError)
    assert late_tries == []


def test_a_stop_ends_the_retries():
    """SIGTERM (the `stopping` event) during the wait before a retry: no further try."""
    stopping = threading.Event()
    stopping.set()
    with _serving(lambda seen: (503, b"{}")) as server:
        client = _client(server.url)
        client.stopping = stopping
        with pytest.raises(StoppedError, match="not tried again"):
            _send(client, server.url)
        client.close()
    assert len(server.seen) == 1


def _token_client(server: _Server, **settings: object) -> HttpClient:
    oauth = {"auth_method": "oauth", "api_secret": "secret-0123", "auth_url": server.url + "/oauth"}
    return _client(server.url, **{**oauth, **settings})


def _in_threads(count: int, target: Callable[[], object]) -> list[object]:
    """Run `target` in `count` threads that start together; their results (or errors)."""
    start = threading.Barrier(count, timeout=WAIT)
    results: list[object] = []

    def run() -> None:
        start.wait()
        try:
            results.append(target())
        except Exception as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _token_server(refuse_first_token_with: threading.Barrier | None = None):
    """Answers token requests with tok-1, tok-2, ...; inventory requests with a job, but a 401
    for tok-1 when `refuse_first_token_with` is given (after every request holding tok-1
    arrived, so that they are refused at once)."""
    tokens = itertools.count(1)

    def answer(seen: _Seen) -> tuple[int, bytes]:
        if seen.path.endswith("/oauth"):
            body = {"access_token": f"tok-{next(tokens)}", "expires_in": 3600}
            return 200, json.dumps(body).encode()
        if refuse_first_token_with is not None and seen.headers["Authorization"] == "Bearer tok-1":
            refuse_first_token_with.wait()
            return 401, b'{"message": "expired"}'
        return JOB

    return answer


def test_threads_starting_together_fetch_one_token():
    """Eight threads send their first request at once: one token request, one token."""
    with _serving(_token_server()) as server:
        client = _token_client(server)
        results = _in_threads(8, lambda: _send(client, server.url))
        client.close()
    assert results == [JOB[1]] * 8
    assert [s.path for s in server.seen].count("/oauth") == 1
    assert {s.headers["Authorization"] for s in server.seen if s.path != "/oauth"} == {
        "Bearer tok-1"
    }


def test_the_token_request_goes_through_the_clients_session():
    """The token is fetched with the client's session: its headers (User-Agent) and its
    keep-alive connection, which the inventory request then reuses."""
    with _serving(_token_server()) as server:
        client = _token_client(server)
        _send(client, server.url)
        client.close()
    token, inventory = server.seen
    assert token.path == "/oauth"
    assert token.headers["User-Agent"].startswith("target-kibo-inventory")
    assert token.headers["User-Agent"] == inventory.headers["User-Agent"]
    assert token.client_port == inventory.client_port  # one connection: one session


def test_many_threads_refused_at_once_drop_the_token_once():
    """Eight requests sent with the same token, all refused (401) together: the token is
    dropped once and one new token is fetched, which every request is sent again with."""
    threads = 8
    with _serving(_token_server(threading.Barrier(threads, timeout=WAIT))) as server:
        client = _token_client(server)
        client.check_token()  # the first token, before the threads start
        results = _in_threads(threads, lambda: _send(client, server.url))
        client.close()
    token_requests = [s for s in server.seen if s.path == "/oauth"]
    sent = [s.headers["Authorization"] for s in server.seen if s.path != "/oauth"]
    assert results == [JOB[1]] * threads
    assert len(token_requests) == 2
    assert sorted(sent) == ["Bearer tok-1"] * threads + ["Bearer tok-2"] * threads


def test_a_late_refusal_of_an_old_token_keeps_the_new_one():
    """Request 1 holds tok-1 and is answered late; meanwhile request 2 is refused, drops
    tok-1 and gets tok-2. When request 1's 401 (for tok-1) arrives, tok-2 is kept: request 1
    is sent again with tok-2, and no third token is fetched."""
    first_arrived = threading.Event()
    new_token_used = threading.Event()
    tokens = itertools.count(1)
    old_token_tries = itertools.count()

    def answer(seen: _Seen) -> tuple[int, bytes]:
        if seen.path == "/oauth":
            body = {"access_token": f"tok-{next(tokens)}", "expires_in": 3600}
            return 200, json.dumps(body).encode()
        if seen.headers["Authorization"] == "Bearer tok-1":
            if next(old_token_tries) == 0:  # request 1: answered after tok-2 was used
                first_arrived.set()
                new_token_used.wait(WAIT)
            return 401, b'{"message": "expired"}'
        new_token_used.set()
        return JOB

    with _serving(answer) as server:
        client = _token_client(server)
        client.check_token()
        results: list[bytes] = []
        first = threading.Thread(target=lambda: results.append(_send(client, server.url)))
        first.start()
        assert first_arrived.wait(WAIT)
        assert _send(client, server.url) == JOB[1]  # request 2
        first.join(WAIT)
        client.close()
    assert results == [JOB[1]]
    sent = [(s.path, s.headers.get("Authorization")) for s in server.seen]
    assert sent.count(("/oauth", None)) == 2  # tok-1 and tok-2, not a third
    inventory = [auth for path, auth in sent if path != "/oauth"]
    assert sorted(inventory) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


def test_a_refused_token_request_is_final_and_nothing_is_sent():
    """The token endpoint refuses the credentials (401): AuthError, one token request, no
    inventory request."""

    def answer(seen: _Seen) -> tuple[int, bytes]:
        if seen.path == "/oauth":
            return 401, b'{"message": "invalid client credentials"}'
        return JOB

    with _serving(answer) as server:
        client = _token_client(server)
        with pytest.raises(AuthError, match="invalid client credentials"):
            _send(client, server.url)
        client.close()
    assert [s.path for s in server.seen] == ["/oauth"]


def test_a_new_token_refused_too_ends_the_request():
    """Every token is refused: one renewal, then the 401 is final (no loop of renewals)."""
    tokens = itertools.count(1)

    def answer(seen: _Seen) -> tuple[int, bytes]:
        if seen.path == "/oauth":
            body = {"access_token": f"tok-{next(tokens)}", "expires_in": 3600}
            return 200, json.dumps(body).encode()
        return 401, b'{"message": "token not valid for this tenant"}'

    with _serving(answer) as server:
        client = _token_client(server)
        with pytest.raises(AuthError, match=r"HTTP 401.*not valid for this tenant"):
            _send(client, server.url)
        client.close()
    assert [s.path for s in server.seen] == ["/oauth", "/inv/api/v5/inventory/adjust/"] * 2


def test_a_token_answer_without_a_token_is_final():
    with _serving(lambda seen: (200, b'{"token_type": "bearer"}')) as server:
        client = _token_client(server)
        with pytest.raises(ApiError, match="without a usable access_token"):
            _send(client, server.url)
        client.close()
    assert [s.path for s in server.seen] == ["/oauth"]


def test_a_token_request_that_fails_for_a_while_is_retried():
    """503 from the token endpoint: retried like any request; the API request waits for it."""
    answers = [(503, b"{}"), (200, b'{"access_token": "tok-1", "expires_in": 3600}'), JOB]
    with _serving(lambda seen: answers.pop(0)) as server:
        client = _token_client(server)
        assert _send(client, server.url) == JOB[1]
        client.close()
    assert [s.path for s in server.seen] == ["/oauth", "/oauth", "/inv/api/v5/inventory/adjust/"]


@pytest.mark.parametrize("form", ["json", "basic"])
def test_the_token_request_body_says_its_form(form: str):
    """`json`: a JSON body with the credentials; `basic`: HTTP Basic and a form body, whose
    Content-Type says so (not the session's JSON one)."""
    with _serving(_token_server()) as server:
        client = _token_client(server, token_request=form)
        _send(client, server.url)
        client.close()
    token = server.seen[0]
    if form == "json":
        assert token.headers["Content-Type"] == "application/json"
        assert json.loads(token.body) == {
            "client_id": "key-0123456789",
            "client_secret": "secret-0123",
            "grant_type": "client_credentials",
        }
        assert "Authorization" not in token.headers
    else:
        assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert token.body == b"grant_type=client_credentials"
        expected = base64.b64encode(b"key-0123456789:secret-0123").decode()
        assert token.headers["Authorization"] == f"Basic {expected}"
