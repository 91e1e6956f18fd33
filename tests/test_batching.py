"""Unit and property tests of the batcher: collapse, fold, full requests, stock exact.

The reference model applies the records one at a time, in input order; the batcher's requests,
applied in the order they come out, must give the same stock.
"""

from __future__ import annotations

import json
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from target_kibo_inventory.batching import Batcher, Request, Spill
from target_kibo_inventory.destinations.base import merge_json

SIZES = {"refresh": 12000, "adjust": 1000}
STEPS = {"refresh": 3000, "adjust": 1000}
BOUNDS = {"refresh": (0, 2**31 - 1), "adjust": (-(2**31), 2**31 - 1)}
NO_CAP = 10**9


def _batcher(sizes=SIZES, steps=STEPS, cap=NO_CAP, bounds=BOUNDS) -> Batcher:
    return Batcher(sizes, steps, cap, merge=merge_json, bounds=bounds)


def _add(batcher: Batcher, operation, location, sku, quantity, stream="s", **fields):
    item = json.dumps({"sku": sku, "quantity": quantity, **fields}).encode()
    return batcher.add(operation, location, sku.encode(), item, quantity, stream)


def _items(request: Request) -> list[dict]:
    return json.loads(b"[" + request.encoded_items + b"]")


def _apply(stock: defaultdict, requests: list[Request]) -> None:
    """Apply requests in order, as Kibo does: a refresh sets, an adjust adds."""
    for request in requests:
        for item in _items(request):
            key = (request.location, item["sku"])
            if request.operation == "refresh":
                stock[key] = item["quantity"]
            else:
                stock[key] += item["quantity"]


def test_21000_and_5000_distinct_make_12000_9000_and_5000():
    batcher = _batcher()
    sent = []
    for i in range(26000):
        location = "Location 2" if i % 26 >= 21 else "Location 1"
        sent += _add(batcher, "refresh", location, f"S{i}", 1)
    sent += batcher.drain()
    assert sorted((r.location, -r.count) for r in sent) == [
        ("Location 1", -12000),
        ("Location 1", -9000),
        ("Location 2", -5000),
    ]
    assert batcher.buffered_items == 0


def test_repeated_counts_go_out_once_with_the_last_count_and_its_fields():
    batcher = _batcher()
    _add(batcher, "refresh", "L", "A", 5, floor=1)
    _add(batcher, "refresh", "L", "B", 7)
    _add(batcher, "refresh", "L", "A", 9, safetyStock=2)
    [request] = batcher.drain()
    assert _items(request) == [
        {"sku": "A", "quantity": 9, "floor": 1, "safetyStock": 2},
        {"sku": "B", "quantity": 7},
    ]
    assert (request.count, batcher.collapsed) == (2, 1)


def test_deltas_of_one_item_add_up_and_a_net_zero_is_not_sent():
    batcher = _batcher()
    for sku, delta in [("A", 2), ("B", -1), ("A", 3), ("B", 1), ("C", -4)]:
        _add(batcher, "adjust", "L", sku, delta)
    [request] = batcher.drain()
    assert _items(request) == [{"sku": "A", "quantity": 5}, {"sku": "C", "quantity": -4}]
    assert batcher.collapsed == 3  # A twice into one, B's two records netted to nothing


def test_a_movement_folds_into_the_pending_count_and_a_count_replaces_a_pending_movement():
    batcher = _batcher()
    _add(batcher, "refresh", "L", "A", 10)
    _add(batcher, "adjust", "L", "A", -3)  # folded: A is counted at 7
    _add(batcher, "adjust", "L", "B", 4)
    _add(batcher, "refresh", "L", "B", 1)  # the count comes after the movement: B is 1
    requests = list(batcher.drain())
    assert [(r.operation, _items(r)) for r in requests] == [
        ("refresh", [{"sku": "A", "quantity": 7}, {"sku": "B", "quantity": 1}])
    ]


def test_a_movement_that_would_make_a_count_negative_follows_the_counts():
    batcher = _batcher()
    _add(batcher, "refresh", "L", "A", 2)
    [counts] = _add(batcher, "adjust", "L", "A", -5)
    [moves] = batcher.drain()
    assert (counts.operation, _items(counts)) == ("refresh", [{"sku": "A", "quantity": 2}])
    assert (moves.operation, _items(moves)) == ("adjust", [{"sku": "A", "quantity": -5}])


