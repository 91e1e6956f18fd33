"""Unit and property tests of the batcher: full requests, drains, order per location."""

from __future__ import annotations

import math
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from target_kibo_inventory.batching import Batcher

SIZES = {"refresh": 12000, "adjust": 1000}


def test_21000_and_5000_interleaved_make_12000_9000_and_5000():
    batcher = Batcher(SIZES)
    sent = []
    for i in range(26000):
        location = "Location 2" if i % 26 >= 21 else "Location 1"
        sent += batcher.add("refresh", location, b"{}", "s")
    sent += batcher.drain()
    assert sorted((r.location, -len(r.items)) for r in sent) == [
        ("Location 1", -12000),
        ("Location 1", -9000),
        ("Location 2", -5000),
    ]
    assert batcher.buffered_items == 0


def test_a_full_request_is_released_at_once():
    batcher = Batcher({"refresh": 3, "adjust": 2})
    assert batcher.add("refresh", "L", b"1", "s") == []
    assert batcher.add("refresh", "L", b"2", "s") == []
    [request] = batcher.add("refresh", "L", b"3", "t")
    assert (request.items, request.stream) == ([b"1", b"2", b"3"], "s, t")
    assert batcher.drain() == []


def test_switching_operation_at_a_location_releases_the_other_first():
    batcher = Batcher(SIZES)
    batcher.add("refresh", "L", b"r1", "counts")
    batcher.add("refresh", "M", b"m1", "counts")
    [refresh] = batcher.add("adjust", "L", b"a1", "moves")
    assert (refresh.operation, refresh.items) == ("refresh", [b"r1"])
    drained = batcher.drain()
    assert {(r.operation, r.location) for r in drained} == {("refresh", "M"), ("adjust", "L")}


events = st.lists(
    st.tuples(st.sampled_from(["refresh", "adjust"]), st.sampled_from("ABCDE")), max_size=400
)


@settings(max_examples=200, deadline=None)
@given(events=events, refresh=st.integers(1, 7), adjust=st.integers(1, 5))
def test_every_item_sent_once_in_order_in_full_requests(events, refresh, adjust):
    batcher = Batcher({"refresh": refresh, "adjust": adjust})
    sent = []
    for n, (operation, location) in enumerate(events):
        sent += batcher.add(operation, location, str(n).encode(), "s")
    sent += batcher.drain()

    per_location = defaultdict(list)
    for request in sent:
        assert 1 <= len(request.items) <= batcher.full_sizes[request.operation]
        per_location[request.location] += [int(i) for i in request.items]
    expected = defaultdict(list)
    for n, (_, location) in enumerate(events):
        expected[location].append(n)
    assert per_location == expected  # each item exactly once, in order per location


@settings(max_examples=200, deadline=None)
@given(locations=st.lists(st.sampled_from("ABCDEFG"), max_size=500), size=st.integers(1, 9))
def test_one_operation_gives_ceil_n_over_size_requests_per_location(locations, size):
    batcher = Batcher({"refresh": size, "adjust": size})
    sent = [r for loc in locations for r in batcher.add("refresh", loc, b"x", "s")]
    sent += batcher.drain()
    for location in set(locations):
        sizes = [len(r.items) for r in sent if r.location == location]
        n = locations.count(location)
        assert len(sizes) == math.ceil(n / size)
        assert all(s == size for s in sizes[:-1])
