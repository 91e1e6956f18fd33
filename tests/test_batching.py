"""Unit and property tests of the batcher: full requests, drains, order per location."""

from __future__ import annotations

import math
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from target_kibo_inventory.batching import Batcher

SIZES = {"refresh": 12000, "adjust": 1000}
STEPS = {"refresh": 3000, "adjust": 1000}
NO_CAP = 10**9


def test_21000_and_5000_interleaved_make_12000_9000_and_5000():
    batcher = Batcher(SIZES, STEPS, NO_CAP)
    sent = []
    for i in range(26000):
        location = "Location 2" if i % 26 >= 21 else "Location 1"
        sent += batcher.add("refresh", location, b"{}", "s")
    sent += batcher.drain()
    assert sorted((r.location, -r.count) for r in sent) == [
        ("Location 1", -12000),
        ("Location 1", -9000),
        ("Location 2", -5000),
    ]
    assert batcher.buffered_items == 0


def test_a_full_request_is_released_at_once():
    batcher = Batcher({"refresh": 3, "adjust": 2}, {"refresh": 3, "adjust": 2}, NO_CAP)
    assert batcher.add("refresh", "L", b"1", "s") == []
    assert batcher.add("refresh", "L", b"2", "s") == []
    [request] = batcher.add("refresh", "L", b"3", "t")
    assert (request.encoded_items, request.count, request.stream_label) == (b"1,2,3", 3, "s, t")
    assert list(batcher.drain()) == []


def test_switching_operation_at_a_location_releases_the_other_first():
    batcher = Batcher(SIZES, STEPS, NO_CAP)
    batcher.add("refresh", "L", b"r1", "counts")
    batcher.add("refresh", "M", b"m1", "counts")
    [refresh] = batcher.add("adjust", "L", b"a1", "moves")
    assert (refresh.operation, refresh.encoded_items) == ("refresh", b"r1")
    drained = batcher.drain()
    assert {(r.operation, r.location) for r in drained} == {("refresh", "M"), ("adjust", "L")}


events = st.lists(
    st.tuples(st.sampled_from(["refresh", "adjust"]), st.sampled_from("ABCDE")), max_size=400
)


@settings(max_examples=200, deadline=None)
@given(
    events=events,
    refresh=st.integers(1, 7),
    adjust=st.integers(1, 5),
    cap=st.one_of(st.just(NO_CAP), st.integers(1, 30)),
)
def test_every_item_sent_once_in_order_never_above_full_size(events, refresh, adjust, cap):
    batcher = Batcher({"refresh": refresh, "adjust": adjust}, {"refresh": 3, "adjust": 2}, cap)
    sent = []
    for n, (operation, location) in enumerate(events):
        sent += batcher.add(operation, location, str(n).encode(), "s")
    sent += batcher.drain()

    per_location = defaultdict(list)
    for request in sent:
        assert 1 <= request.count <= batcher.full_sizes[request.operation]
        numbers = [int(i) for i in request.encoded_items.split(b",")]
        assert len(numbers) == request.count
        per_location[request.location] += numbers
    assert batcher.buffered_items == 0
    expected = defaultdict(list)
    for n, (_, location) in enumerate(events):
        expected[location].append(n)
    assert per_location == expected  # each item exactly once, in order per location


@settings(max_examples=200, deadline=None)
@given(locations=st.lists(st.sampled_from("ABCDEFG"), max_size=500), size=st.integers(1, 9))
def test_one_operation_gives_ceil_n_over_size_requests_per_location(locations, size):
    batcher = Batcher({"refresh": size, "adjust": size}, {"refresh": 3, "adjust": 3}, NO_CAP)
    sent = [r for loc in locations for r in batcher.add("refresh", loc, b"x", "s")]
    sent += batcher.drain()
    for location in set(locations):
        sizes = [r.count for r in sent if r.location == location]
        n = locations.count(location)
        assert len(sizes) == math.ceil(n / size)
        assert all(s == size for s in sizes[:-1])


def test_the_cap_releases_the_largest_buffers_in_whole_steps():
    batcher = Batcher({"refresh": 12, "adjust": 4}, {"refresh": 3, "adjust": 4}, max_buffered=20)
    sent = []
    for n in range(8):
        sent += batcher.add("refresh", "Big", b"%d" % n, "s")
    for n in range(7):
        sent += batcher.add("refresh", "Mid", b"%d" % n, "s")
    for n in range(4):
        sent += batcher.add("refresh", "Small", b"%d" % n, "s")
    assert sent == []
    sent = batcher.add("refresh", "Small", b"4", "s")  # 20 buffered: the cap
    assert [(r.location, r.encoded_items) for r in sent] == [("Big", b"0,1,2,3,4,5")]
    assert batcher.buffered_items == 14
    drained = {r.location: r.encoded_items for r in batcher.drain()}
    assert drained == {"Big": b"6,7", "Mid": b"0,1,2,3,4,5,6", "Small": b"0,1,2,3,4"}


def test_the_cap_releases_whole_buffers_when_none_holds_a_step():
    batcher = Batcher({"refresh": 12, "adjust": 4}, {"refresh": 3, "adjust": 4}, max_buffered=4)
    sent = []
    for location in "ABAC":
        sent += batcher.add("refresh", location, location.encode(), "s")
    assert [(r.location, r.count) for r in sent] == [("A", 2)]
    assert batcher.buffered_items == 2