def test_alternating_counts_and_movements_make_one_request_of_each():
    batcher = _batcher()
    requests = []
    for i in range(1000):
        requests += _add(batcher, "refresh", "L", f"C{i}", i, stream="counts")
        requests += _add(batcher, "adjust", "L", f"M{i}", 1, stream="moves")
    requests += batcher.drain()
    assert sorted((r.operation, r.count) for r in requests) == [
        ("adjust", 1000),
        ("refresh", 1000),
    ]


def test_a_full_request_holds_distinct_items_exactly():
    batcher = _batcher({"refresh": 3, "adjust": 2}, {"refresh": 3, "adjust": 2})
    assert not _add(batcher, "refresh", "L", "A", 1)
    assert not _add(batcher, "refresh", "L", "A", 2)  # a repeat is no new item
    assert not _add(batcher, "refresh", "L", "B", 3)
    [request] = _add(batcher, "refresh", "L", "C", 4, stream="t")
    assert (request.count, request.stream_label) == (3, "s, t")
    assert [i["quantity"] for i in _items(request)] == [2, 3, 4]
    assert list(batcher.drain()) == []


records = st.lists(
    st.tuples(
        st.sampled_from(["refresh", "adjust"]),
        st.sampled_from("LM"),
        st.sampled_from("ABCDEFGH"),
        st.integers(-5, 9),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(
    records=records,
    refresh=st.integers(1, 6),
    adjust=st.integers(1, 4),
    cap=st.one_of(st.just(NO_CAP), st.integers(1, 20)),
    drain_every=st.one_of(st.just(0), st.integers(1, 50)),
    initial=st.integers(0, 20),
)
def test_requests_applied_in_order_give_the_stock_of_records_applied_one_by_one(
    records, refresh, adjust, cap, drain_every, initial
):
    bounds = {"refresh": (0, 30), "adjust": (-40, 40)}
    batcher = _batcher({"refresh": refresh, "adjust": adjust}, {"refresh": 3, "adjust": 2}, cap)
    batcher.bounds = bounds
    expected: dict = defaultdict(lambda: initial)
    sent: list[Request] = []
    for n, (operation, location, sku, quantity) in enumerate(records, 1):
        key = (location, sku)
        if operation == "refresh":
            quantity = abs(quantity)
            expected[key] = quantity
        else:
            expected[key] += quantity
        sent += _add(batcher, operation, location, sku, quantity)
        if drain_every and n % drain_every == 0:
            sent += batcher.drain()
    sent += batcher.drain()

    stock: dict = defaultdict(lambda: initial)
    _apply(stock, sent)
    assert {k: stock[k] for k in expected} == dict(expected)
    for request in sent:
        skus = [item["sku"] for item in _items(request)]
        assert 1 <= request.count == len(skus) == len(set(skus))  # distinct items, none empty
        assert request.count <= batcher.full_sizes[request.operation]
        low, high = bounds[request.operation]
        assert all(low <= item["quantity"] <= high for item in _items(request))
    assert batcher.buffered_items == 0
    assert len(records) == sum(r.count for r in sent) + batcher.collapsed


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.sampled_from(["refresh", "adjust"]), st.integers(0, 40)), max_size=400
    ),
    refresh=st.integers(1, 9),
    adjust=st.integers(1, 5),
)
def test_only_the_last_request_of_an_operation_at_a_drain_is_not_full(records, refresh, adjust):
    """So requests are ⌈counted items / full refresh⌉ + ⌈moved items / full adjust⌉."""
    batcher = _batcher({"refresh": refresh, "adjust": adjust}, {"refresh": 3, "adjust": 2})
    sent = []
    for operation, n in records:
        sent += _add(batcher, operation, "L", f"S{n}", 1)
    sent += batcher.drain()
    for operation, full in (("refresh", refresh), ("adjust", adjust)):
        sizes = [r.count for r in sent if r.operation == operation]
        assert all(size == full for size in sizes[:-1]), sizes


def test_each_movement_position_is_carried_by_the_request_that_holds_its_effect():
    batcher = _batcher()
    item = json.dumps({"sku": "A", "quantity": 1}).encode()
    batcher.add("adjust", "L", b"A", item, 1, "s", move=0)
    batcher.add("refresh", "L", b"B", item.replace(b'"A"', b'"B"'), 4, "s")
    batcher.add("adjust", "L", b"B", item.replace(b'"A"', b'"B"'), 1, "s", move=1)
    batcher.add("adjust", "L", b"A", item, 1, "s", move=2)
    requests = {r.operation: r for r in batcher.drain()}
    assert requests["refresh"].moves == [1]
    assert requests["adjust"].moves == [0, 2]


