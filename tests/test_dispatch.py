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
    return Request("refresh", location, [str(number).encode()], 1, ["s"])


def _number(request: Request) -> int:
    return int(request.encoded_items)


class RefusedError(Exception):
    """A send that failed."""


def test_requests_of_one_location_go_in_order_and_never_overlap():
    """Three locations, interleaved, on three threads: each location's requests are sent in
    the order submitted, one at a time, while different locations overlap."""
    rng = random.Random(7)
    sent: dict[str, list[int]] = defaultdict(list)
    in_flight: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    most_at_once = 0
    lock = threading.Lock()

    def send(request: Request) -> None:
        nonlocal most_at_once
        with lock:
            in_flight[request.location] += 1
            if in_flight[request.location] > 1:
                overlaps.append(request.location)
            most_at_once = max(most_at_once, sum(in_flight.values()))
        time.sleep(rng.uniform(0, 0.01))
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
    assert most_at_once > 1  # locations ran side by side


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
    """Location A fails while B's next request waits behind a slow one: B's waiting request
    is not sent."""
    a_failed = threading.Event()
    sent: list[int] = []

    def send(request: Request) -> None:
        if request.location == "A":
            a_failed.set()
            raise RefusedError("A refused")
        if _number(request) == 2:
            a_failed.wait(WAIT)
            time.sleep(0.05)  # A's failure is recorded before B's first send returns
        sent.append(_number(request))

    dispatcher = Dispatcher(send, max_parallel=2, max_queued=10)
    dispatcher.submit(_request("B", 2))
    dispatcher.submit(_request("B", 3))
    dispatcher.submit(_request("A", 1))
    with pytest.raises(RefusedError, match="A refused"):
        dispatcher.wait()
    dispatcher.close()
    assert sent == [2]


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
