"""End to end: the real CLI over real HTTP into the emulator; request sizes, order and stock."""

from __future__ import annotations

import math
import random
from collections import defaultdict

from tests.harness import record, run_in_process, run_target, schema, state


def _stock_records(stream: str, counts: dict[str, int], seed: int) -> list[dict]:
    """`counts[location]` records per location, interleaved at random."""
    rows = [(loc, i) for loc, n in counts.items() for i in range(n)]
    random.Random(seed).shuffle(rows)
    return [
        record(stream, sku=f"SKU-{i:06d}", location_name=loc, quantity=(i * 7) % 500)
        for loc, i in rows
    ]


def _sizes_by_location(requests: list[dict]) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = defaultdict(list)
    for r in requests:
        sizes[r["locationName"]].append(r["items"])
    return dict(sizes)


def test_21000_and_5000_items_make_three_requests(emulator, tmp_path):
    messages = [
        schema("stock"),
        *_stock_records("stock", {"Location 1": 21000, "Location 2": 5000}, 1),
    ]
    run = run_target(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr

    requests = emulator.api_requests()
    assert _sizes_by_location(requests) == {"Location 1": [12000, 9000], "Location 2": [5000]}
    for r in requests:
        assert r["path"] == "/inv/api/v5/inventory/refresh/"
        assert r["status"] == 200
        assert r["tenant"] == emulator.tenant
        assert r["auth"] == "token"  # OAuth 2.0, the default
        assert r["contentType"] == "application/json"
    expected = {
        (m["record"]["location_name"], m["record"]["sku"]): m["record"]["quantity"]
        for m in messages[1:]
    }
    assert emulator.stock() == expected
    assert [j["status"] for j in emulator.jobs()] == ["SUCCESS"] * 3


def test_random_interleavings_give_ceil_n_over_12000_requests_per_location(emulator, tmp_path):
    counts = {"Store A": 30000, "Store B": 12000, "Store C": 1, "Store D": 24001, "Store E": 2999}
    messages = [schema("stock"), *_stock_records("stock", counts, 7)]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr

    sizes = _sizes_by_location(emulator.api_requests())
    for location, n in counts.items():
        full, rest = divmod(n, 12000)
        assert len(sizes[location]) == math.ceil(n / 12000)
        assert sizes[location] == [12000] * full + ([rest] if rest else [])
    assert len(emulator.stock()) == sum(counts.values())


def test_later_counts_never_overtake_earlier_ones(emulator, tmp_path):
    """The same item counted many times at one location is sent once, with its last count."""
    rng = random.Random(3)
    counts = [rng.randrange(1000) for _ in range(30000)]
    messages = [schema("stock")]
    messages += [
        record("stock", sku=f"SKU-{i % 10}", location_name="Depot", quantity=q)
        for i, q in enumerate(counts)
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr

    assert [r["items"] for r in emulator.api_requests()] == [10]  # 30,000 records, 10 items
    last = {f"SKU-{i % 10}": q for i, q in enumerate(counts)}
    assert emulator.stock() == {("Depot", sku): q for sku, q in last.items()}


def test_adjust_with_negative_deltas_on_inventory_v5(emulator, tmp_path):
    config = emulator.config(api_package="inventory_v5")
    start = [
        schema("stock"),
        *(record("stock", sku=f"P{i}", location_name="L1", quantity=100) for i in range(5)),
    ]
    assert run_in_process(config, start, tmp_path).returncode == 0

    deltas = [(f"P{i % 5}", (-1) ** i * (i % 7)) for i in range(2500)]
    moves = [
        schema("moves"),
        *(record("moves", sku=s, location_name="L1", quantity=d) for s, d in deltas),
    ]
    run = run_in_process({**config, "operation": "adjust"}, moves, tmp_path)
    assert run.returncode == 0, run.stderr

    adjusts = [r for r in emulator.api_requests() if r["operation"] == "adjust"]
    expected = defaultdict(lambda: 100)
    for sku, delta in deltas:
        expected[sku] += delta
    moved = [sku for sku in expected if expected[sku] != 100]  # a net 0 is not sent
    assert [r["items"] for r in adjusts] == [len(moved)]  # 2,500 deltas of 5 items: 1 request
    assert {r["path"] for r in adjusts} == {"/api/v5/inventory/adjust"}
    assert emulator.stock() == {("L1", sku): q for sku, q in expected.items()}


def test_stream_operations_and_switching_operation_keep_order(emulator, tmp_path):
    """Counts and movements of one item fold in the order of the records: one request."""
    config = emulator.config(stream_operations={"counts": "refresh", "moves": "adjust"})
    messages = [
        schema("counts"),
        schema("moves"),
        record("counts", sku="A", location_name="L", quantity=10),
        record("moves", sku="A", location_name="L", quantity=-3),
        record("counts", sku="A", location_name="L", quantity=50),
        record("moves", sku="A", location_name="L", quantity=2),
        state({"bookmarks": {"counts": 1}}),
    ]
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert emulator.stock() == {("L", "A"): 52}
    assert [(r["operation"], r["items"]) for r in emulator.api_requests()] == [("refresh", 1)]
    [job] = run.states[-1]["kibo_inventory"]["jobs"]
    assert (job["stream"], job["operation"]) == ("counts, moves", "refresh")


def test_numeric_string_quantities_are_sent_as_integers(emulator, tmp_path):
    properties = {
        "sku": {"type": "string"},
        "location_name": {"type": "string"},
        "quantity": {"type": ["number", "string"]},
    }
    messages = [
        schema("stock", properties),
        record("stock", sku="A", location_name="L", quantity="101"),
        record("stock", sku="B", location_name="L", quantity="101.0"),
        record("stock", sku="C", location_name="L", quantity=" 7 "),
        record("stock", sku="D", location_name="L", quantity=3.0),
    ]
    run = run_in_process(emulator.config(), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    job = emulator.job(emulator.api_requests()[0]["jobID"], items=True)
    assert [item["quantity"] for item in job["items"]] == [101, 101, 7, 3]
    assert emulator.stock() == {("L", "A"): 101, ("L", "B"): 101, ("L", "C"): 7, ("L", "D"): 3}


def test_field_map_optional_fields_and_default_location(emulator, tmp_path):
    properties = {
        "item_no": {"type": "integer"},
        "on_hand": {"type": "integer"},
        "bin": {"type": "integer"},
        "price": {"type": "number"},
        "aisle": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "upc": {"type": ["null", "string"]},
        "safety_stock": {"type": "integer"},
    }
    config = emulator.config(
        location_name="Main Warehouse",
        field_map={
            "partNumber": "item_no",
            "quantity": "on_hand",
            "binID": "bin",
            "retailPrice": "price",
            "inventoryLocatorName": "aisle",
            "attributes": "tags",
        },
    )
    messages = [
        schema("items", properties),
        record(
            "items",
            item_no=101010,
            on_hand=5,
            bin=2,
            price=9.5,
            aisle="Aisle 5",
            tags=["T1", "T2"],
            upc=None,
            safety_stock=1,
        ),
    ]
    run = run_in_process(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    job = emulator.job(emulator.api_requests()[0]["jobID"], items=True)
    assert job["locationCode"] == "Main Warehouse"
    assert job["items"] == [
        {
            "partNumber": "101010",
            "quantity": 5,
            "binID": 2,
            "safetyStock": 1,
            "retailPrice": 9.5,
            "inventoryLocatorName": "Aisle 5",
            "attributes": ["T1", "T2"],
        }
    ]


def test_counts_and_movements_alternating_record_by_record_make_two_requests(emulator, tmp_path):
    """A tap whose counts and movements streams alternate at one location: 2,000 records,
    1,000 counted and 1,000 moved items, go out as one refresh and one adjust."""
    config = emulator.config(stream_operations={"counts": "refresh", "moves": "adjust"})
    start = [schema("counts"), record("counts", sku="M0", location_name="L", quantity=50)]
    assert run_in_process(config, start, tmp_path).returncode == 0  # stock to move from
    messages = [schema("counts"), schema("moves")]
    for i in range(1000):
        messages.append(record("counts", sku=f"C{i}", location_name="L", quantity=i))
        messages.append(record("moves", sku=f"M{i}", location_name="L", quantity=-1))
    run = run_in_process(config, [*messages, state({"bookmarks": {"counts": 1}})], tmp_path)
    assert run.returncode == 0, run.stderr

    later = emulator.api_requests()[1:]
    assert sorted((r["operation"], r["items"]) for r in later) == [
        ("adjust", 1000),
        ("refresh", 1000),
    ]
    expected = {("L", f"C{i}"): i for i in range(1000)}
    expected |= {("L", f"M{i}"): -1 for i in range(1, 1000)} | {("L", "M0"): 49}
    assert emulator.stock() == expected
    assert "2,000 records, 2,000 distinct items (0 collapsed)" in run.stderr
    assert "2 requests sent (optimum 2)" in run.stderr


def test_at_the_memory_cap_counts_wait_on_disk_and_requests_stay_at_the_optimum(emulator, tmp_path):
    """60 locations of 50 SKUs each, repeated with new counts, under a cap of 500 distinct
    items: the counts beyond the cap wait in a temporary folder (removed at the end), and each
    location gets one request with the last count of each SKU."""
    counts = {f"Store {n:02d}": 50 for n in range(60)}
    first = _stock_records("stock", counts, 3)
    again = [
        record("stock", **{**m["record"], "quantity": m["record"]["quantity"] + 1})
        for m in _stock_records("stock", counts, 4)
    ]
    spill_parent = tmp_path / "tmp"
    spill_parent.mkdir()
    run = run_target(
        {**emulator.config(), "max_buffered_items": 500},
        [schema("stock"), *first, *again],
        tmp_path,
        env={"TMPDIR": str(spill_parent)},
    )
    assert run.returncode == 0, run.stderr
    assert _sizes_by_location(emulator.api_requests()) == {loc: [50] for loc in counts}
    expected = {
        (m["record"]["location_name"], m["record"]["sku"]): m["record"]["quantity"] for m in again
    }
    assert emulator.stock() == expected
    assert list(spill_parent.iterdir()) == []  # the folder of counts set aside is gone
    [line] = [line for line in run.stderr.splitlines() if "max_buffered_items (500)" in line]
    assert f"counts wait in {spill_parent}/kibo-inventory-spill-" in line


def test_counts_waiting_on_disk_are_removed_when_the_run_fails(emulator, tmp_path):
    counts = {f"Store {n:02d}": 50 for n in range(20)}
    bad = record("stock", sku="SKU-X", location_name="Store 00", quantity="many")
    spill_parent = tmp_path / "tmp"
    spill_parent.mkdir()
    run = run_target(
        {**emulator.config(), "max_buffered_items": 100},
        [schema("stock"), *_stock_records("stock", counts, 5), bad],
        tmp_path,
        env={"TMPDIR": str(spill_parent)},
    )
    assert run.returncode == 1
    assert "'quantity'" in run.stderr
    assert "max_buffered_items (100) reached" in run.stderr
    assert list(spill_parent.iterdir()) == []
