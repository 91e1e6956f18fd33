"""The compiled record path gives the same answers as the general path, on random input.

Random schemas and records (valid, invalid, of the wrong type, with undeclared properties)
run in process twice: with each stream's compiled record path, and with the general path
only. The requests sent, the dead letters (positions and reasons) and the errors must be the
same, whatever took each record.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_kibo_inventory.target import TargetKiboInventory
from tests.harness import lines, record, schema

CONFIG = {
    "tenant_id": "t",
    "api_key": "k",
    "api_secret": "secret-0123456789",
    "refresh_batch_items": 3000,
    "on_invalid_record": "dead_letter",
    "max_invalid_records": 1000,
    "location_name": "Default Store",
}


class GeneralPathOnly(TargetKiboInventory):
    """The target with no compiled record path: every record takes the general path."""

    def _compile(self, stream: str) -> Any:
        return None


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self._lock = threading.Lock()

    def send(self, request: Any, what: str, **_: Any) -> bytes:
        with self._lock:
            self.bodies.append(json.loads(request.body))
        return b'{"jobID": 1}'

    def close(self) -> None:
        pass


def _outcome(target_class: type[TargetKiboInventory], config: dict, text: str, folder: Path):
    """What a run did: its requests, its dead letters, and the error that ended it."""
    folder.mkdir()
    config = {**config, "dead_letter_path": str(folder / "dead.jsonl")}
    recorder = Recorder()
    error = None
    try:
        target_class(config=config, client=recorder).listen(io.StringIO(text))
    except Exception as failure:  # the same error (and message) is expected of both paths
        error = f"{type(failure).__name__}: {failure}".replace(str(folder), "<folder>")
    dead_path = folder / "dead.jsonl"
    dead = [
        {k: v for k, v in json.loads(line).items() if k != "set_aside_at"}
        for line in (dead_path.read_text().splitlines() if dead_path.exists() else [])
    ]
    requests = sorted(json.dumps(body, sort_keys=True) for body in recorder.bodies)
    return requests, dead, error


leaf = st.sampled_from(["string", "integer", "number", "null", "boolean"])
TYPES = {
    "sku": st.sampled_from(["string", ["string", "null"], "integer", ["integer", "string"]]),
    "upc": st.sampled_from(["string", ["string", "null"]]),
    "location_name": st.sampled_from(["string", ["string", "null"]]),
    "quantity": st.sampled_from(
        ["integer", ["integer", "string"], "number", ["number", "null"], "string"]
    ),
}
"""Property types as taps write them (the others: any type or list of types)."""


@st.composite
def property_schema(draw, name: str) -> dict:
    kind = draw(
        TYPES.get(name, st.one_of(leaf, st.lists(leaf, min_size=1, max_size=3, unique=True)))
    )
    schema: dict = {"type": kind}
    kinds = {kind} if isinstance(kind, str) else set(kind)
    if kinds & {"integer", "number"} and draw(st.booleans()):
        schema[draw(st.sampled_from(["minimum", "maximum"]))] = draw(st.integers(-3, 50))
    if "string" in kinds and draw(st.integers(0, 3)) == 0:
        schema["maxLength"] = draw(st.integers(1, 6))
    if draw(st.integers(0, 20)) == 0:
        schema["multipleOf"] = 2  # not a Struct: the stream takes the general path
    return schema


@st.composite
def stream_schema(draw) -> dict:
    extra = draw(
        st.lists(st.sampled_from(["upc", "location_name", "bin_id", "ltd", "note"]), unique=True)
    )
    names = ["sku", "quantity", *extra]
    return {name: draw(property_schema(name)) for name in names}


value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 3_000_000_000),
    st.sampled_from([1.0, 2.5, -0.5, 12.0, 1e10, 0.1]),
    st.sampled_from(["", " ", "A", "B-1", "12", "1,200", "0007", "x\u2028y", "Store 1"]),
)
FITTING = {
    "string": st.sampled_from(
        ["A", "B-1", "12", "0007", "Store 1", "", " ", "a\tb", "x\u2028y", "1,200"]
    ),
    "integer": st.one_of(st.integers(-3, 3), st.integers(0, 60), st.just(3_000_000_000)),
    "number": st.one_of(st.integers(-3, 60), st.sampled_from([2.5, 12.0, -0.5, 1e10])),
    "null": st.none(),
    "boolean": st.booleans(),
}


@st.composite
def records_of(draw, properties: dict) -> list[dict]:
    """Records that mostly fit the schema; some miss a property, hold another type or more."""
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        row = {}
        for name, prop in properties.items():
            kinds = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
            roll = draw(st.integers(0, 9))
            if roll == 0:
                continue  # missing
            row[name] = draw(value if roll == 1 else FITTING[draw(st.sampled_from(kinds))])
        if draw(st.integers(0, 3)) == 0:  # the general path takes it: a mix of both paths
            row["extra"] = "undeclared"
        rows.append(row)
    return rows


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(),
    operations=st.lists(st.sampled_from(["refresh", "adjust"]), min_size=1, max_size=2),
)
def test_the_compiled_path_answers_as_the_general_path(tmp_path_factory, data, operations):
    """One stream, or two interleaved (of one schema or two; one operation or both)."""
    names = ["s", "t"][: len(operations)]
    messages: list[dict] = []
    records: dict[str, list[dict]] = {}
    properties: dict = {}
    for name in names:
        if not properties or data.draw(st.booleans()):  # else one schema: a line of one
            properties = data.draw(stream_schema())  # stream decodes as the other's
        messages.append(schema(name, properties))
        records[name] = [record(name, **row) for row in data.draw(records_of(properties))]
    order = data.draw(st.permutations([name for name in names for _ in records[name]]))
    left = {name: iter(records[name]) for name in names}
    messages += [next(left[name]) for name in order]
    text = lines(messages)
    config = {**CONFIG, "stream_operations": dict(zip(names, operations, strict=True))}
    work = tmp_path_factory.mktemp("run")
    compiled = _outcome(TargetKiboInventory, config, text, work / "compiled")
    general = _outcome(GeneralPathOnly, config, text, work / "general")
    assert compiled == general


def test_a_typical_stream_takes_the_compiled_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    properties = {
        "sku": {"type": "string"},
        "location_name": {"type": ["string", "null"]},
        "quantity": {"type": ["integer", "string"]},
    }
    text = lines(
        [
            schema("s", properties),
            *(record("s", sku=f"A{i}", location_name="L", quantity=str(i)) for i in range(50)),
        ]
    )
    taken = []

    class Counting(TargetKiboInventory):
        def _compile(self, stream: str) -> Any:
            compiled = super()._compile(stream)
            assert compiled is not None
            return dataclasses.replace(
                compiled,
                take=lambda record: taken.append(1) or compiled.take(record),
                take_raw=lambda raw: taken.append(1) or compiled.take_raw(raw),
            )

    recorder = Recorder()
    Counting(config=CONFIG, client=recorder).listen(io.StringIO(text))
    assert len(taken) == 50
    [body] = recorder.bodies
    assert body["items"][:2] == [{"sku": "A0", "quantity": 0}, {"sku": "A1", "quantity": 1}]


@pytest.mark.parametrize(
    "prop",
    [{"anyOf": [{"type": "string"}]}, {"type": "integer", "multipleOf": 2}, {"$ref": "#/a"}],
)
def test_a_schema_a_struct_cannot_express_takes_the_general_path(tmp_path, monkeypatch, prop):
    monkeypatch.chdir(tmp_path)
    properties = {"sku": {"type": "string"}, "quantity": {"type": "integer"}, "other": prop}
    target = TargetKiboInventory(config=CONFIG, client=Recorder())
    target.listen(io.StringIO(lines([schema("s", properties)])))
    assert target._compile("s") is None


def test_an_item_collapses_whichever_path_took_its_records(tmp_path):
    """The compiled path keys an item as the general path does: its counts make one item."""
    properties = {"sku": {"type": "string"}, "quantity": {"type": "integer"}}
    rows = [
        {"sku": "A", "quantity": 1},  # compiled
        {"sku": "A", "quantity": 2, "extra": "undeclared"},  # general (the Struct refuses it)
        {"sku": "B", "quantity": 3, "extra": "undeclared"},  # general
        {"sku": "B", "quantity": 4},  # compiled
    ]
    text = lines([schema("s", properties), *(record("s", **row) for row in rows)])
    requests, dead, error = _outcome(TargetKiboInventory, CONFIG, text, tmp_path / "run")
    assert (dead, error) == ([], None)
    [body] = [json.loads(request) for request in requests]
    assert body["items"] == [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 4}]
