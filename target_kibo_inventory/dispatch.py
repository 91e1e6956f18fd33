"""Sending requests: different locations in parallel, one location's requests strictly in order."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_kibo_inventory.batching import Request


class Dispatcher:
    """Runs `send` for submitted requests on up to `max_parallel` threads.

    A location has at most one request in flight; its next one starts only when the previous
    one was accepted, so requests for one location never overlap or overtake each other.
    `submit` blocks while `max_queued` requests wait (bounding memory). After a failure no new
    request starts, and the failure is raised by the next `submit` or `wait`.
    """

    def __init__(self, send: Callable[[Request], None], max_parallel: int, max_queued: int) -> None:
        self._send = send
        self._max_queued = max(max_queued, max_parallel)
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="kibo-request")
        self._waiting: dict[str, deque[Request]] = {}
        self._unfinished = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def submit(self, request: Request) -> None:
        """Queue a request behind the earlier ones of its location."""
        with self._changed:
            while self._unfinished >= self._max_queued and self._error is None:
                self._changed.wait()
            self._raise_error()
            self._unfinished += 1
            queue = self._waiting.get(request.location)
            if queue is not None:
                queue.append(request)
                return
            self._waiting[request.location] = deque([request])
        self._pool.submit(self._run_location, request.location)

    def wait(self) -> None:
        """Block until every submitted request was accepted; raise the first failure."""
        with self._changed:
            while self._unfinished and self._error is None:
                self._changed.wait()
            self._raise_error()

    def close(self) -> None:
        """Finish the requests under way and stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run_location(self, location: str) -> None:
        while True:
            with self._changed:
                queue = self._waiting[location]
                if not queue or self._error is not None:
                    self._unfinished -= len(queue)
                    del self._waiting[location]
                    self._changed.notify_all()
                    return
                request = queue[0]
            try:
                self._send(request)
            except BaseException as error:
                with self._changed:
                    self._error = self._error or error
            with self._changed:
                queue.popleft()
                self._unfinished -= 1
                self._changed.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
