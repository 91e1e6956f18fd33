"""The whole pipeline in process, records in → requests out, with any destination.

A third, made-up API ("Stockroom": `PATCH /locations/{code}/stock` with `{"lines": [...]}`,
answered item by item) is written here in a few lines against `destinations.base`: mapping,
validation, per-location batching, dispatch, dead letters and state come for free.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import requests

from target_kibo_inventory import rules
from target_kibo_inventory.auth import BearerAuth
from target_kibo_inventory.destinations.base import (
    Answer,
    FailedItem,
    FieldRule,
    HttpRequest,
    ItemRules,
    Words,
    merge_json,
)
from target_kibo_inventory.destinations.kibo.translated import KiboTranslated
from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import lines, record, schema, state

STOCKROOM_ITEMS = ItemRules(
    fields=(
        FieldRule("article", rules.to_text, fallbacks=("sku",)),
        FieldRule("quantity", rules.Integers(0, 2**31 - 1, "").at_least(0)),
    ),
    identifiers=("article",),
    location=FieldRule("store", rules.location, fallbacks=("locationName",)),
)


class Stockroom:
    """A made-up API: absolute counts, 3 lines a request, refuses articles starting with X."""

    name = "stockroom"
    operations = ("refresh",)
    location_key = "store"
    words = Words("Stockroom", items="lines", cost_steps=False, jobs=False)
    job_queue = None  # answered item by item

    def items(self, operation: str) -> ItemRules:
        return STOCKROOM_ITEMS

    def full_size(self, operation: str) -> int:
        return 3

    def cost_step(self, operation: str) -> int:
        return 3

    identity_fields = ("article",)
    merge = staticmethod(merge_json)

    def quantity_bounds(self, operation: str) -> tuple[int, int]:
        return (0, 2**31 - 1)

    def request(self, operation: str, location: str, items: Sequence[bytes]) -> HttpRequest:
        body = b"".join((b'{"lines":[', *items, b"]}"))
        return HttpRequest("PATCH", f"https://stockroom.test/locations/{location}/stock", body)

    def headers(self) -> dict[str, str]:
        return {}

    def auth(self) -> requests.auth.AuthBase:
        return BearerAuth("token")

    def read_answer(self, operation: str, content: bytes, items: Sequence[bytes]) -> Answer:
        refused = set(json.loads(content)["refused"])
        sent = json.loads(b"".join((b"[", *items, b"]")))
        failed = [FailedItem(i["article"], i, "refused") for i in sent if i["article"] in refused]
        return Answer(failed=failed, succeeded=len(sent) - len(failed))

    def error_message(self, response: requests.Response) -> str:
        return response.text

    def refused_message(self, status: int, what: str, server_says: str) -> str:
        return f"Stockroom refused the token ({status})"

    def run_warnings(self) -> list[str]:
        return []


class Recorder:
    """A client that records each request and answers it with `answer(request)`."""

    def __init__(self, answer: Callable[[HttpRequest], bytes]) -> None:
        self.answer = answer
        self.sent: list[HttpRequest] = []
        self._lock = threading.Lock()

    def send(self, request: HttpRequest, what: str, **_: Any) -> bytes:
        with self._lock:
            self.sent.append(request)
        return self.answer(request)

    def close(self) -> None:
        pass


def _run(config: dict, messages: list[dict], destination=None, answer=None):
    """Run the target in process; return the recorder and the STATE values written."""
    recorder = Recorder(answer or (lambda request: b'{"jobID": 1}'))
    target = TargetKiboInventory(config=config, destination=destination, client=recorder)
    target.listen(io.StringIO(lines(messages)))
    return recorder


def _stock(n: int, store: str, prefix: str = "A") -> list[dict]:
    return [record("s", sku=f"{prefix}{i}", location_name=store, quantity=i) for i in range(n)]


def test_a_third_destination_gets_mapped_batched_requests(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    interleaved = [
        r for pair in zip(_stock(4, "north"), _stock(4, "south"), strict=True) for r in pair
    ]
    answer = lambda request: json.dumps({"refused": ["X1"]}).encode()  # noqa: E731
    messages = [schema("s"), *interleaved, record("s", sku="X1", location_name="north", quantity=2)]
    recorder = _run(
        {"on_invalid_record": "dead_letter"}, [*messages, state({"b": 1})], Stockroom(), answer
    )
    sent = [
        (r.method, r.url, [line["article"] for line in json.loads(r.body)["lines"]])
        for r in recorder.sent
    ]
    north = [s for s in sent if "north" in s[1]]
    south = [s for s in sent if "south" in s[1]]
    assert north == [
        ("PATCH", "https://stockroom.test/locations/north/stock", ["A0", "A1", "A2"]),
        ("PATCH", "https://stockroom.test/locations/north/stock", ["A3", "X1"]),
    ]
    assert [s[2] for s in south] == [["A0", "A1", "A2"], ["A3"]]
    [final] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    requests_state = final["kibo_inventory"]["requests"]
    assert sorted((r["store"], r["items"], r["failed"]) for r in requests_state) == [
        ("north", 2, 1),
        ("north", 3, 0),
        ("south", 1, 0),
        ("south", 3, 0),
    ]
    [dead] = [
        json.loads(line)
        for line in (tmp_path / "kibo-inventory-dead-letter.jsonl").read_text().splitlines()
    ]
    assert (dead["destination"], dead["location"], dead["item"]) == (
        "stockroom",
        "north",
        {"article": "X1", "quantity": 2},
    )


def test_kibo_in_process_sends_full_requests_per_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"tenant_id": "t", "api_key": "k", "api_secret": "s", "refresh_batch_items": 3000}
    messages = [schema("s"), *_stock(7000, "L1"), *_stock(100, "L2")]
    recorder = _run(config, messages)
    assert isinstance(TargetKiboInventory(config=config).destination, KiboTranslated)
    sizes = sorted(
        (json.loads(r.body)["locationName"], len(json.loads(r.body)["items"]))
        for r in recorder.sent
    )
    assert sizes == [("L1", 1000), ("L1", 3000), ("L1", 3000), ("L2", 100)]
    assert {r.url for r in recorder.sent} == {
        "https://t-translation.sandbox.mozu.com/inv/api/v5/inventory/refresh/"
    }


def _kibo_stock(requests: list[HttpRequest]) -> dict[str, int]:
    """Kibo's stock after these requests, applied in order (refresh sets, adjust adds)."""
    stock: dict[str, int] = {}
    for request in requests:
        for item in json.loads(request.body)["items"]:
            before = 0 if "refresh" in request.url else stock.get(item["sku"], 0)
            stock[item["sku"]] = before + item["quantity"]
    return stock


def test_a_movement_applied_before_applies_again_after_its_count_is_sent_again(
    tmp_path, monkeypatch
):
    """Resumed, the tap sends a count again (absolute: it resets the stock) and then a
    movement that the interrupted run applied: the movement must apply again on top."""
    monkeypatch.chdir(tmp_path)
    config = {
        "tenant_id": "t",
        "api_key": "k",
        "api_secret": "secret-0123456789",
        "refresh_batch_items": 1,  # the count goes out alone, before the movement comes
        "stream_operations": {"counts": "refresh", "moves": "adjust"},
    }
    messages = [
        state({"bookmarks": {"moves": 0}}),
        schema("counts"),
        schema("moves"),
        record("counts", sku="X", location_name="L", quantity=10),
        record("moves", sku="X", location_name="L", quantity=2),
    ]  # and then the tap fails: no STATE after them
    interrupted = _run(config, messages)
    assert _kibo_stock(interrupted.sent) == {"X": 12}
    resumed = _run(config, messages)  # from the same state: the same records again
    assert _kibo_stock(interrupted.sent + resumed.sent) == {"X": 12}