def test_the_cap_releases_the_largest_buffers_in_whole_steps():
    batcher = _batcher({"refresh": 12, "adjust": 4}, {"refresh": 3, "adjust": 4}, cap=20)
    sent = []
    for n in range(8):
        sent += _add(batcher, "refresh", "Big", f"B{n}", n)
    for n in range(7):
        sent += _add(batcher, "refresh", "Mid", f"M{n}", n)
    for n in range(4):
        sent += _add(batcher, "refresh", "Small", f"S{n}", n)
    assert sent == []
    sent = _add(batcher, "refresh", "Small", "S4", 4)  # 20 buffered: the cap
    assert [(r.location, r.count) for r in sent] == [("Big", 6)]
    assert batcher.buffered_items == 14
    drained = {r.location: r.count for r in batcher.drain()}
    assert drained == {"Big": 2, "Mid": 7, "Small": 5}


def test_the_cap_releases_whole_buffers_when_none_holds_a_step():
    batcher = _batcher({"refresh": 12, "adjust": 4}, {"refresh": 3, "adjust": 4}, cap=4)
    sent = []
    for n, location in enumerate("ABAC"):
        sent += _add(batcher, "refresh", location, f"S{n}", 1)
    assert [(r.location, r.count) for r in sent] == [("A", 2)]
    assert batcher.buffered_items == 2


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.sampled_from("ABCD"), st.integers(0, 30), st.integers(0, 30)), max_size=300
    ),
    refresh=st.integers(1, 40),
    cap=st.integers(1, 60),
    drain_every=st.one_of(st.just(0), st.integers(1, 80)),
)
def test_with_a_spill_counts_give_the_stock_and_the_requests_of_no_cap(
    records, refresh, cap, drain_every
):
    """Counts set aside on disk at the cap come back before their location's counts go out:
    the stock of the records applied one by one, and no more requests than with no cap at all."""
    spill = Spill()
    capped = Batcher(
        {"refresh": refresh}, {"refresh": 3}, cap, merge=merge_json, bounds=BOUNDS, spill=spill
    )
    uncapped = _batcher({"refresh": refresh, "adjust": 1}, {"refresh": 3, "adjust": 1})
    expected: dict = {}
    sent: list[Request] = []
    optimum = 0
    try:
        for n, (location, sku, quantity) in enumerate(records, 1):
            expected[location, f"S{sku}"] = quantity
            sent += _add(capped, "refresh", location, f"S{sku}", quantity)
            optimum += len(_add(uncapped, "refresh", location, f"S{sku}", quantity))
            if drain_every and n % drain_every == 0:
                sent += capped.drain()
                optimum += len(list(uncapped.drain()))
        sent += capped.drain()
        optimum += len(list(uncapped.drain()))
    finally:
        spill.close()
    stock: defaultdict = defaultdict(int)
    _apply(stock, sent)
    assert dict(stock) == expected
    assert len(sent) <= optimum  # never more (a repeat may even wait on disk for its count)
    for request in sent:
        skus = [item["sku"] for item in _items(request)]
        assert 1 <= request.count == len(skus) == len(set(skus)) <= refresh
    assert capped.buffered_items == 0
    assert len(records) == sum(r.count for r in sent) + capped.collapsed


def test_a_count_set_aside_gives_way_to_a_later_count_of_its_item():
    spill = Spill()
    batcher = Batcher(
        {"refresh": 10}, {"refresh": 3}, 3, merge=merge_json, bounds=BOUNDS, spill=spill
    )
    try:
        for sku, quantity in [("A", 1), ("B", 2), ("C", 3)]:  # at the cap: A, B, C to disk
            assert not _add(batcher, "refresh", "L", sku, quantity)
        assert batcher.buffered_items == 0
        _add(batcher, "refresh", "L", "A", 7)  # later than the A on disk
        [request] = batcher.drain()
    finally:
        spill.close()
    assert sorted((i["sku"], i["quantity"]) for i in _items(request)) == [
        ("A", 7),
        ("B", 2),
        ("C", 3),
    ]
    assert batcher.collapsed == 1
