"""Unit tests of the Dispatcher, in process: order per location, parallelism across locations,
failures, and the bound on queued requests."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest

from target_kibo_inventory.batching import Request
from target_kibo_inventory.dispatch import Dispatcher

WAIT = 5.0
"""Most seconds a test waits for another thread (it fails rather than hangs)."""


def _request(location: str, number: int) -> Request:
    """A request whose one item is its number."""
    return Request("refresh", location, [str(number).encode()], 1, ["s"], [], [])


def _number(request: Request) -> int:
    return int(request.encoded_items)


class RefusedError(Exception):
    """A send that failed."""


def test_requests_of_one_location_go_in_order_and_never_overlap():
    """Three locations, interleaved, on three threads: each location's requests are sent in
    the order submitted, one at a time (that locations do overlap: the barrier test below)."""
    rng = random.Random(7)
    sent: dict[str, list[int]] = defaultdict(list)
    in_flight: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    lock = threading.Lock()

    def send(request: Request) -> None:
        with lock:
            in_flight[request.location] += 1
            if in_flight[request.location] > 1:
                overlaps.append(request.location)
        time.sleep(rng.uniform(0, 0.005))  # shuffles the threads; no assertion on time
        with lock:
            sent[request.location].append(_number(request))
            in_flight[request.location] -= 1

    dispatcher = Dispatcher(send, max_parallel=3, max_queued=6)
    submitted: dict[str, list[int]] = defaultdict(list)
    for number in range(60):
        location = "ABC"[number % 3] if number % 5 else "A"
        dispatcher.submit(_request(location, number))
        submitted[location].append(number)
    dispatcher.wait()
    dispatcher.close()
    assert dict(sent) == dict(submitted)
    assert overlaps == []


def test_different_locations_are_sent_in_parallel():
    """Two locations, two threads: each send waits for the other to start (a barrier), which
    only two requests in flight at once can pass."""
    both_started = threading.Barrier(2, timeout=WAIT)
    sent: list[str] = []

    def send(request: Request) -> None:
        both_started.wait()
        sent.append(request.location)

    dispatcher = Dispatcher(send, max_parallel=2, max_queued=2)
    dispatcher.submit(_request("north", 1))
    dispatcher.submit(_request("south", 2))
    dispatcher.wait()
    dispatcher.close()
    assert sorted(sent) == ["north", "south"]


def test_a_failure_is_raised_by_wait_and_no_newer_request_starts():
    """The second request of location A fails: A's third is never sent, the failure is the
    one `wait` raises, and every later `submit` raises it too."""
    release = threading.Event()
    sent: list[int] = []
    error = RefusedError("HTTP 400 for request 2")

    def send(request: Request) -> None:
        if _number(request) == 1:
            release.wait(WAIT)
        if _number(request) == 2:
            raise error
        sent.append(_number(request))

    dispatcher = Dispatcher(send, max_parallel=2, max_queued=10)
    for number in (1, 2, 3):
        dispatcher.submit(_request("A", number))
    release.set()
    with pytest.raises(RefusedError) as raised:
        dispatcher.wait()
    assert raised.value is error
    with pytest.raises(RefusedError):
        dispatcher.submit(_request("B", 4))
    dispatcher.close()
    assert sent == [1]


def test_a_failure_stops_other_locations_queued_requests():
    """Location A fails while B's first request is under way: B's next request is not sent
    (B's first returns only after `wait` raised A's failure)."""
    failure_seen = threading.Event()
    sent: list[int] = []

    def send(request: Request) -> None:
        if request.location == "A":
            raise RefusedError("A refused")
        if _number(request) == 2:
            failure_seen.wait(WAIT)
        sent.append(_number(request))

    dispatcher = Dispatcher(send, max_parallel=2, max_queued=10)
    dispatcher.submit(_request("B", 2))
    dispatcher.submit(_request("B", 3))
    dispatcher.submit(_request("A", 1))
    with pytest.raises(RefusedError, match="A refused"):
        dispatcher.wait()
    failure_seen.set()
    dispatcher.close()
    assert sent == [2]


def test_a_failed_send_is_tried_once_and_the_first_failure_is_the_one_raised():
    """A's request fails, then B's: each failed request was sent once (the dispatcher does
    not retry), and `wait` and `submit` raise A's failure, the first, every time; B's does
    not replace it."""
    first_raised = threading.Event()
    tries: list[str] = []
    first = RefusedError("A refused first")

    def send(request: Request) -> None:
        tries.append(request.location)
        if request.location == "A":
            raise first
        first_raised.wait(WAIT)
        raise RefusedError("B refused later")

    dispatcher = Dispatcher(send, max_parallel=2, max_queued=10)
    dispatcher.submit(_request("B", 1))
    dispatcher.submit(_request("A", 2))
    with pytest.raises(RefusedError) as raised:
        dispatcher.wait()
    assert raised.value is first
    first_raised.set()
    dispatcher.close()  # B's send has failed too
    for call in (dispatcher.wait, lambda: dispatcher.submit(_request("C", 3))):
        with pytest.raises(RefusedError) as raised:
            call()
        assert raised.value is first
    assert sorted(tries) == ["A", "B"]


def test_many_requests_of_one_location_keep_their_order_across_many_threads():
    """One location, eight threads, a hundred requests: one thread at a time sends them, in
    order, each only after the previous one returned."""
    sent: list[int] = []
    in_flight = threading.Semaphore(1)
    overlaps: list[int] = []

    def send(request: Request) -> None:
        if not in_flight.acquire(blocking=False):
            overlaps.append(_number(request))
            return
        try:
            sent.append(_number(request))
        finally:
            in_flight.release()

    dispatcher = Dispatcher(send, max_parallel=8, max_queued=16)
    for number in range(100):
        dispatcher.submit(_request("only", number))
    dispatcher.wait()
    dispatcher.close()
    assert (sent, overlaps) == (list(range(100)), [])


def test_submit_blocks_while_max_queued_requests_are_unfinished():
    """With two requests unfinished (the most allowed), a third `submit` waits until one is
    done."""
    gate = threading.Event()
    dispatcher = Dispatcher(lambda request: gate.wait(WAIT) and None, max_parallel=1, max_queued=2)
    dispatcher.submit(_request("A", 1))
    dispatcher.submit(_request("A", 2))
    third = threading.Thread(target=dispatcher.submit, args=(_request("A", 3),))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # blocked: two unfinished
    gate.set()
    third.join(WAIT)
    assert not third.is_alive()
    dispatcher.wait()
    dispatcher.close()


def test_a_failure_wakes_a_blocked_submit():
    """A `submit` blocked on the bound raises the failure as soon as it happens."""
    fail = threading.Event()

    def send(request: Request) -> None:
        fail.wait(WAIT)
        raise RefusedError("refused while another submit waited")

    dispatcher = Dispatcher(send, max_parallel=1, max_queued=1)
    dispatcher.submit(_request("A", 1))
    outcome: list[BaseException] = []

    def blocked_submit() -> None:
        try:
            dispatcher.submit(_request("A", 2))
        except RefusedError as error:
            outcome.append(error)

    thread = threading.Thread(target=blocked_submit)
    thread.start()
    thread.join(0.2)
    assert thread.is_alive()
    fail.set()
    thread.join(WAIT)
    assert [str(error) for error in outcome] == ["refused while another submit waited"]
    dispatcher.close()
